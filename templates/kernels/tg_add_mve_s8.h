/*
 * tg_add_mve_s8: elementwise int8 ADD of two tensors of the same shape, for Helium (MVE).
 *
 * TFLite Micro's arithmetic (double rounding; qparams.AddParams), four elements per vector:
 *   a = (x1 + off1) << 20, likewise b;
 *   a = RoundingDivideByPOT(SRDHM(a, m1), e1), b likewise (VQRDMULH, then the exact rounding shift of
 *       tg_mve_s8.h: VQADD of the sign fix-up -[v < 0] when e > 0, then VRSHL by -e; e = -shift >= 0);
 *   out = clamp(RoundingDivideByPOT(SRDHM(a + b, mo), eo) + out_offset).
 * The input of the larger scale has multiplier 2^30 and e == 0 (exactly 0.5): its value is exactly
 * (x + off) << 19, one VMLAS (the kernel takes it as input 1, the sum being symmetric).
 * Reads the four elements of both inputs before writing the four outputs: out may be either input.
 */
#ifndef TG_ADD_MVE_S8_H
#define TG_ADD_MVE_S8_H

#include <stdint.h>

void tg_add_mve_s8(const int8_t *x1, const int8_t *x2, int8_t *out, int32_t size, int32_t off1, int32_t off2,
                   int32_t m1, int32_t e1, int32_t m2, int32_t e2, int32_t mo, int32_t eo, int32_t out_offset,
                   int32_t act_min, int32_t act_max);

#endif /* TG_ADD_MVE_S8_H */
