/* tinygen int8 batched matrix product for Helium: see tg_batch_matmul_mve_s8.h. */
#include "tg_batch_matmul_mve_s8.h"

#include "tg_mve_s8.h"

/* dst[i][k] = src[k][i]: a [n][m] matrix into [m][n] */
static void tg_bmm_mve_transpose(const int8_t *src, int32_t n, int32_t m, int8_t *dst)
{
    int32_t i, k;
    for (i = 0; i < m; ++i)
    {
        const int8_t *s = src + i;
        for (k = 0; k < n; ++k)
        {
            *dst++ = *s;
            s += m;
        }
    }
}

/* sum of the n int8 at p (wrapping int32; predicated tail) */
static int32_t tg_bmm_mve_sum(const int8_t *p, int32_t n)
{
    const int8x16_t ones = vdupq_n_s8(1);
    int32_t s = 0;
    for (; n >= 16; n -= 16, p += 16)
    {
        s = vmladavaq_s8(s, vldrbq_s8(p), ones);
    }
    if (n > 0)
    {
        s = vmladavaq_s8(s, vldrbq_z_s8(p, vctp8q((uint32_t)n)), ones);
    }
    return s;
}

/* One row a against the four columns b0..b3: the raw dot products, the depth tail predicated */
#define TG_BMM_MVE_QUAD(a, b0, b1, b2, b3, depth, s0, s1, s2, s3)                                              \
    do                                                                                                         \
    {                                                                                                          \
        int32_t k_ = 0;                                                                                        \
        (s0) = (s1) = (s2) = (s3) = 0;                                                                         \
        for (; k_ + 16 <= (depth); k_ += 16)                                                                   \
        {                                                                                                      \
            const int8x16_t v_ = vldrbq_s8((a) + k_);                                                          \
            (s0) = vmladavaq_s8((s0), v_, vldrbq_s8((b0) + k_));                                               \
            (s1) = vmladavaq_s8((s1), v_, vldrbq_s8((b1) + k_));                                               \
            (s2) = vmladavaq_s8((s2), v_, vldrbq_s8((b2) + k_));                                               \
            (s3) = vmladavaq_s8((s3), v_, vldrbq_s8((b3) + k_));                                               \
        }                                                                                                      \
        if (k_ < (depth))                                                                                      \
        {                                                                                                      \
            const mve_pred16_t p_ = vctp8q((uint32_t)((depth) - k_));                                          \
            const int8x16_t v_ = vldrbq_z_s8((a) + k_, p_);                                                    \
            (s0) = vmladavaq_s8((s0), v_, vldrbq_z_s8((b0) + k_, p_));                                         \
            (s1) = vmladavaq_s8((s1), v_, vldrbq_z_s8((b1) + k_, p_));                                         \
            (s2) = vmladavaq_s8((s2), v_, vldrbq_z_s8((b2) + k_, p_));                                         \
            (s3) = vmladavaq_s8((s3), v_, vldrbq_z_s8((b3) + k_, p_));                                         \
        }                                                                                                      \
    } while (0)

/* one product: l [rows][depth] times r [cols][depth] into out [rows][cols]; col_terms[j] = the column terms */
static TG_MVE_NOINLINE void tg_bmm_mve_matrix(const int8_t *l, const int8_t *r, int32_t rows, int32_t cols,
                                              int32_t depth, int32_t r_off, const int32_t *col_terms,
                                              const int32_t *rq, int32_t has_left, int8_t *out)
{
    const int32x4_t offset = vdupq_n_s32(rq[0]);
    const int32x4_t lo = vdupq_n_s32(-128);
    const int32x4_t hi = vdupq_n_s32(127);
    int32_t i, j;
    for (i = 0; i < rows; ++i, l += depth, out += cols)
    {
        /* r_off * sum(row), wrapping */
        const int32_t row_term = (int32_t)((uint32_t)r_off * (uint32_t)tg_bmm_mve_sum(l, depth));
        for (j = 0; j < cols; j += 4)
        {
            /* a partial last quad repeats its last column (computed, not stored) */
            const int8_t *b0 = r + j * depth;
            const int8_t *b1 = r + TG_MIN(j + 1, cols - 1) * depth;
            const int8_t *b2 = r + TG_MIN(j + 2, cols - 1) * depth;
            const int8_t *b3 = r + TG_MIN(j + 3, cols - 1) * depth;
            int32_t s0, s1, s2, s3;
            int32x4_t acc;
            TG_BMM_MVE_QUAD(l, b0, b1, b2, b3, depth, s0, s1, s2, s3);
            acc = vaddq_s32(tg_mve_lanes(s0, s1, s2, s3), vaddq_n_s32(vldrwq_s32(col_terms + j), row_term));
            acc = has_left ? tg_mve_requant_vec(acc, rq, 1, offset, lo, hi)
                           : tg_mve_requant_vec(acc, rq, 0, offset, lo, hi);
            vstrbq_p_s32(out + j, acc, vctp32q((uint32_t)(cols - j)));
        }
    }
}

