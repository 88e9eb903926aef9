/* tinygen int8 LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM, int8 x int8 -> int16 cell state): TFLite Micro's integer
 * LSTM, bit-exact. */
#ifndef TG_LSTM_S8_H
#define TG_LSTM_S8_H

#include <stdint.h>

/* The int32 parameter block `q`: its layout is TG_LSTM_Q_* in tg_lstm_gates.h (tinygen/ops/lstm.py, quant_words). */

/**
 * @brief A batch-major int8 LSTM over `steps` time steps, with the state carried in and out.
 *
 * Per batch and step, each gate is act(sat16(rq(W x_t + b)) + sat16(rq(R h))) on int16 (sigmoid for the
 * input, forget and output gates, tanh for the cell gate: TFLite's interpolated int16 sigmoid table);
 * cell = sat16(rq(forget * cell) + rq(input * cell_gate)), clipped; h = rq(output * tanh(cell)) + zp (int8),
 * which is also the step's output row.
 *
 * The weights are in the unit-quad layout (tinygen/ops/lstm.py, unit_quads): per unit, its four gate rows
 * of n values (n = features or units) as a quad: for each complete group of four columns the four gates'
 * four bytes (16 bytes), then each gate's n % 4 last bytes. 4-byte aligned weights are read two words at a
 * time (LDRD) on the DSP path; any alignment works.
 *
 * @param[in]  input       int8 [batches][steps][features]
 * @param[in]  hidden_in   int8 [batches][units]: the output state before the call
 * @param[in]  cell_in     the bytes of int16 [batches][units] (native byte order): the cell state before
 * @param[in]  w_in        int8 [units][4 x features] input weights, unit-quad layout
 * @param[in]  w_rec       int8 [units][4 x units] recurrent weights, unit-quad layout
 * @param[in]  b_in        int32 [units][4] input biases, -input_zero_point * sum(row) folded in
 * @param[in]  b_rec       int32 [units][4] -hidden_zero_point * sum(recurrent row)
 * @param[in]  q           int32 [TG_LSTM_Q_WORDS] parameters (TG_LSTM_Q_*)
 * @param[in]  scratch     2 * units bytes, 2-byte aligned
 * @param[out] output      int8 [batches][steps][units]; must not overlap the inputs
 * @param[out] hidden_out  int8 [batches][units]: the output state after the call
 * @param[out] cell_out    the bytes of int16 [batches][units]: the cell state after the call
 */
void tg_lstm_s8(const int8_t *input, const int8_t *hidden_in, const int8_t *cell_in, int32_t batches, int32_t steps,
                int32_t features, int32_t units, const int8_t *w_in, const int8_t *w_rec, const int32_t *b_in,
                const int32_t *b_rec, const int32_t *q, int8_t *scratch, int8_t *output, int8_t *hidden_out,
                int8_t *cell_out);

#endif /* TG_LSTM_S8_H */
