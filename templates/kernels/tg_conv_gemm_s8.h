/*
 * tg_conv_gemm_s8: the int8 matrix kernel of convolution (im2col) and pointwise convolution.
 *
 * Columns are int16 copies of int8 activations, written by tg_conv_expand_s8/tg_conv_fill_s8
 * (tg_conv_dsp_s8.h). On the DSP path (__ARM_FEATURE_DSP, or TG_DSP_EMULATE on a host, which runs
 * the same code with C stand-ins for the instructions) every complete group of four values
 * a0 a1 a2 a3 is stored as a0 a2 a1 a3: then one SXTB16 of four weight bytes w0 w1 w2 w3 gives
 * (w0, w2), SXTB16 of the bytes rotated by 8 gives (w1, w3), and two SMLADs add
 * a0*w0 + a2*w2 + a1*w1 + a3*w3. The weights keep TFLite's natural layout, so the same constant
 * data serves the portable and the DSP path. Two columns times two weight rows share every load.
 *
 * Requantization is TFLite Micro's: acc = bias[c] + sum(col * w) (the input offset is folded into
 * the bias offline, pads hold the input zero point), out = clamp(MultiplyByQuantizedMultiplier(acc,
 * multiplier[c], shift[c]) + output_offset, act_min, act_max).
 */
#ifndef TG_CONV_GEMM_S8_H
#define TG_CONV_GEMM_S8_H

#include <stdint.h>

#include "tg_conv_dsp_s8.h"

/**
 * @brief out[j * out_stride + c] = requant(bias[c] + sum_k cols[j * depth + k] * weights[c * depth + k])
 *
 * @param cols        num_cols int16 columns of `depth` values each (layout above), int8 range
 * @param weights     [out_ch, depth] int8, natural order
 * @param bias        [out_ch] int32, input offset folded in
 * @param multiplier  Q0.31 multipliers, [out_ch] if per_channel else [1]
 * @param shift       TFLite shifts (> 0 left), same length as multiplier
 * @param out         int8 output of column 0; column j is at out + j * out_stride
 */
void tg_conv_gemm_s8(const int16_t *cols, int32_t num_cols, int32_t depth, const int8_t *weights,
                     const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t per_channel,
                     int32_t out_ch, int32_t output_offset, int32_t act_min, int32_t act_max, int8_t *out,
                     int32_t out_stride);

#endif /* TG_CONV_GEMM_S8_H */
