/*
 * tg_depthwise_3x3_ch_s8: int8 depthwise 3x3 convolution, depth multiplier 1, no dilation, for small images
 * (and strides > 1, where tg_depthwise_3x3_s8's per-channel ring costs more than it saves). Not in place.
 *
 * DSP path: group by group of four channels, the input (rows and columns the outputs read, padding included) is
 * copied once into a plane of int16 values whose padding holds the input zero point (the bias is folded), then
 * the outputs are computed from it with no bounds test, output position by output position, the four channels
 * one after the other (two outputs per step at strides 1 and 2: the constants are loaded once for both). pair k of a plane row holds columns
 * 2k, 2k + 1 of a channel as one int16 pair word (four channels' words side by side, so that two pixels' words
 * give them with PKHBT/PKHTB and SXTB16), and with A_r = (w[r][0], w[r][1]), B_r = (w[r][1], w[r][2]) a kernel
 * row of an output costs two instructions: SMLAD + SMLABT at an even column, SMLATB + SMLAD at an odd one.
 * The portable path (no DSP) reads the input pixel by pixel, each channel's nine taps at a time.
 */
#ifndef TG_DEPTHWISE_3X3_CH_S8_H
#define TG_DEPTHWISE_3X3_CH_S8_H

#include <stdint.h>

/** Pairs of columns in a plane row: the outputs read columns up to (out_w - 1) * stride_w + 2, and at most one
 * past them (the pair of an even column's third tap). */
#define TG_DW3C_PAIRS(out_w, stride_w) ((((out_w) - 1) * (stride_w)) / 2 + 2)

/** Bytes of `scratch`: the DSP path's plane of four channels, (out_h - 1) * stride_h + 3 rows of TG_DW3C_PAIRS
 * pairs; at least the portable path's 17 bytes per channel (four int32 requantization slots, a zero point). */
#define TG_DEPTHWISE_3X3_CH_SCRATCH_BYTES(channels, out_h, out_w, stride_h, stride_w)                         \
    TG_DW3C_MAX(16 * (((out_h) - 1) * (stride_h) + 3) * TG_DW3C_PAIRS(out_w, stride_w), 17 * (channels))
#define TG_DW3C_MAX(a, b) ((a) > (b) ? (a) : (b))

/**
 * @brief 3x3 depthwise convolution, any stride and padding.
 *
 * Layouts: input NHWC [batches, in_h, in_w, channels], output NHWC. `packed` is TFLite's int8
 * filter [1, 3, 3, channels] reordered offline (same bytes): for each complete group g of four
 * channels the 9 taps' four weights, packed[(9g + t) * 4 + j] = w[t][4g + j]; then, for the
 * channels past the last complete group, w[t][c] at packed[36 * groups + 9 * (c - 4 * groups) + t].
 * Taps outside the image read `input_zp`.
 *
 * Specialisations (TG_VARIANT, selected per library by tinygen.lowering.depthwise_ops.dw3c_variants): the DSP
 * path's channel function per requantization mode, DW3C_<ANY|RELU|RELU_SAT|SIGNED|SIGNED_SAT> (as
 * tg_depthwise_3x3_vp_s8's modes: ANY without the fast form, RELU where act_min >= output_offset (no sign
 * correction), SAT where the clamp range is all of -128..127). The portable path is always compiled.
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
