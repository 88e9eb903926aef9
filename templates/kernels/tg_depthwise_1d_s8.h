/*
 * tg_depthwise_1d_s8: int8 depthwise convolution with a one-dimensional filter (1 x K along rows or K x 1 along
 * columns: the 1-D convolutions of audio / ECG models), depth multiplier 1, no dilation.
 */
#ifndef TG_DEPTHWISE_1D_S8_H
#define TG_DEPTHWISE_1D_S8_H

#include <stdint.h>

/** The longest filter tg_depthwise_1d_s8 takes (its tap pairs stay in a local array). */
#define TG_DEPTHWISE_1D_MAX_TAPS 16

/** `mode` values of the fast form (besides tg_requant_fast.h's TG_RQ_*): the lowering proved it exact
 * (tinygen.lowering.depthwise_ops.fast_requantization), `bias` holds twice the folded bias and `rq` per channel
 * {multiplier, 2^(r-1) + output_offset * 2^r, r} (r the right shift): the kernel accumulates twice the sum and
 * requantizes with one SMMLAR (SMMLA with single rounding) and one shift (tg_dw_rq_fast). RELU leaves out the
 * double rounding's sign correction, exact when act_min >= output_offset (see tg_depthwise_3x3_vp_s8.h). */
#define TG_DW1D_FAST_RELU 4
#define TG_DW1D_FAST_SIGNED 5

/** Bytes of `scratch`: one line of int16 values, the padding included, for out_len outputs of stride `stride`
 * and `taps` taps (rounded up to tap pairs), plus two values of slack. */
#define TG_DEPTHWISE_1D_SCRATCH_BYTES(out_len, stride, taps) (2 * (((out_len)-1) * (stride) + 2 * (((taps) + 1) / 2) + 2))

/**
 * @brief Depthwise convolution, filter 1 x K (`along_w` 1: each output row from one input row) or K x 1
 * (`along_w` 0: each output column from one input column), any stride and padding.
 *
 * Layouts are TFLite's: input NHWC [batches, in_h, in_w, channels], filter [1, k_h, k_w, channels] (the K taps in
 * order), output NHWC. Taps outside the image read `input_zp`.
 *
 * Channel by channel and line by line, the kernel copies the input line as int16 (padding filled in) into
 * `scratch`, then computes the line's outputs with the channel's tap pairs and requantization values in
 * registers: on the DSP path one SMLAD per two taps (a word load of two neighbouring values), then in the fast form
 * SMMLAR, a shift and SSAT (the clamp range all of int8) or the clamp.
 *
 * @param taps      K, 1..TG_DEPTHWISE_1D_MAX_TAPS
 * @param bias      [channels] int32: bias - input_zp * sum of the taps (offline; doubled in the fast form)
 * @param rq        [channels][3] requantization values, `mode` TG_DW1D_FAST_* (the fast form, above) or TG_RQ_*
 *                  (tg_requant_fast.h; TG_RQ_MIXED: the form chosen per channel, each channel's line in its own
 *                  form)
 * @param scratch   TG_DEPTHWISE_1D_SCRATCH_BYTES(out_len, stride along the line, taps) bytes, not overlapping
 *                  input or output
 */
void tg_depthwise_1d_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                        const int8_t *filter, int32_t taps, int32_t along_w, const int32_t *bias, const int32_t *rq,
                        int32_t mode, int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h,
                        int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset,
                        int32_t act_min, int32_t act_max, int16_t *scratch);

#endif /* TG_DEPTHWISE_1D_S8_H */
