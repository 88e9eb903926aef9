/*
 * tg_requant_fast.h: the requantization epilogue of the conv / fully connected GEMMs, header-only.
 *
 * Per output channel the lowering (tinygen/lowering/mac_ops.py) stores three int32 `rq` values.
 * When every channel of the layer has a right shift e = -shift in 2..22 ("fast" layers, nearly all):
 *   {multiplier, 2^(e-2) + output_offset * 2^(e-1), e-1}, and out = tg_rq_fast(acc, ...) equals
 *   MultiplyByQuantizedMultiplier(acc, multiplier, shift) + output_offset bit for bit (multiplier >= 0):
 *   double rounding: h = floor((acc*m + 2^30) / 2^31), then round h / 2^e half away from zero,
 *   which is (h + 2^(e-1) - [h < 0]) >> e; [h < 0] may be replaced by [acc < 0] (if acc < 0 but
 *   h >= 0 then h == 0 and both give 0), and the two floors merge into one 64-bit sum
 *   S = acc*m + 2^30 + 2^(30+e) - [acc < 0]*2^31, out = S >> (31+e) = hi32(S) >> (e-1).
 *   The constant's low word is 2^30 | (sign bit of acc), its high word 2^(e-2) - [acc < 0]:
 *   three ALU instructions, one SMLAL and one shift.
 *   single rounding: out = (acc*m + 2^(30+e)) >> (31+e) = hi32(acc*m + 2^(e-2)*2^32) >> (e-1).
 *   The output offset rides along in the high word: (hi + off * 2^(e-1)) >> (e-1) = (hi >> (e-1)) + off,
 *   and |hi| <= 2^30 + 2^29 + 1, |off * 2^(e-1)| <= 2^28 for e <= 22, so the sum cannot overflow.
 * Otherwise the values are {multiplier, shift, 0} and tg_requantize_mac computes the result.
 * Mixed layers (TG_RQ_MIXED, conv only): each channel has its own form, the fast values where its shift
 * allows them and {multiplier, shift, 0} elsewhere; the third value tells them apart (e - 1 >= 1 in the fast
 * form), so tg_rq_chan needs no mode (and equals tg_rq_any for the other modes).
 */
#ifndef TG_REQUANT_FAST_H
#define TG_REQUANT_FAST_H

#include <stdint.h>

#include "tg_conv_dsp_s8.h"

/* rq modes (a per-layer argument): general arithmetic; fast; fast with the full -128..127 range */
#define TG_RQ_GENERAL 0
#define TG_RQ_FAST 1
#define TG_RQ_FAST_FULL 2
#define TG_RQ_MIXED 3

TG_INLINE int32_t tg_rq_fast(int32_t acc, int32_t multiplier, int32_t hk, int32_t e1)
{
#if TG_SINGLE_ROUNDING
    const uint32_t lo = 0u;
    const int32_t hi = hk;
#else
    const uint32_t lo = ((uint32_t)acc & UINT32_C(0x80000000)) | UINT32_C(0x40000000);
    const int32_t hi = hk - (int32_t)((uint32_t)acc >> 31);
#endif
    const int64_t s = (int64_t)hi * (INT64_C(1) << 32) + (int64_t)lo + (int64_t)acc * (int64_t)multiplier;
    return (int32_t)(s >> 32) >> e1;
}

/* out = clamp(requant(acc) + output_offset) for channel parameters rq[0..2], any mode */
TG_INLINE int8_t tg_rq_any(int32_t acc, const int32_t *rq, int32_t mode, int32_t output_offset, int32_t act_min,
                           int32_t act_max)
{
    int32_t v;
    if (mode != TG_RQ_GENERAL)
    {
        v = tg_rq_fast(acc, rq[0], rq[1], rq[2]); /* the offset is folded in */
    }
    else
    {
        v = tg_requantize_mac(acc, rq[0], rq[1]) + output_offset;
    }
    return (int8_t)TG_CLAMP(v, act_min, act_max);
}

/* out = clamp(requant(acc) + output_offset) for channel parameters rq[0..2] in either form, chosen per channel:
   the fast form's rq[2] (e - 1) is never 0, the general form's always is */
TG_INLINE int8_t tg_rq_chan(int32_t acc, const int32_t *rq, int32_t output_offset, int32_t act_min, int32_t act_max)
{
    int32_t v;
    if (rq[2] != 0)
    {
        v = tg_rq_fast(acc, rq[0], rq[1], rq[2]); /* the offset is folded in */
    }
    else
    {
        v = tg_requantize_mac(acc, rq[0], rq[1]) + output_offset;
    }
    return (int8_t)TG_CLAMP(v, act_min, act_max);
}

#endif /* TG_REQUANT_FAST_H */
