/* tg_conv_mve_s8: see tg_conv_mve_s8.h */
#include "tg_conv_mve_s8.h"

#include "tg_mve_s8.h"

/* The geometry the window copy needs (one struct: fewer live registers in the pixel loop) */
typedef struct
{
    int32_t in_h, in_w, in_c, kh, kw, dil_h, dil_w, row_bytes, in_row;
    int8_t pad;
} tg_conv_mve_geom_t;

/* The kw taps of one kernel row with dilated columns into col (kw * in_c values); row = the input row */
static void tg_conv_mve_row(int8_t *col, const int8_t *row, const tg_conv_mve_geom_t *g, int32_t x0)
{
    int32_t kx;
    for (kx = 0; kx < g->kw; ++kx)
    {
        const int32_t x = x0 + kx * g->dil_w;
        if (x >= 0 && x < g->in_w)
        {
            tg_mve_copy_s8(col, row + x * g->in_c, g->in_c);
        }
        else
        {
            tg_mve_fill_s8(col, g->pad, g->in_c);
        }
        col += g->in_c;
    }
}

/* `runs` runs of n bytes, `gap` bytes apart in src (from one run's end to the next one's start), one after the
   other into dst */
TG_INLINE void tg_conv_mve_copy_runs(int8_t *dst, const int8_t *src, int32_t runs, int32_t n, int32_t gap)
{
    for (; runs > 0; --runs)
    {
        tg_mve_copy_s8(dst, src, n);
        dst += n;
        src += n + gap;
    }
}

/* The windows of `n` output pixels `step` bytes apart in src, each `runs` runs of `bytes` (a multiple of 16) `gap`
   bytes apart: one after the other into dst, which they fill without gaps (d16 = runs * bytes). On the target one
   assembly loop (a WLSTP/LETP loop per run; GCC reloads the loop constants from the stack around each
   tg_mve_copy_s8); not inlined: the caller's register allocation stays as it is for its other paths. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__))
static TG_MVE_NOINLINE void tg_conv_mve_copy_windows16(int8_t *dst, const int8_t *src, int32_t n, int32_t step,
                                                       int32_t runs, int32_t bytes, int32_t gap)
{
    const int8_t *s;
    int32_t k;
    __asm__ volatile("1: mov %[s], %[src]\n"
                     "mov %[k], %[runs]\n"
                     "2: wlstp.8 lr, %[bytes], 3f\n"
                     "4: vldrb.8 q0, [%[s]], #16\n"
                     "vstrb.8 q0, [%[dst]], #16\n"
                     "letp lr, 4b\n"
                     "3: add %[s], %[s], %[gap]\n"
                     "subs %[k], %[k], #1\n"
                     "bne 2b\n"
                     "add %[src], %[src], %[step]\n"
                     "subs %[n], %[n], #1\n"
                     "bne 1b"
                     : [dst] "+r"(dst), [src] "+r"(src), [n] "+r"(n), [s] "=&r"(s), [k] "=&r"(k)
                     : [runs] "r"(runs), [bytes] "r"(bytes), [gap] "r"(gap), [step] "r"(step)
                     : "lr", "q0", "cc", "memory");
}
#else
static void tg_conv_mve_copy_windows16(int8_t *dst, const int8_t *src, int32_t n, int32_t step, int32_t runs,
                                       int32_t bytes, int32_t gap)
{
    for (; n > 0; --n)
    {
        tg_conv_mve_copy_runs(dst, src, runs, bytes, gap);
        dst += runs * bytes;
        src += step;
    }
}
#endif

/* Windows of at most TG_CONV_MVE_GATHER_MAX values whose taps lie within 256 bytes of their first are
   gathered (one VLDRB gather per 16 values) instead of copied run by run */
#define TG_CONV_MVE_GATHER_MAX 64

/* offs[t] = the offset of window value t from the window's first (kernel row, column, channel order; 0 past
   depth, where the weights are 0); whether every offset fits a byte (then the gather applies) */
