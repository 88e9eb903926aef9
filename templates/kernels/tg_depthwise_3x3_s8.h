/*
 * tg_depthwise_3x3_s8: int8 depthwise 3x3 convolution with depth multiplier 1 and no dilation
 * (the MobileNet / DS-CNN block), the fast path of tg_depthwise_s8.
 */
#ifndef TG_DEPTHWISE_3X3_S8_H
#define TG_DEPTHWISE_3X3_S8_H

#include <stdint.h>

/** Bytes of `scratch` tg_depthwise_3x3_s8 needs: the larger of its ring of three int16 input rows and,
 * where its DSP path takes the pair path (stride 1, lines of 6 or more: TG_DWVP_USE in
 * tg_depthwise_3x3_vp_s8.h), that path's two slots, or the stride-2 path (TG_DW3_G2_USE) its five slots of
 * four channels' int16 pairs (blocks of 160 bytes: two pairs of five slots of four channels). */
#define TG_DEPTHWISE_3X3_SCRATCH_BYTES(out_h, out_w, stride_h, stride_w)                                      \
    TG_DEPTHWISE_3X3_MAX(                                                                                       \
        3 * ((TG_DEPTHWISE_3X3_MAX(((out_h)-1) * (stride_h), ((out_w)-1) * (stride_w)) + 5) & ~1) * 2,          \
        ((stride_h) == 1 && (stride_w) == 1 && TG_DEPTHWISE_3X3_MAX(out_h, out_w) >= 6)                         \
            ? 64 * ((TG_DEPTHWISE_3X3_MAX(out_h, out_w) + 3) / 2)                                               \
        : TG_DW3_G2_USE(stride_h, stride_w) ? 160 * ((TG_DEPTHWISE_3X3_MAX(out_h, out_w) + 2) / 2)            \
                                            : 0)
#define TG_DEPTHWISE_3X3_MAX(a, b) ((a) > (b) ? (a) : (b))

/** Whether the DSP path takes the four-channel stride-2 path: stride 2 both ways. Keep equal to
 * depthwise_ops.uses_groups2. */
#define TG_DW3_G2_USE(stride_h, stride_w) ((stride_h) == 2 && (stride_w) == 2)

/**
 * @brief 3x3 depthwise convolution, any stride and padding; `output` may equal `input`.
 *
 * Layouts: input NHWC [batches, in_h, in_w, channels], output NHWC [batches, out_h, out_w, channels],
 * filter TFLite's [1, 3, 3, channels] int8 (unchanged). Taps outside the image read `input_zp`.
 *
 * The kernel works one channel at a time: it copies the input rows of the channel it needs, as int16
 * with the padding filled in, into a ring of three rows in `scratch`, and computes the channel's
 * output row by row from the ring. On the DSP path two horizontally adjacent taps are one 32-bit
 * load of the ring and one SMLAD, and the requantization constants of the channel stay in registers.
 *
 * In place: every input row of a channel is in the ring before any output of that channel is
 * written, and a channel's outputs only overwrite that channel's inputs. So with stride 1 and the
 * output the input's shape (same padding), `output == input` is exact: output row oy is written
 * after input row oy + 1 entered the ring.
 *
 * On the DSP path, stride 1 with output lines of 6 or more (TG_DWVP_USE) runs as tg_depthwise_3x3_vp_s8
 * (int16 pairs of two input lines, four channels at a time; also exact in place), and stride 2 both ways
 * (TG_DW3_G2_USE) as the stride-2 path: four channels at a time, five input lines as int16 pairs along the
 * line, each value converted once, two output lines per pass, 9 MACs in 6 instructions (never in place).
 *
 * Specialisations (TG_VARIANT, selected per library by tinygen.lowering.depthwise_ops.dw3_variants): on the DSP
 * path the pair path DW3_VP, the stride-2 path's line functions DW3_G2_<TWO|ONE>_<GENERIC|SAT|CLAMP|RELU_SAT|
 * RELU_CLAMP> (two output lines, or the last of an odd count),
 * the ring DW3_RING (also compiled whenever neither other path is: the general path), and the ring's line
 * copies DW3_S<1|2>_<SAT|CLAMP|GENERIC>; other ring lines take the portable loop.
 *
 * @param bias    [channels] int32: bias - input_zp * sum of the nine taps (offline)
 * @param multiplier, shift  [channels] per-channel requantization (shift > 0: left)
 * @param act_min, act_max   clamp range within -128..127
 * @param fast    nonzero when the lowering proved, for every channel, that the DSP path's fast
 *                requantization is exact (either rounding, multiplier >= 0, shift in -30..-1, and
 *                bound = |bias| + 128 * sum |w| with 2 * bound and bound + 2 + 2^(-shift-1) +
 *                128 * 2^-shift within int32); then `bias` holds 2 * the folded bias
 * @param scratch  TG_DEPTHWISE_3X3_SCRATCH_BYTES(out_h, out_w, stride_h, stride_w) bytes, 8-byte aligned
 */
void tg_depthwise_3x3_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t channels,
                         const int8_t *filter, const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                         int8_t *output, int32_t out_h, int32_t out_w, int32_t stride_h, int32_t stride_w,
                         int32_t pad_top, int32_t pad_left, int32_t input_zp, int32_t output_offset, int32_t act_min,
                         int32_t act_max, int32_t fast, int16_t *scratch);

#endif /* TG_DEPTHWISE_3X3_S8_H */
