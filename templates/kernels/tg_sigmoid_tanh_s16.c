/* tinygen int16 LOGISTIC and TANH: see tg_sigmoid_tanh_s16.h. */
#include "tg_sigmoid_tanh_s16.h"

#include "tg_common.h"

/* TFLite's Logistic(int16) of the rescaled v: the 9-fraction-bit interpolation, mirrored for v < 0 */
TG_INLINE int16_t tg_sigmoid_s16(int32_t v, const uint16_t *table)
{
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 9;
    uint32_t r;
    if (uh >= 255u)
    {
        r = 0x7FFFu << 10;
    }
    else
    {
        const uint32_t ua = table[uh];
        const uint32_t ub = table[uh + 1u];
        r = (ua << 9) + (a & 0x1FFu) * (ub - ua);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

/* TFLite's Tanh(int16) of the rescaled v: the 8-fraction-bit interpolation of 2 sigmoid(2x) - 1 */
TG_INLINE int16_t tg_tanh_s16(int32_t v, const uint16_t *table)
{
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255u)
    {
        r = 0xFFFF << 8;
    }
    else
    {
        const uint32_t ua = table[uh];
        const uint32_t ub = table[uh + 1u];
        r = (int32_t)((ua << 8) + (a & 0xFFu) * (ub - ua));
    }
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8); /* arithmetic shift, as TFLite's */
}

void tg_sigmoid_tanh_s16(const int16_t *input, int32_t size, int32_t multiplier, int32_t shift, const uint16_t *table,
                         int32_t tanh, int16_t *output)
{
    const int32_t round = shift > 0 ? (int32_t)(1u << (shift - 1)) : 0;
    int32_t i;
    for (i = 0; i < size; ++i)
    {
        /* |x * multiplier| < 2^30: no overflow; the shift of a negative value is arithmetic, as TFLite's */
        const int32_t v = ((int32_t)input[i] * multiplier + round) >> shift;
        output[i] = tanh ? tg_tanh_s16(v, table) : tg_sigmoid_s16(v, table);
    }
}