static int tg_conv_mve_gather_offsets(uint8_t *offs, int32_t d16, int32_t depth, const tg_conv_mve_geom_t *g)
{
    int32_t t;
    if (d16 > TG_CONV_MVE_GATHER_MAX || g->dil_w != 1)
    {
        return 0;
    }
    for (t = 0; t < d16; ++t)
    {
        const int32_t ky = t / g->row_bytes;
        const int32_t off = t < depth ? ky * g->dil_h * g->in_row + t % g->row_bytes : 0;
        if (off > 255)
        {
            return 0;
        }
        offs[t] = (uint8_t)off;
    }
    return 1;
}

/* The windows of n output pixels inside the image, `step` bytes apart from src (the first's top-left tap), into
   the columns from col: gathered (offs) or copied as kh runs of a kernel row's bytes */
static void tg_conv_mve_interior(int8_t *col, const int8_t *src, int32_t n, int32_t step, int32_t d16,
                                 const tg_conv_mve_geom_t *g, const uint8_t *offs, int32_t gather)
{
    const int32_t gap = g->dil_h * g->in_row - g->row_bytes;
    if (gather) /* d16 / 16 gathers (at most 4), the offsets loaded once */
    {
        const uint8x16_t o0 = vldrbq_u8(offs);
        const uint8x16_t o1 = vldrbq_u8(offs + TG_MVE_STEP * (d16 > 16));
        const uint8x16_t o2 = vldrbq_u8(offs + TG_MVE_STEP * 2 * (d16 > 32));
        const uint8x16_t o3 = vldrbq_u8(offs + TG_MVE_STEP * 3 * (d16 > 48));
        for (; n > 0; --n)
        {
            vstrbq_s8(col, vldrbq_gather_offset_s8(src, o0));
            if (d16 > 16)
            {
                vstrbq_s8(col + 16, vldrbq_gather_offset_s8(src, o1));
                if (d16 > 32)
                {
                    vstrbq_s8(col + 32, vldrbq_gather_offset_s8(src, o2));
                    if (d16 > 48)
                    {
                        vstrbq_s8(col + 48, vldrbq_gather_offset_s8(src, o3));
                    }
                }
            }
            col += d16;
            src += step;
        }
    }
    else if ((g->row_bytes & 15) == 0)
    {
        tg_conv_mve_copy_windows16(col, src, n, step, g->kh, g->row_bytes, gap);
    }
    else
    {
        for (; n > 0; --n)
        {
            tg_conv_mve_copy_runs(col, src, g->kh, g->row_bytes, gap);
            col += d16;
            src += step;
        }
    }
}

/* The window of an output pixel at the image border, top-left tap (y0, x0), into col: padded taps = pad. Without
   dilated columns: the window filled with pad, then the part of each kernel row inside the image (the same
   taps in every row) copied over it. */
static TG_MVE_NOINLINE void tg_conv_mve_window(int8_t *col, const int8_t *image, int32_t y0, int32_t x0,
                                               const tg_conv_mve_geom_t *g)
{
    int32_t ky;
    if (g->dil_w == 1)
    {
        const int32_t first = TG_MAX(0, -x0);             /* taps left of the image */
        const int32_t last = TG_MIN(g->kw, g->in_w - x0); /* taps up to the right edge */
        const int32_t bytes = (last - first) * g->in_c;
        tg_mve_fill_s8(col, g->pad, g->kh * g->row_bytes);
        if (bytes <= 0)
        {
            return;
        }
        col += first * g->in_c;
        image += (x0 + first) * g->in_c;
        for (ky = 0; ky < g->kh; ++ky)
        {
            const int32_t y = y0 + ky * g->dil_h;
            if (y >= 0 && y < g->in_h)
            {
                tg_mve_copy_s8(col, image + y * g->in_row, bytes);
            }
            col += g->row_bytes;
        }
        return;
    }
    for (ky = 0; ky < g->kh; ++ky)
    {
        const int32_t y = y0 + ky * g->dil_h;
        if (y >= 0 && y < g->in_h)
        {
            tg_conv_mve_row(col, image + y * g->in_row, g, x0);
        }
        else
        {
            tg_mve_fill_s8(col, g->pad, g->row_bytes);
        }
        col += g->row_bytes;
    }
}

