/*
 * tg_conv_gemm_s8: a column block times channel-pair-interleaved int8 weights, requantized (see the header).
 */
#include "tg_conv_gemm_s8.h"

#if TG_DSP
/* the same for int8 weights of any alignment (two LDRs, post-indexed by the compiler) */
#define TG_LDR2_NEXT(lo, hi, p)                                                                                \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = tg_load32(p);                                                                                   \
        (hi) = tg_load32((p) + 4);                                                                             \
        (p) += 8;                                                                                              \
    } while (0)

/* one group of four depth values: 3 columns x 2 channels, 24 MACs in 20 instructions (WLOAD is
   TG_LDRD_NEXT for 4-byte aligned weights); at most 15 values live: 4 weight halves, 2 column words,
   6 sums, 3 pointers (x, w and the loop end, which the compiler may keep on the stack) */
#define TG_GEMM_GROUP(WLOAD)                                                                                   \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t wa, wb, u, v;                                                                                 \
        int32_t wa02, wb02;                                                                                    \
        WLOAD(wa, wb, w);                                                                                      \
        wa02 = tg_sxtb16(wa);                                                                                  \
        wb02 = tg_sxtb16(wb);                                                                                  \
        wa = (uint32_t)tg_sxtb16_ror8(wa);                                                                     \
        wb = (uint32_t)tg_sxtb16_ror8(wb);                                                                     \
        TG_LDRD_NEXT(u, v, x);                                                                                 \
        a00 = tg_smlad((int32_t)u, wa02, a00);                                                                 \
        a01 = tg_smlad((int32_t)u, wb02, a01);                                                                 \
        a00 = tg_smlad((int32_t)v, (int32_t)wa, a00);                                                          \
        a01 = tg_smlad((int32_t)v, (int32_t)wb, a01);                                                          \
        TG_LDRD_NEXT(u, v, x);                                                                                 \
        a10 = tg_smlad((int32_t)u, wa02, a10);                                                                 \
        a11 = tg_smlad((int32_t)u, wb02, a11);                                                                 \
        a10 = tg_smlad((int32_t)v, (int32_t)wa, a10);                                                          \
        a11 = tg_smlad((int32_t)v, (int32_t)wb, a11);                                                          \
        TG_LDRD_NEXT(u, v, x);                                                                                 \
        a20 = tg_smlad((int32_t)u, wa02, a20);                                                                 \
        a21 = tg_smlad((int32_t)u, wb02, a21);                                                                 \
        a20 = tg_smlad((int32_t)v, (int32_t)wa, a20);                                                          \
        a21 = tg_smlad((int32_t)v, (int32_t)wb, a21);                                                          \
    } while (0)
#endif

/*
 * The aligned weights' groups in asm on Cortex-M with the DSP extension: the instructions of
 * TG_GEMM_GROUP(TG_LDRD_NEXT), scheduled for the Cortex-M7's dual issue, which GCC's scheduler does not find (four
 * groups: 83 instructions in about 65 cycles on LLVM's Cortex-M7 model, where GCC's copy of the C loop takes 85 in
 * 83). The rules it follows: an SMLAD issues only as the younger of a pair, after an SXTB16, LDR or CMP it does not
 * depend on; LDRD issues alone. So each SXTB16 sits just before an SMLAD, and a group's weights are loaded and
 * extended while the SMLADs of the group before finish: its last two SMLADs need only v and the rotated weights,
 * so the next group's weight words go to the registers of p0 and u, and their extended halves to those of p1 and
 * w0r. The registers' roles therefore alternate between two assignments, from group A to group B and back:
 *   A: w0r t0, w1r t1, p0 t2, p1 t3, u t4, v t5        B: w0r t2, w1r t4, p0 t0, p1 t3, u t1, v t5
 * (p0 / p1 = SXTB16 of channel c's / c + 1's weight word, w0r / w1r the same rotated by 8, u / v a column's two
 * words). TG_GEMM_QUADS loops over four groups (A B A B) while x != x_end (at least once): the same instructions as
 * the C loop, with the same order of additions per sum. Only the copies for a depth that is a multiple of 8 (`even`)
 * take it: in the others the C code around the asm (odd group, tails) then spills more than the loop saves.
 * It takes 14 registers (the six sums, x, w and six temporaries; x_end is read from memory), all that Thumb has,
 * so it is GCC's only, in builds optimized for speed: clang's allocator does not find them, and builds that
 * keep r7 for a frame pointer or reserve another register (e.g. -fno-omit-frame-pointer: "'asm' operand has
 * impossible constraints") define TG_DSP_NO_ASM. Those builds, and the host (TG_DSP_EMULATE), run the C loop.
 */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__) &&         \
    !defined(__OPTIMIZE_SIZE__) && !defined(TG_DSP_NO_ASM)
