/* tinygen byte copy: RESHAPE (and any layout-preserving op) when source and destination differ. */
#ifndef TG_COPY_S8_H
#define TG_COPY_S8_H

#include <stdint.h>

/**
 * @brief Copies `size` bytes from input to output; overlapping buffers are allowed, and the
 *        call does nothing when they are the same buffer.
 */
void tg_copy_s8(const int8_t *input, int32_t size, int8_t *output);

#endif /* TG_COPY_S8_H */