/* A conv call's arguments of the assembly GEMM, set once per call (tg_conv_mve_gemm_init) but for the block's
   columns and outputs; its variant: 0 = none (tg_mve_gemm_columns), 1 = "right" ("single"), 2 = "any".
   The assembly reads the first 112 bytes (their offsets are in it; the first 44 become its stack frame). */
typedef struct
{
    int8_t *out_end;          /* 0: the end of the current pair's outputs of column 0 */
    const int8_t *x0;         /* 4: the current pair's columns */
    const int8_t *x1;         /* 8 */
    int32_t rest;             /* 12: steps of 16 after the first */
    int32_t pairs;            /* 16: pairs left */
    const int8_t *weights;    /* 20 */
    const int32_t *params;    /* 24 */
    int32_t col_advance;      /* 28: bytes from one pair's columns to the next's */
    int32_t out_advance;      /* 32: from a pair's out_end to the next pair's outputs (out_c) */
    int32_t out_bytes;        /* 36: out_c */
    int8_t *out;              /* 40: the first pair's outputs */
    int32_t unused;           /* 44 */
    int16_t lo[8];            /* 48: act_min */
    int16_t hi[8];            /* 64: act_max */
    uint16_t interleave[8];   /* 80: {0, out_c, 1, out_c + 1, ...} */
    int16_t offset[8];        /* 96: out_offset */
    int32_t d16, out_c;
} tg_conv_mve_gemm_t;

/*
 * The GEMM of a block's column pairs in one assembly routine (optimized target builds, double rounding, out_c a
 * multiple of 4): per pair of columns, per quad of output channels, the eight sums (the first step of 16 by
 * VMLADAV, which needs no initial accumulator; then (steps - 1) % 4 steps by VMLADAVA, entered by one load of
 * the PC at the address computed once per call (each step is 14 four-byte instructions), then loops of four
 * steps, whose count is also fixed per call: as TG_MVE_PAIR_MACS otherwise), the bias added in vectors, the
 * requantization of tg_mve_requant_store_pair and its scatter store, all in the registers the loop leaves free:
 * the quad loop's pointers and counts stay in registers or one stack frame instead of being spilled and reloaded
 * around the C code's inline assembly. Variants of the requantization:
 * with double rounding "right" for layers whose every channel shifts right (no left shift, the sign fix-up
 * needs no mask), "any" for the rest (tg_mve_requant_store_pair's arithmetic); with single rounding "single"
 * for layers whose every channel shifts right (the others take the C GEMM): VQDMULH, then VRSHL by the shift,
 * exact: floor((floor(x * m / 2^31) + 2^(r-1)) / 2^r) = floor((x * m + 2^(30+r)) / 2^(31+r)), TFLite's
 * single rounding with total shift 31 + r (VQDMULH saturates only for x = m = INT32_MIN, and m >= 0).
 */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && (defined(__GNUC__) || defined(__clang__)) &&         \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__) && !defined(TG_MVE_NO_ASM)
#define TG_CONV_MVE_PAIRS_ASM 1


/* one step of 16 for both columns, accumulating (TG_MVE_PAIR_STEP's registers: x0 r1, x1 r3, weights r5) */
#define TG_CONV_MVE_STEP(op)                                                                                   \
    "vldrb.8 q0, [r1], #16\n"                                                                                 \
    "vldrb.8 q2, [r5], #16\n"                                                                                 \
    "vldrb.8 q1, [r3], #16\n" op " r0, q0, q2\n"                                                              \
    "vldrb.8 q3, [r5], #16\n" op " r8, q1, q2\n" op " r2, q0, q3\n"                                            \
    "vldrb.8 q2, [r5], #16\n" op " r10, q1, q3\n" op " r4, q0, q2\n"                                           \
    "vldrb.8 q3, [r5], #16\n" op " r12, q1, q2\n" op " r6, q0, q3\n" op " lr, q1, q3\n"

/* The sign fix-up of RoundingDivideByPOT (tg_mve_s8.h) of q0 and q1, q2 = -right: "right" (every shift is
   right: the fix-up is the sign) or "any" (masked by -right, 0 where the channel does not shift right) */