/* group A's column 0's last two SMLADs, column 1, column 2's first two SMLADs */
#define TG_GEMM_ASM_A_END                                                                                      \
    "smlad %[a00], %[t5], %[t0], %[a00]\n\t"                                                                   \
    "smlad %[a01], %[t5], %[t1], %[a01]\n\t"                                                                   \
    "ldrd %[t4], %[t5], [%[x]], #8\n\t"                                                                        \
    "smlad %[a10], %[t4], %[t2], %[a10]\n\t"                                                                   \
    "smlad %[a11], %[t4], %[t3], %[a11]\n\t"                                                                   \
    "smlad %[a10], %[t5], %[t0], %[a10]\n\t"                                                                   \
    "smlad %[a11], %[t5], %[t1], %[a11]\n\t"                                                                   \
    "ldrd %[t4], %[t5], [%[x]], #8\n\t"                                                                        \
    "smlad %[a20], %[t4], %[t2], %[a20]\n\t"                                                                   \
    "smlad %[a21], %[t4], %[t3], %[a21]\n\t"
/* the first group (A): columns 2 and 1 first, so that their first SMLADs add the biases still in a00 / a01 */
#define TG_GEMM_ASM_BIAS                                                                                       \
    "ldrd %[t0], %[t1], [%[w]], #8\n\t"                                                                        \
    "ldrd %[t4], %[t5], [%[x], #16]\n\t"                                                                       \
    "sxtb16 %[t2], %[t0]\n\t"                                                                                  \
    "sxtb16 %[t3], %[t1]\n\t"                                                                                  \
    "smlad %[a20], %[t4], %[t2], %[a00]\n\t"                                                                   \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                          \
    "smlad %[a21], %[t4], %[t3], %[a01]\n\t"                                                                   \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                                          \
    "smlad %[a20], %[t5], %[t0], %[a20]\n\t"                                                                   \
    "smlad %[a21], %[t5], %[t1], %[a21]\n\t"                                                                   \
    "ldrd %[t4], %[t5], [%[x], #8]\n\t"                                                                        \
    "smlad %[a10], %[t4], %[t2], %[a00]\n\t"                                                                   \
    "smlad %[a11], %[t4], %[t3], %[a01]\n\t"                                                                   \
    "smlad %[a10], %[t5], %[t0], %[a10]\n\t"                                                                   \
    "smlad %[a11], %[t5], %[t1], %[a11]\n\t"                                                                   \
    "ldrd %[t4], %[t5], [%[x]], #24\n\t"                                                                       \
    "smlad %[a00], %[t4], %[t2], %[a00]\n\t"                                                                   \
    "smlad %[a01], %[t4], %[t3], %[a01]\n\t"
/* group A: its loads, columns 0 and 1, column 2's first two SMLADs */
#define TG_GEMM_ASM_A_FIRST                                                                                    \
    "ldrd %[t0], %[t1], [%[w]], #8\n\t"                                                                        \
    "ldrd %[t4], %[t5], [%[x]], #8\n\t"                                                                        \
    "sxtb16 %[t2], %[t0]\n\t"                                                                                  \
    "sxtb16 %[t3], %[t1]\n\t"                                                                                  \
    "smlad %[a00], %[t4], %[t2], %[a00]\n\t"                                                                   \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                          \
    "smlad %[a01], %[t4], %[t3], %[a01]\n\t"                                                                   \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                                          \
    TG_GEMM_ASM_A_END
