/* Profiling hooks of the generated library (see docs/INTERNALS.md). The firmware build
   force-includes this header (-include) into every C file, so NAME.c sees the hooks defined
   before it compiles: the end of each layer calls tg_layer_end(), which calls tg_mark() for
   the QEMU instruction-count plugin and, with TG_DUMP_TENSORS, prints the layer's output. */
#ifndef TG_HOOKS_H
#define TG_HOOKS_H

#include <stddef.h>
#include <stdint.h>

void tg_mark(void);
void tg_layer_end(int index, const void *out, size_t bytes);

#define TG_LAYER_BEGIN(index) ((void)(index))
#define TG_LAYER_END(index, out_ptr, out_bytes) tg_layer_end((int)(index), (out_ptr), (size_t)(out_bytes))

#endif
