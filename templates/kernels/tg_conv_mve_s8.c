/* tg_conv_mve_s8: see tg_conv_mve_s8.h */
#include "tg_conv_mve_s8.h"

#include "tg_mve_s8.h"

/* The geometry the window copy needs (one struct: fewer live registers in the pixel loop) */
typedef struct
{
    int32_t in_h, in_w, in_c, kh, kw, dil_h, dil_w, row_bytes, in_row;
    int8_t pad;
} tg_conv_mve_geom_t;

/* The kw taps of one kernel row into col (kw * in_c values); row = the input row, or NULL above/below
   the image. */
static void tg_conv_mve_row(int8_t *col, const int8_t *row, const tg_conv_mve_geom_t *g, int32_t x0)
{
    int32_t kx;
    if (row == 0)
    {
        tg_mve_fill_s8(col, g->pad, g->row_bytes);
        return;
    }
    if (g->dil_w == 1) /* padding, one run of the row's pixels, padding */
    {
        const int32_t first = TG_MAX(0, -x0);                  /* taps left of the image */
        const int32_t last = TG_MIN(g->kw, g->in_w - x0);      /* taps up to the right edge */
        const int32_t inside = TG_MAX(0, last - first);
        tg_mve_fill_s8(col, g->pad, first * g->in_c);
        col += first * g->in_c;
        if (inside > 0)
        {
            tg_mve_copy_s8(col, row + (x0 + first) * g->in_c, inside * g->in_c);
        }
        col += inside * g->in_c;
        tg_mve_fill_s8(col, g->pad, (g->kw - first - inside) * g->in_c);
        return;
    }
    for (kx = 0; kx < g->kw; ++kx)
    {
        const int32_t x = x0 + kx * g->dil_w;
        if (x >= 0 && x < g->in_w)
        {
            tg_mve_copy_s8(col, row + x * g->in_c, g->in_c);
        }
        else
        {
            tg_mve_fill_s8(col, g->pad, g->in_c);
        }
        col += g->in_c;
    }
}

/* `runs` runs of n bytes, `gap` bytes apart in src (from one run's end to the next one's start), one after the
   other into dst */
TG_INLINE void tg_conv_mve_copy_runs(int8_t *dst, const int8_t *src, int32_t runs, int32_t n, int32_t gap)
{
    for (; runs > 0; --runs)
    {
        tg_mve_copy_s8(dst, src, n);
        dst += n;
        src += n + gap;
    }
}

/* The same on the target for n a multiple of 16: one assembly loop (a WLSTP/LETP loop per run; GCC reloads
   the loop constants from the stack around each tg_mve_copy_s8). Not inlined: the caller's register
   allocation stays as it is for its other paths. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__))
#define TG_CONV_MVE_RUNS16 1
static TG_MVE_NOINLINE void tg_conv_mve_copy_runs16(int8_t *dst, const int8_t *src, int32_t runs, int32_t n,
                                                    int32_t gap)
{
    __asm__ volatile("1: wlstp.8 lr, %[n], 3f\n"
                     "2: vldrb.8 q0, [%[src]], #16\n"
                     "vstrb.8 q0, [%[dst]], #16\n"
                     "letp lr, 2b\n"
                     "3: add %[src], %[src], %[gap]\n"
                     "subs %[runs], %[runs], #1\n"
                     "bne 1b"
                     : [dst] "+r"(dst), [src] "+r"(src), [runs] "+r"(runs)
                     : [n] "r"(n), [gap] "r"(gap)
                     : "lr", "q0", "cc", "memory");
}
#else
#define TG_CONV_MVE_RUNS16 0
#endif

/* Windows of at most TG_CONV_MVE_GATHER_MAX values whose taps lie within 256 bytes of their first are
   gathered (one VLDRB gather per 16 values) instead of copied run by run */
#define TG_CONV_MVE_GATHER_MAX 64

/* offs[t] = the offset of window value t from the window's first (kernel row, column, channel order; 0 past
   depth, where the weights are 0); whether every offset fits a byte (then the gather applies) */
static int tg_conv_mve_gather_offsets(uint8_t *offs, int32_t d16, int32_t depth, const tg_conv_mve_geom_t *g)
{
    int32_t t;
    if (d16 > TG_CONV_MVE_GATHER_MAX || g->dil_w != 1)
    {
        return 0;
    }
    for (t = 0; t < d16; ++t)
    {
        const int32_t ky = t / g->row_bytes;
        const int32_t off = t < depth ? ky * g->dil_h * g->in_row + t % g->row_bytes : 0;
        if (off > 255)
        {
            return 0;
        }
        offs[t] = (uint8_t)off;
    }
    return 1;
}