/* from group A to B: A's last two SMLADs (on c0 / c1: its column 2's, or 0's for the first group), B's loads and
   columns 0 and 1 */
#define TG_GEMM_ASM_A_TO_B(c0, c1)                                                                             \
    "ldrd %[t2], %[t4], [%[w]], #8\n\t"                                                                        \
    "sxtb16 %[t3], %[t4]\n\t"                                                                                  \
    "smlad %[" #c0 "], %[t5], %[t0], %[" #c0 "]\n\t"                                                           \
    "sxtb16 %[t0], %[t2]\n\t"                                                                                  \
    "smlad %[" #c1 "], %[t5], %[t1], %[" #c1 "]\n\t"                                                           \
    "ldrd %[t1], %[t5], [%[x]], #8\n\t"                                                                        \
    "sxtb16 %[t2], %[t2], ror #8\n\t"                                                                          \
    "smlad %[a00], %[t1], %[t0], %[a00]\n\t"                                                                   \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                                          \
    "smlad %[a01], %[t1], %[t3], %[a01]\n\t"                                                                   \
    "smlad %[a00], %[t5], %[t2], %[a00]\n\t"                                                                   \
    "smlad %[a01], %[t5], %[t4], %[a01]\n\t"                                                                   \
    "ldrd %[t1], %[t5], [%[x]], #8\n\t"                                                                        \
    "smlad %[a10], %[t1], %[t0], %[a10]\n\t"                                                                   \
    "smlad %[a11], %[t1], %[t3], %[a11]\n\t"                                                                   \
    "smlad %[a10], %[t5], %[t2], %[a10]\n\t"                                                                   \
    "smlad %[a11], %[t5], %[t4], %[a11]\n\t"
/* B's column 2, from B to A as from A to B, A's column 1 and column 2's first two SMLADs */
#define TG_GEMM_ASM_B_TO_A                                                                                     \
    "ldrd %[t1], %[t5], [%[x]], #8\n\t"                                                                        \
    "smlad %[a20], %[t1], %[t0], %[a20]\n\t"                                                                   \
    "smlad %[a21], %[t1], %[t3], %[a21]\n\t"                                                                   \
    "ldrd %[t0], %[t1], [%[w]], #8\n\t"                                                                        \
    "sxtb16 %[t3], %[t1]\n\t"                                                                                  \
    "smlad %[a20], %[t5], %[t2], %[a20]\n\t"                                                                   \
    "sxtb16 %[t2], %[t0]\n\t"                                                                                  \
    "smlad %[a21], %[t5], %[t4], %[a21]\n\t"                                                                   \
    "ldrd %[t4], %[t5], [%[x]], #8\n\t"                                                                        \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                                          \
    "smlad %[a00], %[t4], %[t2], %[a00]\n\t"                                                                   \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                                          \
    "smlad %[a01], %[t4], %[t3], %[a01]\n\t"                                                                   \
    TG_GEMM_ASM_A_END
/* B's column 2, the loop test between its SMLADs */
#define TG_GEMM_ASM_LOOP_END                                                                                   \
    "ldrd %[t1], %[t5], [%[x]], #8\n\t"                                                                        \
    "smlad %[a20], %[t1], %[t0], %[a20]\n\t"                                                                   \
    "ldr %[t0], %[end]\n\t"                                                                                    \
    "smlad %[a21], %[t1], %[t3], %[a21]\n\t"                                                                   \
    "cmp %[x], %[t0]\n\t"                                                                                      \
    "smlad %[a20], %[t5], %[t2], %[a20]\n\t"                                                                   \
    "smlad %[a21], %[t5], %[t4], %[a21]\n\t"                                                                   \
    "bne 1b\n\t"