void tg_batch_matmul_mve_s8(const int8_t *lhs, const int8_t *rhs, const int32_t *batch, int32_t rows, int32_t cols,
                            int32_t depth, int32_t lhs_transpose, int32_t rhs_transpose, int32_t lhs_offset,
                            int32_t rhs_offset, int32_t output_offset, int32_t output_multiplier,
                            int32_t output_shift, int32_t has_left, int8_t *scratch, int8_t *output)
{
    const int32_t out_size = rows * cols;
    /* column terms, rounded up to a quad (the partial quad's extra lanes are not stored) */
    int32_t *col_terms = (int32_t *)(void *)scratch;
    int8_t *tr = scratch + 4 * ((cols + 3) & ~3);
    int8_t *lhs_rows = lhs_transpose ? tr : (int8_t *)0;
    int8_t *rhs_cols = rhs_transpose ? tr + (lhs_transpose ? rows * depth : 0) : (int8_t *)0;
    const int8_t *lhs_done = (const int8_t *)0, *rhs_done = (const int8_t *)0, *terms_done = (const int8_t *)0;
    /* the tg_mve_requant_vec params of one quad, lane by lane: the offset slot, multiplier, left, -right */
    int32_t rq[TG_MVE_QUAD_PARAMS];
    const uint32_t fixed = (uint32_t)depth * (uint32_t)lhs_offset * (uint32_t)rhs_offset;
    int32_t b0, b1, b2, q;
    for (q = cols; q < ((cols + 3) & ~3); ++q)
    {
        col_terms[q] = 0; /* defined lanes past the last column */
    }
    for (q = 0; q < 4; ++q)
    {
        rq[q] = output_offset;
        rq[4 + q] = output_multiplier;
        rq[8 + q] = output_shift > 0 ? output_shift : 0;
        rq[12 + q] = output_shift > 0 ? 0 : output_shift;
    }
    for (b0 = 0; b0 < batch[0]; ++b0)
    {
        for (b1 = 0; b1 < batch[1]; ++b1)
        {
            for (b2 = 0; b2 < batch[2]; ++b2)
            {
                const int8_t *l = lhs + b0 * batch[3] + b1 * batch[4] + b2 * batch[5];
                const int8_t *r = rhs + b0 * batch[6] + b1 * batch[7] + b2 * batch[8];
                const int8_t *r_source = r;
                if (lhs_rows != (int8_t *)0)
                {
                    if (l != lhs_done)
                    {
                        tg_bmm_mve_transpose(l, depth, rows, lhs_rows);
                        lhs_done = l;
                    }
                    l = lhs_rows;
                }
                if (rhs_cols != (int8_t *)0)
                {
                    if (r != rhs_done)
                    {
                        tg_bmm_mve_transpose(r, depth, cols, rhs_cols);
                        rhs_done = r;
                    }
                    r = rhs_cols;
                }
                if (r_source != terms_done) /* lhs_offset * sum(column) + depth * lhs_offset * rhs_offset */
                {
                    int32_t j;
                    for (j = 0; j < cols; ++j)
                    {
                        col_terms[j] = (int32_t)((uint32_t)lhs_offset * (uint32_t)tg_bmm_mve_sum(r + j * depth, depth)
                                                 + fixed);
                    }
                    terms_done = r_source;
                }
                tg_bmm_mve_matrix(l, r, rows, cols, depth, rhs_offset, col_terms, rq, has_left, output);
                output += out_size;
            }
        }
    }
}