#define TG_CONV_MVE_FIX_right                                                                                  \
    "vshr.s32 q3, q0, #31\n"                                                                                  \
    "vqadd.s32 q0, q0, q3\n"                                                                                  \
    "vshr.s32 q3, q1, #31\n"                                                                                  \
    "vqadd.s32 q1, q1, q3\n"
#define TG_CONV_MVE_FIX_any                                                                                    \
    "vand q3, q0, q2\n"                                                                                       \
    "vshr.s32 q3, q3, #31\n"                                                                                  \
    "vqadd.s32 q0, q0, q3\n"                                                                                  \
    "vand q3, q1, q2\n"                                                                                       \
    "vshr.s32 q3, q3, #31\n"                                                                                  \
    "vqadd.s32 q1, q1, q3\n"
#define TG_CONV_MVE_FIX_single ""
/* the left shift (params + 8), "any" only */
#define TG_CONV_MVE_LEFT_right ""
#define TG_CONV_MVE_LEFT_single ""
/* the multiply: SaturatingRoundingDoublingHighMul (double rounding) or the doubling high half (single) */
#define TG_CONV_MVE_MUL_right "vqrdmulh.s32"
#define TG_CONV_MVE_MUL_any "vqrdmulh.s32"
#define TG_CONV_MVE_MUL_single "vqdmulh.s32"
#define TG_CONV_MVE_LEFT_any                                                                                   \
    "vldrw.u32 q2, [r9, #32]\n"                                                                               \
    "vshl.s32 q0, q0, q2\n"                                                                                   \
    "vshl.s32 q1, q1, q2\n"

/* Registers: sums of column 0 r0 r2 r4 r6, of column 1 r8 r10 r12 lr (VMLADAV's even registers), x0 r1, x1 r3,
   weights r5, steps r7, params r9, outputs r11; q4 lo, q5 hi, q6 interleave, q7 out_offset (int16 lanes) */