/* the copies of tg_gemm_body whose four-group loop is the asm: those for a depth that is a multiple of 8 */
#define TG_GEMM_ASM_COPY(even) (even)
/* the sums of four groups at a time from the biases in a00 / a01 (a10..a21 are set) */
#define TG_GEMM_QUADS(a00, a01, a10, a11, a20, a21, x, w, x_end)                                               \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t t0, t1, t2, t3, t4, t5;                                                                       \
        __asm__(TG_GEMM_ASM_BIAS TG_GEMM_ASM_A_TO_B(a00, a01) "b 2f\n\t"                                        \
                "1:\n\t" TG_GEMM_ASM_A_FIRST TG_GEMM_ASM_A_TO_B(a20, a21)                                       \
                "2:\n\t" TG_GEMM_ASM_B_TO_A TG_GEMM_ASM_A_TO_B(a20, a21) TG_GEMM_ASM_LOOP_END                   \
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [a20] "=&r"(a20),       \
                  [a21] "=&r"(a21), [x] "+r"(x), [w] "+r"(w), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),   \
                  [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)                                               \
                : [end] "m"(x_end)                                                                             \
                : "cc", "memory");                                                                             \
    } while (0)
#else
#define TG_GEMM_ASM_COPY(even) 0
#endif


/* lo, hi = the next two words of the int32 array p, then p advances by two (one post-indexed LDRD on the
   DSP path: int32 arrays are 4-byte aligned) */
#if TG_DSP
#define TG_NEXT2(lo, hi, p) TG_LDRD_NEXT(lo, hi, p)
#else
#define TG_NEXT2(lo, hi, p)                                                                                    \
    do                                                                                                         \
    {                                                                                                          \
        (lo) = (p)[0];                                                                                         \
        (hi) = (p)[1];                                                                                         \
        (p) += 2;                                                                                              \
    } while (0)
#endif

/*
 * tg_rq_sat8(tg_rq_fast(acc, m, hk, e1)) (tg_requant_fast.h), with the 64-bit constant built by OR instead
 * of addition (equal: its low word is below 2^32 and its high word's low half is zero), which lets GCC use
 * the two words directly as SMLAL's accumulator instead of adding them with carries.
 */
TG_INLINE int32_t tg_gemm_rq(int32_t acc, int32_t m, int32_t hk, int32_t e1)
{
#if TG_SINGLE_ROUNDING
    const uint32_t lo = 0u;
    const uint32_t hi = (uint32_t)hk;
#else
    const uint32_t lo = ((uint32_t)acc & UINT32_C(0x80000000)) | UINT32_C(0x40000000);
    const uint32_t hi = (uint32_t)hk - ((uint32_t)acc >> 31);
#endif
    const uint64_t s = (((uint64_t)hi << 32) | lo) + (uint64_t)((int64_t)acc * (int64_t)m);
    /* arithmetic shift of the high word (two's complement, as tg_rq_fast's int64 shift) */
    const int32_t high = (int32_t)(uint32_t)(s >> 32);
    return high >> e1;
}

/* one output of a fast channel: saturated to int8 when `sat` (a literal: TG_RQ_FAST_FULL, one SSAT; or a block
   that tg_gemm_clamp clamps to the activation afterwards), else clamped to act_min..act_max here */
TG_INLINE int8_t tg_gemm_out(int32_t acc, int32_t m, int32_t hk, int32_t e1, const int sat, int32_t act_min,
                             int32_t act_max)
{
    const int32_t v = tg_gemm_rq(acc, m, hk, e1);
    return (int8_t)(sat ? tg_rq_sat8(v) : TG_CLAMP(v, act_min, act_max));
}

