/* tinygen int8 depth <-> space: TFLite Micro's DEPTH_TO_SPACE and SPACE_TO_DEPTH for int8 (byte moves,
 * bit-exact). */
#ifndef TG_SPACE_DEPTH_S8_H
#define TG_SPACE_DEPTH_S8_H

#include <stdint.h>

/**
 * @brief Swaps the two middle dimensions of a 4-D byte tensor: the input is [outer][rows][cols][run], the
 *        output [outer][cols][rows][run], output (o, c, r, k) = input (o, r, c, k).
 *
 * Both ops are this one move of contiguous runs (TFLite's DCR channel order, NHWC, block size b):
 * - DEPTH_TO_SPACE [N, H, W, C] -> [N, H*b, W*b, C/(b*b)]: outer = N*H, rows = W, cols = b, run = C/b;
 * - SPACE_TO_DEPTH [N, H, W, C] -> [N, H/b, W/b, C*b*b]: outer = N*H/b, rows = b, cols = W/b, run = C*b.
 * The output is written in order, once, one run at a time (memcpy for long runs).
 *
 * @param[in]  input   int8 input, outer * rows * cols * run bytes
 * @param[in]  outer   >= 1
 * @param[in]  rows    >= 1
 * @param[in]  cols    >= 1
 * @param[in]  run     bytes moved together, >= 1
 * @param[out] output  int8 output, as many bytes; must not overlap input
 */
void tg_space_depth_s8(const int8_t *input, int32_t outer, int32_t rows, int32_t cols, int32_t run,
                       int8_t *output);

#endif /* TG_SPACE_DEPTH_S8_H */
