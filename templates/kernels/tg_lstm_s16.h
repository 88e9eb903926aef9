/* tinygen int16x8 LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM, int16 activations x int8 weights, int64 biases -> int16 cell
 * state): TFLite Micro's EvalLstm<int16_t, int8_t, int16_t, int64_t>, bit-exact. */
#ifndef TG_LSTM_S16_H
#define TG_LSTM_S16_H

#include <stdint.h>

/**
 * @brief A batch-major 16x8 LSTM over `steps` time steps, with the state carried in and out.
 *
 * tg_lstm_s8's computation (tg_lstm_s8.h) on int16 activations with zero point 0: each gate's input FC
 * (bias included) and recurrent FC sum exactly into int64 and are requantized by TFLite's int64
 * MultiplyByQuantizedMultiplier (the multiplier rounded to Q0.15) to int16, saturated and added (saturating);
 * sigmoid / tanh, the cell update and the hidden product as in the int8 LSTM (tg_lstm_gates.h), the hidden
 * value saturating to int16.
 *
 * The weights are in the unit-quad layout of tg_lstm_s8 (per unit its four gate rows: for each complete group of
 * four columns the four gates' four bytes, then each gate's n % 4 last bytes) with each gate's group stored
 * w0 w2 w1 w3 (tinygen/ops/lstm.py, unit_quads_s16), so that on the DSP path SXTB16 gives (w0, w1) and, rotated by
 * 8, (w2, w3), each the pair of one SMLAD with two int16 activations. 4-byte aligned weights are read two words at
 * a time; any alignment works.
 *
 * Preconditions (tinygen/ops/lstm.py checks them): |bias| + 32768 * sum |row| < 2^47 and every FC shift <= 7
 * (TFLite's int64 requantization).
 *
 * @param[in]  input       int16 [batches][steps][features]
 * @param[in]  hidden_in   int16 [batches][units]: the output state before the call
 * @param[in]  cell_in     int16 [batches][units]: the cell state before the call
 * @param[in]  w_in        int8 [units][4 x features] input weights, layout above
 * @param[in]  w_rec       int8 [units][4 x units] recurrent weights, layout above
 * @param[in]  bias        int64 [units][4] the gates' biases (input FCs)
 * @param[in]  q           int32 [TG_LSTM_Q_WORDS] parameters (tg_lstm_gates.h, TG_LSTM_Q_*)
 * @param[out] output      int16 [batches][steps][units]; must not overlap the inputs
 * @param[out] hidden_out  int16 [batches][units]: the output state after the call
 * @param[out] cell_out    int16 [batches][units]: the cell state after the call (may be cell_in)
 */
void tg_lstm_s16(const int16_t *input, const int16_t *hidden_in, const int16_t *cell_in, int32_t batches,
                 int32_t steps, int32_t features, int32_t units, const int8_t *w_in, const int8_t *w_rec,
                 const int64_t *bias, const int32_t *q, int16_t *output, int16_t *hidden_out, int16_t *cell_out);

#endif /* TG_LSTM_S16_H */