/* the tails of channels c (wc) and c + 1 (wd) against T0 / T1 of column j at tt (tg_conv_gemm_s8.h) */
#if TG_DSP
#define TG_GEMM_TAIL(ACC0, ACC1, OFF)                                                                          \
    do                                                                                                         \
    {                                                                                                          \
        uint32_t u, v;                                                                                         \
        TG_LDRD(u, v, tt, OFF);                                                                                \
        ACC0 = tg_smlad((int32_t)u, wa02, ACC0);                                                               \
        ACC0 = tg_smlad((int32_t)v, (int32_t)wa, ACC0);                                                        \
        TG_LDRD(u, v, tt, OFF + 8);                                                                            \
        ACC1 = tg_smlad((int32_t)u, wb02, ACC1);                                                               \
        ACC1 = tg_smlad((int32_t)v, (int32_t)wb, ACC1);                                                        \
    } while (0)
#else
#define TG_GEMM_TAIL(ACC0, ACC1, OFF)                                                                          \
    do                                                                                                         \
    {                                                                                                          \
        int32_t i;                                                                                             \
        for (i = 0; i < 4; ++i)                                                                                \
        {                                                                                                      \
            ACC0 += tt[(OFF) / 2 + i] * wc[i];                                                                 \
            ACC1 += tt[(OFF) / 2 + 4 + i] * wd[i];                                                             \
        }                                                                                                      \
    } while (0)
#endif

/*
 * The whole GEMM. `full` (TG_RQ_FAST_FULL), `wal` (weights 4-byte aligned: LDRD) and `even` (depth a
 * multiple of 8: no odd group, no tail) are literals at each call below, so the compiler emits one lean
 * copy per combination. Columns past `cols` are copies of the last real one, so their results equal
 * its results: they are written to the same bytes (o1, o2) instead of being branched around.
 */
