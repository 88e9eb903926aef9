/* tg_add_mve_s8: see tg_add_mve_s8.h */
#include "tg_add_mve_s8.h"

#include "tg_mve_s8.h"

/* RoundingDivideByPOT(SRDHM(v, m), e), e >= 0, exact (tg_mve_s8.h): the sign fix-up applies when e > 0
   (positive = 1), as a multiply by a scalar, which needs no vector register */
TG_INLINE int32x4_t tg_add_mve_rescale(int32x4_t v, int32_t m, int32_t e, int32_t positive)
{
    v = vqrdmulhq_n_s32(v, m);
    return vrshlq_n_s32(vqaddq_s32(v, vmulq_n_s32(vshrq_n_s32(v, 31), positive)), -e);
}

/* Four elements (predicate p) of the sum */
TG_INLINE int32x4_t tg_add_mve_quad(int32x4_t x1, int32x4_t x2, int32_t off1, int32_t off2, int32_t m1, int32_t e1,
                                    int32_t m2, int32_t e2, int32_t mo, int32_t eo, int32_t out_offset, int32x4_t lo,
                                    int32x4_t hi)
{
    const int32x4_t a = tg_add_mve_rescale(vshlq_n_s32(vaddq_n_s32(x1, off1), 20), m1, e1, e1 > 0);
    const int32x4_t b = tg_add_mve_rescale(vshlq_n_s32(vaddq_n_s32(x2, off2), 20), m2, e2, e2 > 0);
    const int32x4_t sum = tg_add_mve_rescale(vaddq_s32(a, b), mo, eo, eo > 0);
    return vminq_s32(vmaxq_s32(vaddq_n_s32(sum, out_offset), lo), hi);
}

void tg_add_mve_s8(const int8_t *x1, const int8_t *x2, int8_t *out, int32_t size, int32_t off1, int32_t off2,
                   int32_t m1, int32_t e1, int32_t m2, int32_t e2, int32_t mo, int32_t eo, int32_t out_offset,
                   int32_t act_min, int32_t act_max)
{
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    int32_t n;
    for (n = size >> 2; n > 0; --n)
    {
        vstrbq_s32(out, tg_add_mve_quad(vldrbq_s32(x1), vldrbq_s32(x2), off1, off2, m1, e1, m2, e2, mo, eo, out_offset,
                                        lo, hi));
        x1 += 4;
        x2 += 4;
        out += 4;
    }
    if ((size & 3) != 0)
    {
        const mve_pred16_t p = vctp32q((uint32_t)(size & 3));
        vstrbq_p_s32(out, tg_add_mve_quad(vldrbq_z_s32(x1, p), vldrbq_z_s32(x2, p), off1, off2, m1, e1, m2, e2, mo, eo,
                                          out_offset, lo, hi), p);
    }
}
