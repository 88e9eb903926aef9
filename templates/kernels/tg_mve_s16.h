/*
 * tg_mve_s16.h: header-only Helium (MVE) support of the int16 kernels (tg_fully_connected_mve_s16, tg_conv_mve_s16,
 * tg_depthwise_mve_s16): tg_mve_s8.h's target check and types, and C stand-ins for the int16 intrinsics those
 * kernels add (host tests with TG_MVE_EMULATE only; on an MVE target arm_mve.h supplies them).
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
/* VMLADAVA.S16: acc plus the eight int16 x int16 products, wrapping in 32 bits */
TG_INLINE int32_t vmladavaq_s16(int32_t acc, int16x8_t a, int16x8_t b)
{
    uint32_t sum = (uint32_t)acc;
    int i;
    for (i = 0; i < 8; ++i)
    {
        sum += (uint32_t)((int32_t)a.v[i] * (int32_t)b.v[i]);
    }
    return (int32_t)sum;
}
/* VMULLB.S16 / VMULLT.S16: the int32 products of the even (bottom) / odd (top) lanes */
TG_INLINE int32x4_t tg_mve_emul_mull_s16(int16x8_t a, int16x8_t b, int top)
{
    int32x4_t r;
    int i;
    for (i = 0; i < 4; ++i)
    {
        r.v[i] = (int32_t)a.v[2 * i + top] * (int32_t)b.v[2 * i + top];
    }
    return r;
}
#define vmullbq_int_s16(a, b) tg_mve_emul_mull_s16((a), (b), 0)
#define vmulltq_int_s16(a, b) tg_mve_emul_mull_s16((a), (b), 1)
/* VRMULH.S32: the rounded high half of each lane's 64-bit product, (a * b + 2^31) >> 32 */
TG_INLINE int32x4_t vrmulhq_s32(int32x4_t a, int32x4_t b)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[i] = (int32_t)(((int64_t)a.v[i] * b.v[i] + (INT64_C(1) << 31)) >> 32);
    }
    return a;
}
/* VMOVNB.I32 / VMOVNT.I32: the low halves of b's lanes into the even / odd lanes of a */
TG_INLINE int16x8_t tg_mve_emul_movn_s32(int16x8_t a, int32x4_t b, int top)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        a.v[2 * i + top] = (int16_t)(uint16_t)((uint32_t)b.v[i] & 0xffffu);
    }
    return a;
}
#define vmovnbq_s32(a, b) tg_mve_emul_movn_s32((a), (b), 0)
#define vmovntq_s32(a, b) tg_mve_emul_movn_s32((a), (b), 1)
/* VSTRH.16, the lanes pred enables */
TG_INLINE void vstrhq_p_s16(int16_t *p, int16x8_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 8; ++i)
    {
        if ((pred >> (2 * i)) & 1u)
        {
            p[i] = a.v[i];
        }
    }
}
/* VSTRH.32 (truncating: the low half of each lane), the lanes pred enables */
TG_INLINE void vstrhq_p_s32(int16_t *p, int32x4_t a, mve_pred16_t pred)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        if ((pred >> (4 * i)) & 1u)
        {
            p[i] = (int16_t)(uint16_t)((uint32_t)a.v[i] & 0xffffu);
        }
    }
}
/* VSTRW.32 */
TG_INLINE void vstrwq_s32(int32_t *p, int32x4_t a)
{
    int i;
    for (i = 0; i < 4; ++i)
    {
        p[i] = a.v[i];
    }
}
TG_INLINE uint16x8_t vdupq_n_u16(uint16_t x)
{
    uint16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = x;
    }
    return r;
}
/* VLDRH.16 gather: base[offset[i]] (the lanes pred enables; the others 0 and not read) */
TG_INLINE int16x8_t vldrhq_gather_shifted_offset_z_s16(const int16_t *base, uint16x8_t offset, mve_pred16_t pred)
{
    int16x8_t r;
    int i;
    for (i = 0; i < 8; ++i)
    {
        r.v[i] = (pred >> (2 * i)) & 1u ? base[offset.v[i]] : 0;
    }
    return r;
}
TG_INLINE int16x8_t vldrhq_gather_shifted_offset_s16(const int16_t *base, uint16x8_t offset)
{
    return vldrhq_gather_shifted_offset_z_s16(base, offset, 0xffffu);
}
#endif

#endif /* TG_MVE_S16_H */