TG_INLINE void tg_gemm_body(const int16_t *block, int32_t cols, int32_t depth, const int8_t *weights,
                            const int32_t *params, int32_t out_ch, int32_t output_offset,
                            int32_t act_min, int32_t act_max, int8_t *out, int32_t out_stride, const int full,
                            const int wal, const int even)
{
    const int32_t groups = depth >> 2;
    const int32_t tail = even ? 0 : depth & 3;
    const int16_t *tt = block + 4 * TG_CONV_COLS * groups; /* T0 / T1 of every column */
    const int32_t o1 = cols > 1 ? out_stride : 0;
    const int32_t o2 = cols > 2 ? 2 * out_stride : o1;
    int8_t *const out_end = out + (out_ch & ~1);
    const int8_t *w = weights;
    /* the channel pairs' tails, after every pair's groups (then an odd last channel's row) */
    const int8_t *wt = weights + (out_ch >> 1) * 8 * groups;
    const int32_t *prm = params;
#if TG_DSP
    const int16_t *const x_end = block + 4 * TG_CONV_COLS * (groups & ~1);
    const int16_t *const x_end4 = block + 4 * TG_CONV_COLS * (groups & ~3);
#endif
    while (out != out_end)
    {
        const int16_t *x = block;
        int32_t a00, a01, a10, a11, a20, a21;
#if !TG_DSP
        int32_t r;
#endif
        TG_NEXT2(a00, a01, prm); /* the biases */
#if defined(TG_GEMM_QUADS)
        if (TG_GEMM_ASM_COPY(even) && x != x_end4)
        {
            TG_GEMM_QUADS(a00, a01, a10, a11, a20, a21, x, w, x_end4);
        }
        else
#endif
        {
            a10 = a00;
            a11 = a01;
            a20 = a00;
            a21 = a01;
        }
#if TG_DSP
        /* two groups per iteration (four while at least four remain, unless the asm has run them) */
        if (wal)
        {
            while (!TG_GEMM_ASM_COPY(even) && x != x_end4)
            {
                TG_GEMM_GROUP(TG_LDRD_NEXT);
                TG_GEMM_GROUP(TG_LDRD_NEXT);
                TG_GEMM_GROUP(TG_LDRD_NEXT);
                TG_GEMM_GROUP(TG_LDRD_NEXT);
            }
            if (x != x_end)
            {
                TG_GEMM_GROUP(TG_LDRD_NEXT);
                TG_GEMM_GROUP(TG_LDRD_NEXT);
            }
        }
        else
        {
            while (x != x_end)
            {
                TG_GEMM_GROUP(TG_LDR2_NEXT);
                TG_GEMM_GROUP(TG_LDR2_NEXT);
            }
        }
        if (!even && (groups & 1) && wal)
        {
            TG_GEMM_GROUP(TG_LDRD_NEXT);
        }
        else if (!even && (groups & 1))
        {
            TG_GEMM_GROUP(TG_LDR2_NEXT);
        }
#else
        (void)wal;
        for (r = groups; r > 0; --r)
        {
            int32_t i;
            for (i = 0; i < 4; ++i)
            {
                a00 += x[i] * w[i];
                a01 += x[i] * w[4 + i];
                a10 += x[4 + i] * w[i];
                a11 += x[4 + i] * w[4 + i];
                a20 += x[8 + i] * w[i];
                a21 += x[8 + i] * w[4 + i];
            }
            w += 8;
            x += 4 * TG_CONV_COLS;
        }
#endif
        if (tail != 0 && depth > 1)
        {
            /* the tails as one more group: T0 / T1 of every column times the two weight words */
            const int8_t *wc = wt + tg_tail_word(tail, 0);
            const int8_t *wd = wt + tg_tail_word(tail, 1);
#if TG_DSP
            uint32_t wa = tg_load32(wc), wb = tg_load32(wd);
            const int32_t wa02 = tg_sxtb16(wa), wb02 = tg_sxtb16(wb);
            wa = (uint32_t)tg_sxtb16_ror8(wa);
            wb = (uint32_t)tg_sxtb16_ror8(wb);
#endif
            TG_GEMM_TAIL(a00, a01, 0);
            TG_GEMM_TAIL(a10, a11, 16);
            TG_GEMM_TAIL(a20, a21, 32);
        }
        else if (tail != 0)
        {
            /* depth 1: one value per column, at position tg_tail_pos(1, d, 0) */
            const int32_t slot = tg_group_slot(tg_tail_pos(1, 0, 0));
            a00 += tt[slot] * wt[0];
            a01 += tt[slot] * wt[1];
            a10 += tt[8 + slot] * wt[0];
            a11 += tt[8 + slot] * wt[1];
            a20 += tt[16 + slot] * wt[0];
            a21 += tt[16 + slot] * wt[1];
        }
        wt += 2 * tail;
        if (full || (prm[2] != 0 && prm[5] != 0))
        {
            /* TG_RQ_FAST_FULL, or both channels in the fast form (every pair of a TG_RQ_FAST layer) */
            const int sat = full || TG_DSP; /* the DSP path clamps a GEMM_ANY block after it (tg_gemm_clamp) */
            int32_t m0, h0, e0, m1, h1, e1;
            TG_NEXT2(m0, h0, prm);
            TG_NEXT2(e0, m1, prm);
            TG_NEXT2(h1, e1, prm);
            out[o2] = tg_gemm_out(a20, m0, h0, e0, sat, act_min, act_max);
            out[o2 + 1] = tg_gemm_out(a21, m1, h1, e1, sat, act_min, act_max);
            out[o1] = tg_gemm_out(a10, m0, h0, e0, sat, act_min, act_max);
            out[o1 + 1] = tg_gemm_out(a11, m1, h1, e1, sat, act_min, act_max);
            out[0] = tg_gemm_out(a00, m0, h0, e0, sat, act_min, act_max);
            out[1] = tg_gemm_out(a01, m1, h1, e1, sat, act_min, act_max);
        }
        else
        {
            /* per channel: a general layer, or a pair of a mixed layer (TG_RQ_MIXED) with a general channel */
            out[o2] = tg_rq_chan(a20, prm, output_offset, act_min, act_max);
            out[o2 + 1] = tg_rq_chan(a21, prm + 3, output_offset, act_min, act_max);
            out[o1] = tg_rq_chan(a10, prm, output_offset, act_min, act_max);
            out[o1 + 1] = tg_rq_chan(a11, prm + 3, output_offset, act_min, act_max);
            out[0] = tg_rq_chan(a00, prm, output_offset, act_min, act_max);
            out[1] = tg_rq_chan(a01, prm + 3, output_offset, act_min, act_max);
            prm += 6;
        }
        out += 2;
    }
}

