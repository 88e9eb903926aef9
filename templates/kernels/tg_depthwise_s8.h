/*
 * tg_depthwise_s8: general int8 depthwise convolution (any size, stride, dilation, padding and
 * depth multiplier).
 */
#ifndef TG_DEPTHWISE_S8_H
#define TG_DEPTHWISE_S8_H

#include <stdint.h>

/** Bytes of `scratch` tg_depthwise_s8 needs: a pointer per tap, then in_c bytes of the input zero point (and
 * 4 bytes of slack for the DSP path's 32-bit loads). */
#define TG_DEPTHWISE_SCRATCH_BYTES(k_h, k_w, in_c) (8 * (k_h) * (k_w) + (in_c) + 4)

/**
 * @brief Depthwise convolution: output channel o = c * depth_mult + m filters input channel c.
 *
 * Layouts are TFLite's: input NHWC [batches, in_h, in_w, in_c], filter [1, k_h, k_w, out_c] with
 * out_c = in_c * depth_mult, output NHWC [batches, out_h, out_w, out_c]. Taps outside the image
 * read `input_zp` (real 0.0).
 *
 * For each output pixel the kernel points each tap at its input pixel (or at a row of `input_zp` values in
 * `scratch` for the padding), then runs the output channels four at a time with the sums in registers, tap
 * by tap (multiplier 1 on the DSP path: one 32-bit load of four input channels and one of four weights,
 * SXTB16, then SMLABB/SMLATT), and requantizes them (tg_requant_fast.h).
 *
 * @param bias      [out_c] int32: bias - input_zp * sum over taps of filter[.., o] (offline)
 * @param rq        [out_c][3] requantization values, `mode` TG_RQ_* (tg_requant_fast.h)
 * @param act_min   lower clamp, -128..act_max;  act_max: upper clamp, act_min..127
 * @param scratch   TG_DEPTHWISE_SCRATCH_BYTES(k_h, k_w, in_c) bytes, aligned for a pointer; not overlapping
 *                  input or output
 */
void tg_depthwise_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                     const int8_t *filter, int32_t k_h, int32_t k_w, int32_t depth_mult, const int32_t *bias,
                     const int32_t *rq, int32_t mode, int8_t *output, int32_t out_h, int32_t out_w,
                     int32_t stride_h, int32_t stride_w, int32_t dil_h, int32_t dil_w, int32_t pad_top,
                     int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min, int32_t act_max,
                     void *scratch);

#endif /* TG_DEPTHWISE_S8_H */
