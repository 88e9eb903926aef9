/* tg_add_mve_s8: see tg_add_mve_s8.h */
#include "tg_add_mve_s8.h"

#include "tg_mve_s8.h"

/* RoundingDivideByPOT(SRDHM(v, m), e), exact (tg_mve_s8.h): the sign fix-up applies when e > 0
   (positive = 1, a constant at each use: the loops come in one copy per case) */
TG_INLINE int32x4_t tg_add_mve_rescale(int32x4_t v, int32_t m, int32_t e, int32_t positive)
{
    v = vqrdmulhq_n_s32(v, m);
    if (positive)
    {
        v = vqaddq_s32(v, vshrq_n_s32(v, 31));
    }
    return vrshlq_n_s32(v, -e);
}

/* Four elements (predicate p) of the sum; shift20: 1 << 20 in every lane ((x + off) << 20 is one VMLAS:
   x * 2^20 + (off << 20), both wrapping alike and exact for int8 x and offsets). With bit 8 of `cases` input 1
   has multiplier 2^30 and e1 == 0 (exactly 0.5): its rescaled value is exactly (x1 + off1) << 19, one VMLAS
   by shift19 (1 << 19 in every lane) and off1 pre-shifted by 19. */
TG_INLINE int32x4_t tg_add_mve_quad(int32x4_t x1, int32x4_t x2, int32x4_t shift20, int32x4_t shift19, int32_t off1,
                                    int32_t off2, int32_t m1, int32_t e1, int32_t m2, int32_t e2, int32_t mo,
                                    int32_t eo, int32_t out_offset, int32x4_t lo, int32x4_t hi, int32_t cases)
{
    const int32x4_t a = (cases & 8) ? vmlasq_n_s32(x1, shift19, off1)
                                    : tg_add_mve_rescale(vmlasq_n_s32(x1, shift20, off1), m1, e1, cases & 4);
    const int32x4_t b = tg_add_mve_rescale(vmlasq_n_s32(x2, shift20, off2), m2, e2, cases & 2);
    const int32x4_t sum = tg_add_mve_rescale(vaddq_s32(a, b), mo, eo, cases & 1);
    return vminq_s32(vmaxq_s32(vaddq_n_s32(sum, out_offset), lo), hi);
}

/* The whole add for one case: bits 4, 2, 1 of `cases` = e1 > 0, e2 > 0, eo > 0 (see tg_add_mve_rescale) */
TG_INLINE void tg_add_mve_run(const int8_t *x1, const int8_t *x2, int8_t *out, int32_t size, int32_t off1,
                              int32_t off2, int32_t m1, int32_t e1, int32_t m2, int32_t e2, int32_t mo, int32_t eo,
                              int32_t out_offset, int32_t act_min, int32_t act_max, int32_t cases)
{
    const int32x4_t lo = vdupq_n_s32(act_min);
    const int32x4_t hi = vdupq_n_s32(act_max);
    const int32x4_t shift20 = vdupq_n_s32(INT32_C(1) << 20);
    const int32x4_t shift19 = vdupq_n_s32(INT32_C(1) << 19);
    /* offsets pre-shifted: VMLAS adds them after the multiply */
    const int32_t o1 = (int32_t)((uint32_t)off1 << ((cases & 8) ? 19 : 20));
    const int32_t o2 = (int32_t)((uint32_t)off2 << 20);
    int32_t n;
    for (n = size >> 2; n > 0; --n)
    {
        vstrbq_s32(out, tg_add_mve_quad(vldrbq_s32(x1), vldrbq_s32(x2), shift20, shift19, o1, o2, m1, e1, m2, e2,
                                        mo, eo, out_offset, lo, hi, cases));
        x1 += 4;
        x2 += 4;
        out += 4;
    }
    if ((size & 3) != 0)
    {
        const mve_pred16_t p = vctp32q((uint32_t)(size & 3));
        vstrbq_p_s32(out, tg_add_mve_quad(vldrbq_z_s32(x1, p), vldrbq_z_s32(x2, p), shift20, shift19, o1, o2, m1,
                                          e1, m2, e2, mo, eo, out_offset, lo, hi, cases), p);
    }
}

void tg_add_mve_s8(const int8_t *x1, const int8_t *x2, int8_t *out, int32_t size, int32_t off1, int32_t off2,
                   int32_t m1, int32_t e1, int32_t m2, int32_t e2, int32_t mo, int32_t eo, int32_t out_offset,
                   int32_t act_min, int32_t act_max)
{
#define TG_ADD_MVE_CASE(c)                                                                                     \
    case c:                                                                                                    \
        tg_add_mve_run(x1, x2, out, size, off1, off2, m1, e1, m2, e2, mo, eo, out_offset, act_min, act_max, c); \
        break
    /* The input of the larger scale has multiplier 2^30 and e == 0 (exactly 0.5; TFLite Micro's parameters):
       it becomes input 1 (the sum is symmetric) and takes the exact path (bit 8) */
    if (m2 == (INT32_C(1) << 30) && e2 == 0)
    {
        const int8_t *xt = x1;
        int32_t t;
        x1 = x2;
        x2 = xt;
        t = off1, off1 = off2, off2 = t;
        t = m1, m1 = m2, m2 = t;
        t = e1, e1 = e2, e2 = t;
    }
    if (m1 == (INT32_C(1) << 30) && e1 == 0)
    {
        switch ((e2 > 0) * 2 + (eo > 0))
        {
            TG_ADD_MVE_CASE(8);
            TG_ADD_MVE_CASE(9);
            TG_ADD_MVE_CASE(10);
            default:
                tg_add_mve_run(x1, x2, out, size, off1, off2, m1, e1, m2, e2, mo, eo, out_offset, act_min, act_max,
                               11);
                break;
        }
        return;
    }
    switch ((e1 > 0) * 4 + (e2 > 0) * 2 + (eo > 0))
    {
        TG_ADD_MVE_CASE(0);
        TG_ADD_MVE_CASE(1);
        TG_ADD_MVE_CASE(2);
        TG_ADD_MVE_CASE(3);
        TG_ADD_MVE_CASE(4);
        TG_ADD_MVE_CASE(5);
        TG_ADD_MVE_CASE(6);
        default:
            tg_add_mve_run(x1, x2, out, size, off1, off2, m1, e1, m2, e2, mo, eo, out_offset, act_min, act_max, 7);
            break;
    }
#undef TG_ADD_MVE_CASE
}