#if TG_DSP && TG_VARIANT(GEMM_ANY)
/* the block's outputs (the first `cols` rows of n bytes, out_stride apart) clamped to act_min..act_max, four at a
   time (tg_clamp_s8x4): the activation of the fast pairs of a GEMM_ANY call, which only saturate to int8; the
   other outputs are already inside, so clamping them again changes nothing */
static void tg_gemm_clamp(int8_t *out, int32_t cols, int32_t n, int32_t out_stride, int32_t act_min, int32_t act_max)
{
    const uint32_t lo4 = (uint32_t)(uint8_t)act_min * UINT32_C(0x01010101);
    const uint32_t hi4 = (uint32_t)(uint8_t)act_max * UINT32_C(0x01010101);
    int32_t j;
    for (j = 0; j < cols; ++j, out += out_stride)
    {
        int8_t *p = out;
        int8_t *const end4 = out + (n & ~3);
        int8_t *const end = out + n;
        for (; p != end4; p += 4)
        {
            tg_store32(p, (int32_t)tg_clamp_s8x4(tg_load32(p), lo4, hi4));
        }
        for (; p != end; ++p)
        {
            *p = (int8_t)TG_CLAMP(*p, act_min, act_max);
        }
    }
}
#endif

/*
 * An odd last channel (natural weight row; params: its bias, then its three rq values) for the first `cols`
 * columns: cold (once per block), so one small copy shared by the specialisations, compiled when a call
 * has an odd out_ch (specialisation GEMM_ODD_CH).
 */
#if TG_VARIANT(GEMM_ODD_CH)
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void tg_gemm_last_channel(const int16_t *block, int32_t cols, int32_t depth, const int8_t *w,
                                 const int32_t *prm, int32_t output_offset, int32_t act_min,
                                 int32_t act_max, int8_t *out, int32_t out_stride)
{
    const int16_t *tt = block + 4 * TG_CONV_COLS * (depth >> 2);
    int32_t j;
    for (j = 0; j < cols; ++j)
    {
        const int16_t *x = block + 4 * j;
        const int8_t *wr = w;
        int32_t a = prm[0];
        int32_t g, r;
        for (g = depth >> 2; g > 0; --g)
        {
            for (r = 0; r < 4; ++r)
            {
                a += x[tg_group_slot(r)] * wr[r];
            }
            wr += 4;
            x += 4 * TG_CONV_COLS;
        }
        for (r = 0; r < (depth & 3); ++r)
        {
            a += tt[8 * j + tg_group_slot(tg_tail_pos(depth & 3, 0, r))] * wr[r];
        }
        out[j * out_stride] = tg_rq_chan(a, prm + 1, output_offset, act_min, act_max);
    }
}
#endif

/*
 * The specialisations of tg_gemm_body a library compiles (TG_VARIANT, tg_common.h), chosen per call by
 * gemm_variants() in tinygen/lowering/mac_ops.py, which mirrors this dispatch exactly:
 *   GEMM_FULL_EVEN  mode TG_RQ_FAST_FULL and depth % 8 == 0
 *   GEMM_FULL       mode TG_RQ_FAST_FULL, other depths
 *   GEMM_ANY        the other modes (TG_RQ_FAST, TG_RQ_GENERAL, TG_RQ_MIXED: the form per channel)
 *   GEMM_ODD_CH     out_ch odd (as well as one of the above: the channel pairs)
 * Weights that are not 4-byte aligned take a copy compiled only without a config header (kernel tests):
 * an emitted library's weight arrays are 16-byte aligned. Each test below is replaced by 1 when no more
 * general copy is compiled, so the chain always ends in a compiled copy (the trap after it is dead code, there
 * so that the chain can never end in nothing: TG_UNREACHABLE, tg_common.h). A library without GEMM_ODD_CH
 * traps once per layer, in its callers tg_conv_s8 / tg_conv_1x1_s8, on an odd out_ch (tested there, not
 * per block here).
 */
