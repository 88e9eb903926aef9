/*
 * tg_transpose_conv_s8: int8 2-D transposed convolution, gathered per output pixel (see the header).
 */
#include "tg_transpose_conv_s8.h"

#include "tg_common.h"
#include "tg_conv_dsp_s8.h"
#include "tg_requant_fast.h"

/* acc + sum_i (x[i] + offset) * w[i] over n values */
TG_INLINE int32_t tg_tconv_dot(const int8_t *x, const int8_t *w, int32_t n, int32_t offset, int32_t acc)
{
    int32_t i = 0;
#if TG_DSP
    const uint32_t offset2 = ((uint32_t)offset & 0xffffu) * 0x00010001u; /* the offset in both int16 lanes */
    for (; i + 4 <= n; i += 4)
    {
        const uint32_t xv = tg_load32(x + i);
        const uint32_t wv = tg_load32(w + i);
        acc = tg_smlad(tg_sxtab16(offset2, xv), tg_sxtb16(wv), acc);           /* x0*w0 + x2*w2 */
        acc = tg_smlad(tg_sxtab16_ror8(offset2, xv), tg_sxtb16_ror8(wv), acc); /* x1*w1 + x3*w3 */
    }
#endif
    for (; i < n; ++i)
    {
        acc += ((int32_t)x[i] + offset) * (int32_t)w[i];
    }
    return acc;
}

/* input indices i (0..in_size-1) with tap t = pos - i * stride in 0..k-1: [*lo, *hi] (empty when *lo > *hi) */
TG_INLINE void tg_tconv_range(int32_t pos, int32_t k, int32_t stride, int32_t in_size, int32_t *lo, int32_t *hi)
{
    const int32_t first = pos - k + 1; /* i * stride >= first */
    const int32_t top = pos / stride;  /* pos >= 0 */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = top < in_size - 1 ? top : in_size - 1;
}

void tg_transpose_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          const int8_t *filter, int32_t k_h, int32_t k_w, const int32_t *params, int32_t mode,
                          int8_t *output, int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h,
                          int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max)
{
    const int32_t channel_size = k_h * k_w * in_c; /* filter bytes per output channel */
    for (int32_t b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy)
        {
            const int32_t ty = oy + pad_top;
            int32_t iy_lo, iy_hi;
            tg_tconv_range(ty, k_h, stride_h, in_h, &iy_lo, &iy_hi);
            for (int32_t ox = 0; ox < out_w; ++ox)
            {
                const int32_t tx = ox + pad_left;
                int32_t ix_lo, ix_hi;
                tg_tconv_range(tx, k_w, stride_w, in_w, &ix_lo, &ix_hi);
                const int8_t *w_c = filter;
                const int32_t *p = params;
                for (int32_t c = 0; c < out_c; ++c)
                {
                    int32_t acc = p[0];
                    for (int32_t iy = iy_lo; iy <= iy_hi; ++iy)
                    {
                        const int8_t *x_row = image + iy * in_w * in_c;
                        const int8_t *w_row = w_c + (ty - iy * stride_h) * k_w * in_c;
                        for (int32_t ix = ix_lo; ix <= ix_hi; ++ix)
                        {
                            acc = tg_tconv_dot(x_row + ix * in_c, w_row + (tx - ix * stride_w) * in_c, in_c,
                                               input_offset, acc);
                        }
                    }
                    *output++ = tg_rq_any(acc, p + 1, mode, output_offset, act_min, act_max);
                    w_c += channel_size;
                    p += 4;
                }
            }
        }
    }
}
