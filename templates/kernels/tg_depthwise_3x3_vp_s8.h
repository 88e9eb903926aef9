/*
 * tg_depthwise_3x3_vp_s8: the DSP path of the 3x3 depthwise kernels tg_depthwise_3x3_s8 and
 * tg_depthwise_3x3_ch_s8 for stride 1 and lines of 6 or more (TG_DWVP_USE), one copy that both call.
 * It exists on DSP targets only (TG_DSP, tg_conv_dsp_s8.h).
 *
 * "Vertical pairs": the image is seen as lines (image rows, or columns when the output is taller
 * than wide) of values. For one group of four channels at a time, the kernel keeps two "slots", each
 * holding two consecutive input lines l, l+1 as int16 pairs: the word of channel j at column x holds
 * (line l, line l+1) of that column, lo and hi halfword. With P_k = (w[0][k], w[1][k]) and
 * Q_k = (w[1][k], w[2][k]) (w[a][k]: kernel line a, position k along the line), a slot T holding lines
 * (l, l+1) and the next slot B holding (l+2, l+3):
 *   output line of input lines l..l+2:   sum_k SMLAD(T[x+k], P_k) + SMLABT(B[x+k], Q_k)
 *   output line of input lines l+1..l+3: sum_k SMLATB(T[x+k], P_k) + SMLAD(B[x+k], Q_k)
 * so two output lines come from a pair of slots (9 MACs in 6 instructions per output), and the next two
 * from slot B (now T) and a new slot with lines l+4, l+5. Every input value is
 * converted to int16 once: a word of four channels of line l and one of line l+1 give, with
 * PKHBT/PKHTB and SXTB16, the pair words of the four channels.
 *
 * Slot layout (words): blocks of two columns; block b holds for channel j = 0..3 the words of columns
 * 2b, 2b+1 at 8b + 2j and 8b + 2j + 1, so that one LDRD loads two adjacent columns of a channel and
 * the fill writes a block with four STRDs.
 *
 * Requantization modes: generic (tg_requantize_mac), and the fast form of tg_depthwise_3x3_s8.h
 * (2 * acc accumulated, SMMLAR, one rounding shift: tg_dw_rq_fast). When act_min >= output_offset (ReLU-like
 * activations) the fast form also drops the round-half-away-from-zero sign correction: it only
 * changes results of negative accumulators, whose outputs are <= output_offset either way (the
 * rounded value of a non-positive product is <= 0) and so both clamp to act_min.
 *
 * Specialisations (TG_VARIANT, selected per library by tinygen.lowering.depthwise_ops.vp_variants): the line
 * functions DWVP_<TWO|ONE>_<MODE> (two output lines, or the last of an odd count, per mode): ANY (generic, any
 * layer), SIGNED (fast with the sign correction), RELU (fast without it), and SIGNED_SAT, RELU_SAT where the
 * clamp range is all of -128..127 (one SSAT).
 */
#ifndef TG_DEPTHWISE_3X3_VP_S8_H
#define TG_DEPTHWISE_3X3_VP_S8_H

#include <stdint.h>

#include "tg_conv_dsp_s8.h"

/**
 * Whether the 3x3 kernels' DSP path takes the pair path: stride 1 and output lines of 6 or more values
 * (measured on MobileNet and DS-CNN layers: shorter lines, and stride 2, where every output needs four
 * new input values converted, run faster in the kernels' own paths). Keep equal to
 * depthwise_ops.uses_pairs.
 */
#define TG_DWVP_USE(out_h, out_w, stride_h, stride_w)                                                          \
    ((stride_h) == 1 && (stride_w) == 1 && ((out_h) > (out_w) ? (out_h) : (out_w)) >= 6)

/** Scratch bytes of the pair path (out_len: the longer output side): two slots of four channels' words
 * over out_len + 2 columns, rounded up to blocks of two. */
#define TG_DWVP_SCRATCH_BYTES(out_len) (2 * 32 * (((out_len) + 3) / 2))

#if TG_DSP
/**
 * @brief 3x3 depthwise convolution, stride 1, depth multiplier 1, the pair path (see above); `output` may
 * equal `input` when both have the same shape (a group's input lines enter the slots before the group's
 * outputs overwrite them).
 *
 * Arguments as tg_depthwise_3x3_s8 (bias doubled when `fast`). `filter` is TFLite's [1, 3, 3, channels]
 * (packed = 0) or tg_depthwise_3x3_ch_s8's channel-group order (packed = 1).
 * @param scratch TG_DWVP_SCRATCH_BYTES(max(out_h, out_w)) bytes, 8-byte aligned
 */
void tg_depthwise_3x3_vp_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                            const int8_t *filter, int32_t packed, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w, int32_t pad_top,
                            int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                            int32_t act_max, int32_t fast, int32_t *scratch);
#endif

#endif /* TG_DEPTHWISE_3X3_VP_S8_H */
