/*
 * tg_depthwise_mult_s8: int8 depthwise 3x3 convolution with depth multiplier > 1 and no dilation, as a depthwise
 * convolution of multiplier 1 (tg_depthwise_3x3_s8) over the input with each channel repeated `mult` times.
 */
#ifndef TG_DEPTHWISE_MULT_S8_H
#define TG_DEPTHWISE_MULT_S8_H

#include <stdint.h>

/** Bytes of the portable path's scratch (see `scratch` below). */
#define TG_DEPTHWISE_MULT_PORTABLE_BYTES(in_c, mult) (12 * (in_c) * (mult) + (in_c))

/**
 * @brief 3x3 depthwise convolution of depth multiplier `mult` (> 1), any stride and padding.
 *
 * Output channel o = c * mult + j reads input channel c, so it is channel o of a multiplier-1 depthwise
 * convolution over the input with channel c repeated `mult` times (channels c * mult .. c * mult + mult - 1),
 * with TFLite's filter [1, 3, 3, in_c * mult] unchanged. On the DSP path the kernel writes that repeated input to
 * `expanded` ([batches, in_h, in_w, in_c * mult] bytes), then runs tg_depthwise_3x3_s8 over it (its pair and
 * stride-2 paths: four channels at a time). `expanded` may be `output` when the output has the input's height and
 * width and stride is 1 (tg_depthwise_3x3_s8 then runs in place); otherwise it is scratch, not overlapping `input`
 * or `output`. The portable path (no DSP, where tg_depthwise_3x3_s8 runs one channel at a time) leaves `expanded`
 * alone: output pixel by output pixel it reads each input channel's nine taps once for its `mult` outputs
 * (two output channels per pass), requantizing with the same arithmetic.
 *
 * Every other argument is tg_depthwise_3x3_s8's, for in_c * mult channels (see tg_depthwise_3x3_s8.h; `bias`
 * doubled when `fast`).
 * @param scratch  8-byte aligned, not overlapping the others: the DSP path's TG_DEPTHWISE_3X3_SCRATCH_BYTES(out_h,
 *                 out_w, stride_h, stride_w) bytes, the portable path's TG_DEPTHWISE_MULT_PORTABLE_BYTES(in_c, mult)
 *                 (three int32 requantization values per output channel, then in_c zero points); the larger
 */
void tg_depthwise_mult_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                          int32_t mult, int8_t *expanded, const int8_t *filter, const int32_t *bias,
                          const int32_t *multiplier, const int32_t *shift, int8_t *output, int32_t out_h,
                          int32_t out_w, int32_t stride_h, int32_t stride_w, int32_t pad_top, int32_t pad_left,
                          int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast,
                          int16_t *scratch);

#endif /* TG_DEPTHWISE_MULT_S8_H */
