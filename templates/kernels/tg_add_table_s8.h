/* tinygen int8 elementwise add as one table sum and one saturating shift (TFLite Micro's int8 ADD, bit-exact). */
#ifndef TG_ADD_TABLE_S8_H
#define TG_ADD_TABLE_S8_H

#include <stdint.h>

/**
 * @brief int8 add of two same-shape tensors: out = clamp((table1[x1] + table2[x2]) >> shift).
 *
 * The code generator derives the two int32 tables [256] (indexed by (uint8_t)x) from TFLite's exact input
 * rescaling, the output multiplier, shift and zero point, and checks offline, for all 65,536 pairs (x1, x2),
 * that this formula equals TFLite Micro's ADD (three requantizations) bit for bit, with |table1| + |table2|
 * below 2^31 so the int32 sum cannot overflow; it keeps tg_add_lut_s8 where no such tables exist.
 * Per element: two byte loads, two table loads, an add and one SSAT (its shift folded in: `shift` is
 * 16, 20 or 24, each a specialised loop).
 *
 * @param[in]  input1   int8 first operand, `size` elements
 * @param[in]  input2   int8 second operand, `size` elements
 * @param[in]  size     element count
 * @param[in]  table1   [256] int32, indexed by (uint8_t)x1 (the output offset and rounding folded in)
 * @param[in]  table2   [256] int32, indexed by (uint8_t)x2
 * @param[in]  shift    16, 20 or 24
 * @param[in]  act_min  fused activation minimum (>= -128)
 * @param[in]  act_max  fused activation maximum (<= 127)
 * @param[out] output   int8 result, `size` elements; may alias input1 or input2 exactly
 */
void tg_add_table_s8(const int8_t *input1, const int8_t *input2, int32_t size, const int32_t *table1,
                     const int32_t *table2, int32_t shift, int32_t act_min, int32_t act_max, int8_t *output);

#endif /* TG_ADD_TABLE_S8_H */