/* The window of an output pixel at the image border, top-left tap (y0, x0), into col: padded taps = pad */
static TG_MVE_NOINLINE void tg_conv_mve_window(int8_t *col, const int8_t *image, int32_t y0, int32_t x0,
                                               const tg_conv_mve_geom_t *g)
{
    int32_t ky;
    for (ky = 0; ky < g->kh; ++ky)
    {
        const int32_t y = y0 + ky * g->dil_h;
        tg_conv_mve_row(col, (y >= 0 && y < g->in_h) ? image + y * g->in_row : 0, g, x0);
        col += g->row_bytes;
    }
}

void tg_conv_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_value,
                    int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int8_t *scratch)
{
    const int32_t depth = kh * kw * in_c;
    const int32_t d16 = (depth + 15) & ~15;
    const int32_t pointwise = kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0 &&
                              out_h == in_h && out_w == in_w;
    tg_conv_mve_geom_t g;
    uint8_t offs[TG_CONV_MVE_GATHER_MAX];
    int32_t gather;
    int32_t b, oy, ox, j = 0;
    g.in_h = in_h;
    g.in_w = in_w;
    g.in_c = in_c;
    g.kh = kh;
    g.kw = kw;
    g.dil_h = dil_h;
    g.dil_w = dil_w;
    g.row_bytes = kw * in_c;
    g.in_row = in_w * in_c;
    g.pad = (int8_t)pad_value;
    for (j = 0; j < TG_CONV_MVE_PIXELS; ++j) /* defined bytes where the zero weights pad depth */
    {
        tg_mve_fill_s8(scratch + j * d16 + depth, 0, d16 - depth);
    }
    /* blocks of TG_CONV_MVE_PIXELS output pixels in raster order: all their windows are copied before
       any of their outputs is written */
    if (pointwise) /* 1x1, stride 1, no padding: pixel t's column is input[t * in_c ...] */
    {
        const int32_t total = batches * in_h * in_w;
        int32_t t;
        for (t = 0; t < total; t += TG_CONV_MVE_PIXELS)
        {
            const int32_t count = TG_MIN(TG_CONV_MVE_PIXELS, total - t);
            if (d16 == in_c)
            {
                tg_mve_copy_s8(scratch, input, count * in_c); /* the block's columns, back to back */
            }
            else
            {
                for (j = 0; j < count; ++j)
                {
                    tg_mve_copy_s8(scratch + j * d16, input + j * in_c, in_c);
                }
            }
            tg_mve_gemm_columns(scratch, d16, count, d16, weights, params, out_c, has_left, out_offset, act_min,
                                act_max, output);
            input += count * in_c;
            output += count * out_c;
        }
        return;
    }
    gather = tg_conv_mve_gather_offsets(offs, d16, depth, &g);
    j = 0;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * g.in_row;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            /* windows of this output row inside the image: x0 in 0..x_end (none with dilated columns) */
            const int32_t x_end = (y0 >= 0 && y0 + (kh - 1) * dil_h < in_h && dil_w == 1) ? in_w - kw : -1;
            const int8_t *top = x_end >= 0 ? image + y0 * g.in_row : image;
            for (ox = 0; ox < out_w; ++ox)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                if (x0 >= 0 && x0 <= x_end && gather) /* d16 / 16 gathers */
                {
                    int8_t *col = scratch + j * d16;
                    const int8_t *src = top + x0 * in_c;
                    int32_t t;
                    for (t = 0; t < d16; t += TG_MVE_STEP)
                    {
                        vstrbq_s8(col + t, vldrbq_gather_offset_s8(src, vldrbq_u8(offs + t)));
                    }
                }
                else if (x0 >= 0 && x0 <= x_end) /* kh runs of kw * in_c bytes */
                {
#if TG_CONV_MVE_RUNS16
                    if ((g.row_bytes & 15) == 0)
                    {
                        tg_conv_mve_copy_runs16(scratch + j * d16, top + x0 * in_c, kh, g.row_bytes,
                                                dil_h * g.in_row - g.row_bytes);
                    }
                    else
#endif
                    {
                        tg_conv_mve_copy_runs(scratch + j * d16, top + x0 * in_c, kh, g.row_bytes,
                                              dil_h * g.in_row - g.row_bytes);
                    }
                }
                else
                {
                    tg_conv_mve_window(scratch + j * d16, image, y0, x0, &g);
                }
                if (++j == TG_CONV_MVE_PIXELS)
                {
                    tg_mve_gemm_columns(scratch, d16, j, d16, weights, params, out_c, has_left, out_offset, act_min,
                                        act_max, output);
                    output += j * out_c;
                    j = 0;
                }
            }
        }
    }
    if (j > 0)
    {
        tg_mve_gemm_columns(scratch, d16, j, d16, weights, params, out_c, has_left, out_offset, act_min, act_max,
                            output);
    }
}
