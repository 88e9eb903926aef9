/*
 * tg_depthwise_3x3_ch_s8: int8 depthwise 3x3 convolution, depth multiplier 1, no dilation, computed
 * four channels at a time (for small images and strides > 1, where tg_depthwise_3x3_s8's per-channel
 * ring costs more than it saves). Not in place.
 */
#ifndef TG_DEPTHWISE_3X3_CH_S8_H
#define TG_DEPTHWISE_3X3_CH_S8_H

#include <stdint.h>

/** Bytes of `scratch`: per channel four int32 requantization values, per group of four channels the
 * sign-extended weights (72 bytes), then a zero-point row; at least, where the DSP path takes the pair
 * path (stride 1, lines of 6 or more: TG_DWVP_USE in tg_depthwise_3x3_vp_s8.h), that path's slots. */
#define TG_DEPTHWISE_3X3_CH_SCRATCH_BYTES(channels, out_h, out_w, stride_h, stride_w)                         \
    TG_DEPTHWISE_3X3_CH_MAX(17 * (channels) + 72 * ((channels) / 4),                                           \
                            ((stride_h) == 1 && (stride_w) == 1 && TG_DEPTHWISE_3X3_CH_MAX(out_h, out_w) >= 6)  \
                                ? 64 * ((TG_DEPTHWISE_3X3_CH_MAX(out_h, out_w) + 3) / 2)                        \
                                : 0)
#define TG_DEPTHWISE_3X3_CH_MAX(a, b) ((a) > (b) ? (a) : (b))

/**
 * @brief 3x3 depthwise convolution, any stride and padding.
 *
 * Layouts: input NHWC [batches, in_h, in_w, channels], output NHWC. `packed` is TFLite's int8
 * filter [1, 3, 3, channels] reordered offline (same bytes): for each complete group g of four
 * channels the 9 taps' four weights, packed[(9g + t) * 4 + j] = w[t][4g + j]; then, for the
 * channels past the last complete group, w[t][c] at packed[36 * groups + 9 * (c - 4 * groups) + t].
 * Taps outside the image read `input_zp`.
 *
 * Specialisations (TG_VARIANT, selected per library by tinygen.lowering.depthwise_ops.dw3c_variants): on the DSP
 * path the pair path DW3C_VP (TG_DWVP_USE) and the four-channel loop DW3C_RUN (also compiled whenever DW3C_VP
 * is not: the general path).
 *
 * @param bias    [channels] int32: bias - input_zp * sum of the nine taps (offline); 2 * that when `fast`
 * @param fast    as for tg_depthwise_3x3_s8 (the fast requantization is exact for every channel)
 * @param scratch TG_DEPTHWISE_3X3_CH_SCRATCH_BYTES(channels, out_h, out_w, stride_h, stride_w) bytes, 8-byte aligned
 */
void tg_depthwise_3x3_ch_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                            const int8_t *packed, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h,
                            int32_t stride_w, int32_t pad_top, int32_t pad_left, int32_t input_zp,
                            int32_t output_offset, int32_t act_min, int32_t act_max, int32_t fast, int8_t *scratch);

#endif /* TG_DEPTHWISE_3X3_CH_S8_H */