#define TG_CONV_MVE_PAIRS_ROUTINE(kind)                                                                       \
    static TG_MVE_NOINLINE void tg_conv_mve_pairs_##kind(const tg_conv_mve_gemm_t *args)                      \
    {                                                                                                         \
        register const tg_conv_mve_gemm_t *a_ __asm__("r0") = args;                                           \
        __asm__ volatile(                                                                                     \
            "vldrh.u16 q4, [r0, #48]\n"                                                                       \
            "vldrh.u16 q5, [r0, #64]\n"                                                                       \
            "vldrh.u16 q6, [r0, #80]\n"                                                                       \
            "vldrh.u16 q7, [r0, #96]\n"                                                                       \
            "ldm r0, {r1-r11}\n" /* (r11: the first pair's outputs) */                                        \
            "push {r1-r11}\n"                                                                                 \
            "ldr r0, [sp, #12]\n" /* the steps after the first: rest % 4 single ones, then fours */           \
            "and r2, r0, #3\n"                                                                                \
            "rsb r2, r2, #3\n"                                                                                \
            "movs r4, #56\n" /* bytes per step (14 instructions of 4 bytes) */                                \
            "mul r2, r2, r4\n"                                                                                \
            "lsrs r0, r0, #2\n"                                                                               \
            "str r0, [sp, #12]\n" /* the loops of four steps */                                               \
            "adr r4, 9f\n" /* no loop: the single steps before the branch to the requantization */            \
            "cbz r0, 10f\n"                                                                                   \
            "adr r4, 8f\n" /* else the single steps before the loop */                                        \
            "10: add r2, r2, r4\n"                                                                            \
            "orr r2, r2, #1\n" /* (a Thumb address) */                                                        \
            "str r2, [sp, #40]\n" /* where each quad continues after its first step */                        \
            "4: ldr r5, [sp, #20]\n" /* a pair: the first quad's weights and params */                        \
            "ldr r9, [sp, #24]\n"                                                                             \
            "5: ldrd r1, r3, [sp, #4]\n" /* a quad */                                                         \
            "ldr r7, [sp, #12]\n"                                                                             \
            TG_CONV_MVE_STEP("vmladav.s8")                                                                    \
            "ldr pc, [sp, #40]\n"                                                                             \
            "9: " TG_CONV_MVE_STEP("vmladava.s8") TG_CONV_MVE_STEP("vmladava.s8")                             \
            TG_CONV_MVE_STEP("vmladava.s8")                                                                   \
            "b 3f\n"                                                                                          \
            "8: " TG_CONV_MVE_STEP("vmladava.s8") TG_CONV_MVE_STEP("vmladava.s8")                             \
            TG_CONV_MVE_STEP("vmladava.s8")                                                                   \
            "1: " TG_CONV_MVE_STEP("vmladava.s8") TG_CONV_MVE_STEP("vmladava.s8")                             \
            TG_CONV_MVE_STEP("vmladava.s8") TG_CONV_MVE_STEP("vmladava.s8")                                   \
            "subs r7, r7, #1\n"                                                                               \
            "bne 1b\n"                                                                                        \
            "3: vmov q0[2], q0[0], r0, r4\n"                                                                  \
            "vmov q0[3], q0[1], r2, r6\n"                                                                     \
            "vmov q1[2], q1[0], r8, r12\n"                                                                    \
            "vmov q1[3], q1[1], r10, lr\n"                                                                    \
            "vldrw.u32 q2, [r9]\n" /* bias */                                                                 \
            "vadd.i32 q0, q0, q2\n"                                                                           \
            "vadd.i32 q1, q1, q2\n"                                                                           \
            TG_CONV_MVE_LEFT_##kind                                                                           \
            "vldrw.u32 q2, [r9, #16]\n" /* multiplier */                                                      \
            TG_CONV_MVE_MUL_##kind " q0, q0, q2\n"                                                            \
            TG_CONV_MVE_MUL_##kind " q1, q1, q2\n"                                                            \
            "vldrw.u32 q2, [r9, #48]\n" /* -right */                                                          \
            TG_CONV_MVE_FIX_##kind                                                                            \
            "vrshl.s32 q0, q0, q2\n"                                                                          \
            "vrshl.s32 q1, q1, q2\n"                                                                          \
            "vqmovnb.s32 q3, q0\n"                                                                            \
            "vqmovnt.s32 q3, q1\n"                                                                            \
            "vqadd.s16 q3, q3, q7\n"                                                                          \
            "vmax.s16 q3, q3, q4\n"                                                                           \
            "vmin.s16 q3, q3, q5\n"                                                                           \
            "vstrb.16 q3, [r11, q6]\n"                                                                        \
            "adds r11, r11, #4\n"                                                                             \
            "adds r9, r9, #64\n"                                                                              \
            "ldr r0, [sp]\n"                                                                                  \
            "cmp r11, r0\n"                                                                                   \
            "bne 5b\n"                                                                                        \
            "ldr r0, [sp, #16]\n" /* the next pair */                                                         \
            "subs r0, r0, #1\n"                                                                               \
            "beq 6f\n"                                                                                        \
            "str r0, [sp, #16]\n"                                                                             \
            "ldrd r1, r3, [sp, #4]\n"                                                                         \
            "ldrd r2, r4, [sp, #28]\n"                                                                        \
            "add r1, r1, r2\n"                                                                                \
            "add r3, r3, r2\n"                                                                                \
            "strd r1, r3, [sp, #4]\n"                                                                         \
            "add r11, r11, r4\n"                                                                              \
            "ldr r4, [sp, #36]\n"                                                                             \
            "add r0, r11, r4\n"                                                                               \
            "str r0, [sp]\n"                                                                                  \
            "b 4b\n"                                                                                          \
            "6: add sp, sp, #44\n"                                                                            \
            : "+r"(a_)                                                                                        \
            :                                                                                                 \
            : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "q0", "q1", "q2", \
              "q3", "q4", "q5", "q6", "q7", "cc", "memory");                                                  \
    }
#if TG_SINGLE_ROUNDING
TG_CONV_MVE_PAIRS_ROUTINE(single)
#define tg_conv_mve_pairs_right tg_conv_mve_pairs_single
#else
TG_CONV_MVE_PAIRS_ROUTINE(right)
TG_CONV_MVE_PAIRS_ROUTINE(any)
#endif