#if !(TG_VARIANT(GEMM_FULL_EVEN) || TG_VARIANT(GEMM_FULL) || TG_VARIANT(GEMM_ANY))
#error "tg_conv_gemm_s8: no specialisation selected (TG_VARIANT_GEMM_*): see gemm_variants() in mac_ops.py"
#endif
#if TG_VARIANT(GEMM_ANY)
#define TG_GEMM_IS_FULL(mode) ((mode) == TG_RQ_FAST_FULL)
#else
#define TG_GEMM_IS_FULL(mode) 1
#endif
#if TG_VARIANT(GEMM_ANY) || TG_VARIANT(GEMM_FULL)
#define TG_GEMM_IS_EVEN(depth) (((depth) & 7) == 0)
#else
#define TG_GEMM_IS_EVEN(depth) 1
#endif

void tg_conv_gemm_s8(const int16_t *block, int32_t cols, int32_t depth, const int8_t *weights,
                     const int32_t *params, int32_t mode, int32_t out_ch, int32_t output_offset, int32_t act_min,
                     int32_t act_max, int8_t *out, int32_t out_stride)
{
    const int32_t pairs = out_ch & ~1;
    (void)mode; /* unused when only the TG_RQ_FAST_FULL copies are compiled */
    /* every channel pair's groups start 8-byte aligned when the array does (the lowering aligns it) */
#if !TG_SELECTED_VARIANTS
    if (((uintptr_t)weights & 3u) != 0)
    {
        tg_gemm_body(block, cols, depth, weights, params, pairs, output_offset, act_min, act_max, out,
                     out_stride, 0, 0, 0);
    }
    else
#endif
#if TG_VARIANT(GEMM_FULL_EVEN)
    if (TG_GEMM_IS_FULL(mode) && TG_GEMM_IS_EVEN(depth))
    {
        TG_TRACE_VARIANT(GEMM_FULL_EVEN);
        tg_gemm_body(block, cols, depth, weights, params, pairs, output_offset, act_min, act_max, out,
                     out_stride, 1, 1, 1);
    }
    else
#endif
#if TG_VARIANT(GEMM_FULL)
    if (TG_GEMM_IS_FULL(mode))
    {
        TG_TRACE_VARIANT(GEMM_FULL);
        tg_gemm_body(block, cols, depth, weights, params, pairs, output_offset, act_min, act_max, out,
                     out_stride, 1, 1, 0);
    }
    else
#endif
    {
#if TG_VARIANT(GEMM_ANY)
        TG_TRACE_VARIANT(GEMM_ANY);
        tg_gemm_body(block, cols, depth, weights, params, pairs, output_offset, act_min, act_max, out,
                     out_stride, 0, 1, 0);
#if TG_DSP
        if (act_min != -128 || act_max != 127)
        {
            tg_gemm_clamp(out, cols, pairs, out_stride, act_min, act_max);
        }
#endif
#else
        TG_UNREACHABLE(); /* dead: the last compiled copy's test above is 1 */
#endif
    }
#if TG_VARIANT(GEMM_ODD_CH)
    if (out_ch & 1)
    {
        TG_TRACE_VARIANT(GEMM_ODD_CH);
        tg_gemm_last_channel(block, cols, depth, weights + pairs * depth, params + 4 * pairs, output_offset,
                             act_min, act_max, out + pairs, out_stride);
    }
#endif
}
