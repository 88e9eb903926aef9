/*
 * tg_conv_s8: general int8 convolution, im2col into a column pair + tg_conv_gemm_s8 (see tg_conv_s8.h).
 */
#include "tg_conv_s8.h"

#include "tg_conv_gemm_s8.h"

/* im2col of output pixel (oy, ox) into column j of the pair */
static void tg_conv_im2col(const int8_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h, int32_t k_w,
                           int32_t oy, int32_t ox, int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w,
                           int32_t pad_top, int32_t pad_left, int32_t input_zp, int16_t *pair, int32_t j)
{
    const int32_t depth = k_h * k_w * in_c;
    const int32_t span = k_w * in_c;
    const int32_t x0 = ox * stride_w - pad_left;
    const int32_t y0 = oy * stride_h - pad_top;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < k_h; ++ky)
    {
        const int32_t y = y0 + ky * dil_h;
        if (y < 0 || y >= in_h)
        {
            tg_pair_fill(pair, j, depth, k, span, input_zp);
            k += span;
        }
        else if (dil_w == 1)
        {
            /* the taps of one kernel row are one contiguous span of the input row */
            const int32_t left = x0 < 0 ? TG_MIN(-x0, k_w) : 0;
            const int32_t right = TG_MIN(TG_MAX(x0 + k_w - in_w, 0), k_w - left);
            const int32_t inside = k_w - left - right;
            tg_pair_fill(pair, j, depth, k, left * in_c, input_zp);
            k += left * in_c;
            if (inside > 0)
            {
                tg_pair_put(pair, j, depth, k, image + (y * in_w + x0 + left) * in_c, inside * in_c);
                k += inside * in_c;
            }
            tg_pair_fill(pair, j, depth, k, right * in_c, input_zp);
            k += right * in_c;
        }
        else
        {
            for (kx = 0; kx < k_w; ++kx)
            {
                const int32_t x = x0 + kx * dil_w;
                if (x >= 0 && x < in_w)
                {
                    tg_pair_put(pair, j, depth, k, image + (y * in_w + x) * in_c, in_c);
                }
                else
                {
                    tg_pair_fill(pair, j, depth, k, in_c, input_zp);
                }
                k += in_c;
            }
        }
    }
}

/*
 * im2col of output pixel (oy, ox) as `depth` int8 values into stage (natural order), for kernel rows
 * that are not groups of four values: byte copies, then one aligned tg_pair_put.
 */
static void tg_conv_im2col_staged(const int8_t *image, int32_t in_h, int32_t in_w, int32_t in_c, int32_t k_h,
                                  int32_t k_w, int32_t oy, int32_t ox, int32_t stride_h, int32_t stride_w,
                                  int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                                  int8_t *stage)
{
    const int32_t x0 = ox * stride_w - pad_left;
    const int32_t y0 = oy * stride_h - pad_top;
    const int8_t pad = (int8_t)input_zp;
    int8_t *dst = stage;
    int32_t ky, kx, i;
    for (ky = 0; ky < k_h; ++ky)
    {
        const int32_t y = y0 + ky * dil_h;
        for (kx = 0; kx < k_w; ++kx)
        {
            const int32_t x = x0 + kx * dil_w;
            if (y >= 0 && y < in_h && x >= 0 && x < in_w)
            {
                const int8_t *src = image + (y * in_w + x) * in_c;
                for (i = 0; i < in_c; ++i)
                {
                    dst[i] = src[i];
                }
            }
            else
            {
                for (i = 0; i < in_c; ++i)
                {
                    dst[i] = pad;
                }
            }
            dst += in_c;
        }
    }
}

void tg_conv_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c, const int8_t *filter,
                int32_t k_h, int32_t k_w, const int32_t *bias, const int32_t *rq, int32_t mode, int8_t *output,
                int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w, int32_t dil_h,
                int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                int32_t act_min, int32_t act_max, int16_t *scratch)
{
    const int32_t depth = k_h * k_w * in_c;
    const int32_t pixels = out_h * out_w;
    /* kernel rows that are not whole groups of four values go through the int8 staging column */
    const int32_t staged = ((k_w * in_c) & 3) != 0 || (dil_w != 1 && (in_c & 3) != 0);
    int32_t b;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * in_w * in_c;
        int8_t *out = output + b * pixels * out_c;
        int32_t p;
        for (p = 0; p < pixels; p += 2)
        {
            /* a last odd pixel fills both columns */
            const int32_t second = pixels - p >= 2 ? 1 : 0;
            int32_t j;
            for (j = 0; j < 2; ++j)
            {
                const int32_t q = p + j * second;
                const int32_t oy = q / out_w;
                if (staged)
                {
                    int8_t *stage = (int8_t *)(void *)(scratch + 2 * depth);
                    tg_conv_im2col_staged(image, in_h, in_w, in_c, k_h, k_w, oy, q - oy * out_w, stride_h, stride_w,
                                          dil_h, dil_w, pad_top, pad_left, input_zp, stage);
                    tg_pair_put(scratch, j, depth, 0, stage, depth);
                }
                else
                {
                    tg_conv_im2col(image, in_h, in_w, in_c, k_h, k_w, oy, q - oy * out_w, stride_h, stride_w, dil_h,
                                   dil_w, pad_top, pad_left, input_zp, scratch, j);
                }
            }
            tg_conv_gemm_s8(scratch, second, depth, filter, bias, rq, mode, out_c, output_offset, act_min, act_max,
                            out + p * out_c, out_c);
        }
    }
}