/* Whether every output channel shifts right (no left shift, -right < 0): the "right" routine applies */
static int tg_conv_mve_all_right(const int32_t *params, int32_t quads)
{
    int32_t q, i;
    for (q = 0; q < quads; ++q)
    {
        for (i = 0; i < 4; ++i)
        {
            if (params[q * TG_MVE_QUAD_PARAMS + 8 + i] != 0 || params[q * TG_MVE_QUAD_PARAMS + 12 + i] >= 0)
            {
                return 0;
            }
        }
    }
    return 1;
}
#else
#define TG_CONV_MVE_PAIRS_ASM 0
#endif

/* The assembly GEMM's arguments of a conv call (the columns and outputs of each block are set by
   tg_conv_mve_gemm), when it applies; returns the call's variant (tg_conv_mve_gemm_t) */
TG_INLINE int32_t tg_conv_mve_gemm_init(tg_conv_mve_gemm_t *a, int32_t d16, const int8_t *weights,
                                        const int32_t *params, int32_t out_c, int32_t out_offset, int32_t act_min,
                                        int32_t act_max)
{
    int32_t variant = 0;
#if TG_CONV_MVE_PAIRS_ASM
    int32_t i;
    if ((out_c & 3) == 0)
    {
        variant = tg_conv_mve_all_right(params, out_c >> 2) ? 1 : (TG_SINGLE_ROUNDING ? 0 : 2);
    }
    if (variant == 0)
    {
        return 0;
    }
    a->weights = weights;
    a->params = params;
    a->d16 = d16;
    a->out_c = out_c;
    a->rest = (d16 >> 4) - 1;
    a->col_advance = 2 * d16;
    a->out_advance = out_c;
    a->out_bytes = out_c;
    a->unused = 0;
    for (i = 0; i < 4; ++i)
    {
        a->lo[2 * i] = a->lo[2 * i + 1] = (int16_t)act_min;
        a->hi[2 * i] = a->hi[2 * i + 1] = (int16_t)act_max;
        a->offset[2 * i] = a->offset[2 * i + 1] = (int16_t)out_offset;
        a->interleave[2 * i] = (uint16_t)i;
        a->interleave[2 * i + 1] = (uint16_t)(out_c + i);
    }
#else
    (void)a, (void)d16, (void)weights, (void)params, (void)out_c, (void)out_offset, (void)act_min, (void)act_max;
#endif
    return variant;
}

/* The outputs of `count` columns d16 bytes apart (tg_mve_gemm_columns' contract, whose arguments follow), the
   column pairs by the assembly routine of `variant` */
TG_INLINE void tg_conv_mve_gemm(tg_conv_mve_gemm_t *a, int32_t variant, const int8_t *cols, int32_t count,
                                int8_t *out, int32_t d16, const int8_t *weights, const int32_t *params,
                                int32_t out_c, int32_t has_left, int32_t out_offset, int32_t act_min, int32_t act_max)
{
#if TG_CONV_MVE_PAIRS_ASM
    if (variant != 0 && count >= 2)
    {
        a->x0 = cols;
        a->x1 = cols + d16;
        a->pairs = count >> 1;
        a->out = out;
        a->out_end = out + out_c;
        if (variant == 1)
        {
            tg_conv_mve_pairs_right(a);
        }
#if !TG_SINGLE_ROUNDING
        else
        {
            tg_conv_mve_pairs_any(a);
        }
#endif
        if ((count & 1) == 0)
        {
            return;
        }
        cols += (count - 1) * d16;
        out += (count - 1) * out_c;
        count = 1;
    }
#else
    (void)a, (void)variant;
#endif
    tg_mve_gemm_columns(cols, d16, count, d16, weights, params, out_c, has_left, out_offset, act_min, act_max, out);
}

