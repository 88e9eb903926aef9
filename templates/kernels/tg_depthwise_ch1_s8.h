/*
 * tg_depthwise_ch1_s8: int8 depthwise convolution of a one-channel input (depth multiplier = output channels,
 * e.g. MobileNet's first layer as a depthwise 3x3 x8): every output channel is an ordinary filter of the
 * single input plane, so each output pixel's window is gathered once and reused by all the filters.
 */
#ifndef TG_DEPTHWISE_CH1_S8_H
#define TG_DEPTHWISE_CH1_S8_H

#include <stdint.h>

/** Bytes of `scratch`: the filters as int16 tap pairs (a zero pads an odd tap count), then the windows of an
 * output row (the DSP path's 3x3, 1 x 7 and 1 x 8 filters; one window otherwise). */
#define TG_DEPTHWISE_CH1_SCRATCH_BYTES(k_h, k_w, out_c, out_w) (4 * (((k_h) * (k_w) + 1) / 2) * ((out_c) + (out_w)))

/**
 * @brief Depthwise convolution of a one-channel input: output channel m = filter m of the input plane.
 *
 * Layouts are TFLite's: input NHWC [batches, in_h, in_w, 1], filter [1, k_h, k_w, out_c] int8 (unchanged),
 * output NHWC [batches, out_h, out_w, out_c]. Taps outside the image read `input_zp` (real 0.0).
 *
 * The kernel widens the filters once into int16 tap pairs in `scratch`; per output pixel it gathers the
 * window as int16 tap pairs, then each output channel is one SMLAD per tap pair (portable path: a MAC per tap)
 * and the requantization (tg_requant_fast.h). On the DSP path, 3x3 undilated filters and 1 x 7 / 1 x 8 ones
 * (four tap pairs along a row) gather a whole output row's windows first, then run channel by channel over the
 * row with the channel's weights and requantization values in registers (with `dw_fast`: two pixels per pass).
 * The portable path reads interior 3x3 and 1 x 7 / 1 x 8 windows straight from the image.
 *
 * @param bias      [out_c] int32: bias - input_zp * sum over taps of filter[.., m] (offline)
 * @param rq        [out_c][3] requantization values, `mode` TG_RQ_* (tg_requant_fast.h)
 * @param act_min   lower clamp, -128..act_max;  act_max: upper clamp, act_min..127
 * @param dw_fast   nonzero when the lowering proved the depthwise kernels' fast requantization exact for every
 *                  channel (tinygen.lowering.depthwise_ops.fast_requantization): the DSP 3x3 path of a TG_RQ_FAST*
 *                  layer then accumulates 2 * (bias + sum) and requantizes with one SMMLAR (tg_dw_rq_fast)
 * @param scratch   TG_DEPTHWISE_CH1_SCRATCH_BYTES(k_h, k_w, out_c, out_w) bytes, 4-byte aligned, not overlapping
 *                  input or output
 */
void tg_depthwise_ch1_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, const int8_t *filter,
                         int32_t k_h, int32_t k_w, int32_t out_c, const int32_t *bias, const int32_t *rq, int32_t mode,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                         int32_t output_offset, int32_t act_min, int32_t act_max, int32_t dw_fast, void *scratch);

#endif /* TG_DEPTHWISE_CH1_S8_H */
