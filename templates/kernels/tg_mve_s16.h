/*
 * tg_mve_s16.h: header-only Helium (MVE) support of the int16 kernels (tg_fully_connected_mve_s16): tg_mve_s8.h's
 * target check and types, and C stand-ins for the int16 intrinsics those kernels add (host tests with
 * TG_MVE_EMULATE only; on an MVE target arm_mve.h supplies them).
 */
#ifndef TG_MVE_S16_H
#define TG_MVE_S16_H

#include <stdint.h>

#include "tg_mve_s8.h"

#if !(defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)) && defined(TG_MVE_EMULATE)
/* VLDRH.16, lanes not enabled by pred zero (and not read) */
TG_INLINE int16x8_t vldrhq_z_s16(const int16_t *p, mve_pred16_t pred)
{
    int16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = (pred >> (2 * i)) & 1u ? p[i] : 0;
    }
    return r;
}
/* VLDRH.16 */
TG_INLINE int16x8_t vldrhq_s16(const int16_t *p)
{
    return vldrhq_z_s16(p, 0xffffu);
}
/* VMLALDAVA.S16: acc plus the eight int16 x int16 products, in 64 bits (exact) */
TG_INLINE int64_t vmlaldavaq_s16(int64_t acc, int16x8_t a, int16x8_t b)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        acc += (int32_t)a.v[i] * (int32_t)b.v[i];
    }
    return acc;
}
#endif

#endif /* TG_MVE_S16_H */
