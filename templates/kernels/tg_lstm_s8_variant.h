/* tinygen int8 LSTM variants (UNIDIRECTIONAL_SEQUENCE_LSTM with peephole, projection, layer norm, CIFG):
 * TFLite's own integer kernel, bit-exact (TFLite Micro refuses these LSTMs). */
#ifndef TG_LSTM_S8_VARIANT_H
#define TG_LSTM_S8_VARIANT_H

#include <stdint.h>

/* The int32 parameter block `q` (tinygen/ops/lstm.py, variant_quant_words). */
#define TG_LSTMV_Q_GATE(g) (9 * (g))      /* per gate (input, forget, cell, output): input FC m, s; recurrent   */
                                          /* FC m, s; peephole m, s; layer norm m, s; variance guard           */
#define TG_LSTMV_Q_HIDDEN 36              /* output gate x tanh(cell) -> int8 hidden: m, s                      */
#define TG_LSTMV_Q_PROJ 38                /* projection m, s                                                    */
#define TG_LSTMV_Q_HIDDEN_ZP 40           /* added to the requantized hidden value                              */
#define TG_LSTMV_Q_OUTPUT_ZP 41           /* the output state's zero point (projection output)                  */
#define TG_LSTMV_Q_CLIP 42                /* quantized cell clip, 0: none                                       */
#define TG_LSTMV_Q_PROJ_CLIP 43           /* quantized projection clip, 0: none                                 */
#define TG_LSTMV_Q_CELL_POWER 44          /* log2 of the cell scale, -15..-9                                    */
#define TG_LSTMV_Q_FLAGS 45               /* TG_LSTMV_CIFG | TG_LSTMV_PEEPHOLE | TG_LSTMV_LAYER_NORM | ...       */
#define TG_LSTMV_Q_WORDS 46
#define TG_LSTMV_CIFG 1
#define TG_LSTMV_PEEPHOLE 2
#define TG_LSTMV_LAYER_NORM 4
#define TG_LSTMV_PROJECTION 8

/**
 * @brief TFLite's integer LSTM with peephole, projection, layer norm and/or CIFG, batch major, the state carried.
 *
 * Per batch and step: each present gate is act(LN(sat16(sat16(rq(W x + b_in)) + rq(R h + b_rec)) [+ rq(p * c)]))
 * with gemmlowp's int16 logistic/tanh; cell = sat16(rdiv(f * c, 15) + rdiv(i * g, 30 + cell_power)) (i = 32767 - f
 * in a CIFG LSTM), clipped; hidden = sat8(rq(o * tanh(cell)) + hidden_zp); the output row (and next h) is hidden,
 * or sat8(rq(P hidden + proj_b) + output_zp), clipped, with a projection.
 *
 * Arrays hold the present gates only, in the order input, forget, cell, output, each gate's rows row-major:
 * @param[in] w_in     int8 [G][cells][features]       @param[in] w_rec   int8 [G][cells][outputs]
 * @param[in] b_in     int32 [G][cells] (zero point folded in; the gate bias too without layer norm)
 * @param[in] b_rec    int32 [G][cells]                @param[in] peephole int16 [G][cells] (cell gate's row
 *                     unused) or NULL                 @param[in] ln_w    int16 [G][cells] or NULL
 * @param[in] ln_b     int32 [G][cells] (the gate biases) or NULL
 * @param[in] proj_w   int8 [outputs][cells] or NULL   @param[in] proj_b  int32 [outputs] (effective) or NULL
 * @param[in] q        int32 [TG_LSTMV_Q_WORDS]
 * @param[in] scratch  4 * max(cells, outputs) + 11 * cells bytes, 4-byte aligned
 * hidden_in/hidden_out: int8 [batches][outputs]; cell_in/cell_out: the bytes of int16 [batches][cells];
 * output: int8 [batches][steps][outputs], not overlapping the inputs.
 */
void tg_lstm_s8_variant(const int8_t *input, const int8_t *hidden_in, const int8_t *cell_in, int32_t batches,
                        int32_t steps, int32_t features, int32_t cells, int32_t outputs, const int8_t *w_in,
                        const int8_t *w_rec, const int32_t *b_in, const int32_t *b_rec, const int16_t *peephole,
                        const int16_t *ln_w, const int32_t *ln_b, const int8_t *proj_w, const int32_t *proj_b,
                        const int32_t *q, int8_t *scratch, int8_t *output, int8_t *hidden_out, int8_t *cell_out);

#endif /* TG_LSTM_S8_VARIANT_H */