void tg_conv_mve_s8(const int8_t *input, int32_t batches, int32_t in_h, int32_t in_w, int32_t in_c,
                    const int8_t *weights, int32_t kh, int32_t kw, const int32_t *params, int8_t *output,
                    int32_t out_h, int32_t out_w, int32_t out_c, int32_t stride_h, int32_t stride_w,
                    int32_t dil_h, int32_t dil_w, int32_t pad_top, int32_t pad_left, int32_t pad_value,
                    int32_t out_offset, int32_t act_min, int32_t act_max, int32_t has_left, int8_t *scratch)
{
    const int32_t depth = kh * kw * in_c;
    const int32_t d16 = (depth + 15) & ~15;
    const int32_t pointwise = kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0 &&
                              out_h == in_h && out_w == in_w;
    tg_conv_mve_gemm_t gemm;
    int32_t variant;
    tg_conv_mve_geom_t g;
    uint8_t offs[TG_CONV_MVE_GATHER_MAX];
    int32_t gather;
    int32_t b, oy, ox, j = 0;
    g.in_h = in_h;
    g.in_w = in_w;
    g.in_c = in_c;
    g.kh = kh;
    g.kw = kw;
    g.dil_h = dil_h;
    g.dil_w = dil_w;
    g.row_bytes = kw * in_c;
    g.in_row = in_w * in_c;
    g.pad = (int8_t)pad_value;
    variant = tg_conv_mve_gemm_init(&gemm, d16, weights, params, out_c, out_offset, act_min, act_max);
    for (j = 0; j < TG_CONV_MVE_PIXELS; ++j) /* defined bytes where the zero weights pad depth */
    {
        tg_mve_fill_s8(scratch + j * d16 + depth, 0, d16 - depth);
    }
    /* blocks of TG_CONV_MVE_PIXELS output pixels in raster order: all their windows are copied before
       any of their outputs is written */
    if (pointwise) /* 1x1, stride 1, no padding: pixel t's column is input[t * in_c ...] */
    {
        const int32_t total = batches * in_h * in_w;
        int32_t t;
        for (t = 0; t < total; t += TG_CONV_MVE_PIXELS)
        {
            const int32_t count = TG_MIN(TG_CONV_MVE_PIXELS, total - t);
            if (d16 == in_c)
            {
                tg_mve_copy_s8(scratch, input, count * in_c); /* the block's columns, back to back */
            }
            else
            {
                for (j = 0; j < count; ++j)
                {
                    tg_mve_copy_s8(scratch + j * d16, input + j * in_c, in_c);
                }
            }
            tg_conv_mve_gemm(&gemm, variant, scratch, count, output, d16, weights, params, out_c, has_left,
                             out_offset, act_min, act_max);
            input += count * in_c;
            output += count * out_c;
        }
        return;
    }
    gather = tg_conv_mve_gather_offsets(offs, d16, depth, &g);
    j = 0;
    for (b = 0; b < batches; ++b)
    {
        const int8_t *image = input + b * in_h * g.in_row;
        for (oy = 0; oy < out_h; ++oy)
        {
            const int32_t y0 = oy * stride_h - pad_top;
            /* windows of this output row inside the image: x0 in 0..x_end (none with dilated columns) */
            const int32_t x_end = (y0 >= 0 && y0 + (kh - 1) * dil_h < in_h && dil_w == 1) ? in_w - kw : -1;
            const int8_t *top = x_end >= 0 ? image + y0 * g.in_row : image;
            ox = 0;
            while (ox < out_w)
            {
                const int32_t x0 = ox * stride_w - pad_left;
                if (x0 >= 0 && x0 <= x_end) /* a run of windows inside the image, to the block's end at most */
                {
                    const int32_t n = TG_MIN(TG_MIN(out_w - ox, (x_end - x0) / stride_w + 1), TG_CONV_MVE_PIXELS - j);
                    tg_conv_mve_interior(scratch + j * d16, top + x0 * in_c, n, stride_w * in_c, d16, &g, offs,
                                         gather);
                    j += n;
                    ox += n;
                }
                else
                {
                    tg_conv_mve_window(scratch + j * d16, image, y0, x0, &g);
                    ++j;
                    ++ox;
                }
                if (j == TG_CONV_MVE_PIXELS)
                {
                    tg_conv_mve_gemm(&gemm, variant, scratch, j, output, d16, weights, params, out_c, has_left,
                                     out_offset, act_min, act_max);
                    output += j * out_c;
                    j = 0;
                }
            }
        }
    }
    if (j > 0)
    {
        tg_conv_mve_gemm(&gemm, variant, scratch, j, output, d16, weights, params, out_c, has_left,
                         out_offset, act_min, act_max);
    }
}
