/* tinygen requantization to int16: the element arithmetic of the QUANTIZE kernels into int16. */
#ifndef TG_REQUANTIZE_S16_H
#define TG_REQUANTIZE_S16_H

#include <stdint.h>

#include "tg_common.h"
#include "tg_fixedpoint.h"

/* clamp(output_zp + requantize(x - input_zp, multiplier, shift)) to int16 (TFLite's Requantize) */
TG_INLINE int16_t tg_requantize_s16(int32_t x, int32_t input_zp, int32_t multiplier, int32_t shift, int32_t output_zp)
{
    const int32_t v = output_zp + tg_requantize_nonneg(x - input_zp, multiplier, shift);
    return (int16_t)TG_CLAMP(v, -32768, 32767);
}

#endif /* TG_REQUANTIZE_S16_H */
