/* tinygen's test/bench application: runs the embedded int8 input vectors (tg_vectors.h) through
   the generated model library and prints the console protocol of docs/INTERNALS.md:

     TG-CLOCK <Hz> ok | fallback: <why>  (printed before main() by the startup code, boards with
                                         clock bring-up only: tg_clock.c)
     TG-BEGIN <model> <num_vectors>
     TG-TENSOR <v> <layer> <hex>      (builds with TG_DUMP_TENSORS only)
     TG-OUT <v> <hex of output bytes>
     TG-TIME <v> <ticks>
     TG-LAYERS <v> <ticks of layer 0> <ticks of layer 1> ...   (board builds of --app bench only,
                                         TG_LAYER_CYCLES: DWT cycles per layer on the board)
     TG-CHECKSUM <crc32 of all output bytes, 8 hex digits>
     TG-STACK <stack high-water mark in bytes>
     TG-FAULT stack overflow ...      (only if the stack used all free RAM above .bss)
     TG-END <status>

   and exits with <status>: 0 when every inference returned 0, the first non-zero return value of
   the model's run function otherwise, 4 after a stack overflow. The fault handler prints TG-FAULT
   and exits with 3.

   Built with TG_APP_STREAM (tinygen validate --port), it is instead the streaming validation app:
   no embedded vectors; the host sends each input over the console UART and reads its outputs
   (tinygen/serialport.py is the host side):

     TG-READY <model> <input bytes> <output bytes>   (at boot, and in answer to a TG-PING line)
     host: TG-IN <n> <hex of the int8 inputs, every input one after the other> <crc32 of those
           bytes, 8 hex digits (zlib's, as TG-CHECKSUM)>
     TG-OUT <n> <hex of output bytes>   (as the harness prints it)
     TG-CYCLES <n> <DWT cycles of the inference>   (TG-TIME <n> <ticks> on cores without DWT)
     host: TG-RESET <n>   (a model with state: back to its start, as NAME_reset(); answered TG-RESET <n>)
     TG-ERR <n> <why>   (a bad line: wrong length or CRC, a bad character, a stalled line; <n> is -1
                        where the line has none); the model does not run and the app waits for the
                        next line, so a broken line never hangs it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tg_hooks.h"
#include "tg_model.h"
#include "tg_platform.h"
#if !defined(TG_APP_STREAM)
#include "tg_vectors.h"
#endif

#define TG_STACK_PAINT 0xA5A5A5A5u
/* a stack that comes this close to the end of free RAM counts as overflowed */
#define TG_STACK_GUARD 64u

static int tg_current_vector;
static uint32_t tg_crc = 0xFFFFFFFFu;

#if defined(TG_LAYER_CYCLES)
/* Built for a board with --app bench: each layer's timer ticks (DWT cycles on a board's core) in the last
   inference, printed as a TG-LAYERS line. Off in every QEMU build, so the instruction counts between
   tg_mark() calls stay the layers' own. */
static uint32_t tg_layer_ticks[TG_MODEL_NUM_LAYERS > 0 ? TG_MODEL_NUM_LAYERS : 1];
static uint64_t tg_layer_start;
#endif

/* The QEMU plugin counts instructions between calls of this function: it must stay a real,
   out-of-line call that the compiler cannot merge, move or drop. */
__attribute__((noinline, used)) void tg_mark(void)
{
    __asm__ volatile("" ::: "memory");
}

/* ---- output formatting (no stdio: it would pull in malloc and a lot of flash) ---- */

static char tg_line[160];
static size_t tg_len;

static void tg_flush(void)
{
    tg_line[tg_len] = '\0';
    tg_console_write(tg_line);
    tg_len = 0;
}

static void tg_putc(char c)
{
    if (tg_len + 1 >= sizeof tg_line) {
        tg_flush();
    }
    tg_line[tg_len++] = c;
}

static void tg_puts(const char *s)
{
    while (*s) {
        tg_putc(*s++);
    }
}

static void tg_putu(uint64_t value)
{
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value);
    while (n) {
        tg_putc(digits[--n]);
    }
}

static void tg_puti(int value)
{
    if (value < 0) {
        tg_putc('-');
        tg_putu((uint64_t)(-(int64_t)value));
    } else {
        tg_putu((uint64_t)value);
    }
}

static void tg_puthex(const uint8_t *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; ++i) {
        tg_putc(hex[bytes[i] >> 4]);
        tg_putc(hex[bytes[i] & 0xFu]);
    }
}

static void tg_endline(void)
{
    tg_putc('\n');
    tg_flush();
}

/* ---- hooks ---- */

void tg_layer_end(int index, const void *out, size_t bytes)
{
    tg_mark();
#if defined(TG_LAYER_CYCLES)
    if (index >= 0 && index < TG_MODEL_NUM_LAYERS) {
        tg_layer_ticks[index] = (uint32_t)(tg_timer_ticks() - tg_layer_start);
    }
    tg_layer_start = tg_timer_ticks(); /* read again: this hook's own cost goes to no layer */
#endif
#if defined(TG_DUMP_TENSORS)
    tg_puts("TG-TENSOR ");
    tg_puti(tg_current_vector);
    tg_putc(' ');
    tg_puti(index);
    tg_putc(' ');
    tg_puthex((const uint8_t *)out, bytes);
    tg_endline();
#else
    (void)index;
    (void)out;
    (void)bytes;
#endif
}

/* ---- one timed inference ---- */

/* Run the model once; its status, and in *ticks the timer ticks it took. Always inlined, so each app's
   code (and the harness's instruction counts between tg_mark() calls) is as if written in place. */
__attribute__((always_inline)) static inline int tg_timed_run(uint64_t *ticks)
{
    uint64_t start;
    int status;
    __asm__ volatile("" ::: "memory");
    start = tg_timer_ticks();
    tg_mark();
#if defined(TG_LAYER_CYCLES)
    tg_layer_start = tg_timer_ticks();
#endif
    status = TG_MODEL_RUN();
    __asm__ volatile("" ::: "memory");
    *ticks = tg_timer_ticks() - start;
    return status;
}

/* ---- checksum: CRC-32 (zlib's polynomial), so the host can check it with zlib.crc32 ---- */

static void tg_crc_update(const uint8_t *bytes, size_t n)
{
    size_t i;
    int bit;
    for (i = 0; i < n; ++i) {
        tg_crc ^= bytes[i];
        for (bit = 0; bit < 8; ++bit) {
            tg_crc = (tg_crc >> 1) ^ (0xEDB88320u & (0u - (tg_crc & 1u)));
        }
    }
}

#if !defined(TG_APP_STREAM)
/* ---- stack high-water mark: paint the free stack, then find the deepest overwritten word ---- */

static uint32_t *tg_sp(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

__attribute__((noinline)) static void tg_stack_paint(void)
{
    /* stay 64 words below this frame: the calls still to come use that part */
    uint32_t *end = tg_sp() - 64;
    uint32_t *p;
    for (p = &__stack_limit; p < end; ++p) {
        *(volatile uint32_t *)p = TG_STACK_PAINT;
    }
}

static uint32_t tg_stack_used(void)
{
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *(volatile const uint32_t *)p == TG_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

int main(void)
{
    int status = 0;
    int v;
    tg_stack_paint();
    tg_puts("TG-BEGIN " TG_MODEL_NAME " ");
    tg_puti(TG_NUM_VECTORS);
    tg_endline();
    for (v = 0; v < TG_NUM_VECTORS && status == 0; ++v) {
        uint64_t ticks;
        int port;
        uint32_t offset = 0;
        tg_current_vector = v;
        for (port = 0; port < TG_MODEL_NUM_INPUTS; ++port) {
            memcpy(TG_MODEL_INPUT_AT(port), &tg_input_vectors[v][offset], tg_model_input_bytes[port]);
            offset += tg_model_input_bytes[port];
        }
        status = tg_timed_run(&ticks);
        /* every output, one after the other */
        tg_puts("TG-OUT ");
        tg_puti(v);
        tg_putc(' ');
        for (port = 0; port < TG_MODEL_NUM_OUTPUTS; ++port) {
            const uint8_t *output = (const uint8_t *)TG_MODEL_OUTPUT_AT(port);
            tg_crc_update(output, tg_model_output_bytes[port]);
            tg_puthex(output, tg_model_output_bytes[port]);
        }
        tg_endline();
        tg_puts("TG-TIME ");
        tg_puti(v);
        tg_putc(' ');
        tg_putu(ticks);
        tg_endline();
#if defined(TG_LAYER_CYCLES)
        {
            int layer;
            tg_puts("TG-LAYERS ");
            tg_puti(v);
            for (layer = 0; layer < TG_MODEL_NUM_LAYERS; ++layer) {
                tg_putc(' ');
                tg_putu(tg_layer_ticks[layer]);
            }
            tg_endline();
        }
#endif
    }
    tg_puts("TG-CHECKSUM ");
    {
        const uint32_t crc = ~tg_crc;
        uint8_t be[4];
        be[0] = (uint8_t)(crc >> 24);
        be[1] = (uint8_t)(crc >> 16);
        be[2] = (uint8_t)(crc >> 8);
        be[3] = (uint8_t)crc;
        tg_puthex(be, sizeof be);
    }
    tg_endline();
    tg_puts("TG-STACK ");
    tg_putu(tg_stack_used());
    tg_endline();
    if (tg_stack_used() + TG_STACK_GUARD >= (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)&__stack_limit)) {
        /* the stack reached the last bytes of free RAM above .bss: it has most likely grown into
           .bss (the arena), so every result is suspect */
        tg_puts("TG-FAULT stack overflow: the stack used all free RAM");
        tg_endline();
        status = 4;
    }
    tg_puts("TG-END ");
    tg_puti(status);
    tg_endline();
    return status;
}

#else /* TG_APP_STREAM */

/* receiver checks before a started line counts as stalled: about 0.4 s on a 100 MHz core (a few
   seconds in QEMU); the host sends each line in one go, so only a broken line pauses this long */
#define TG_LINE_POLLS 0x00400000u

enum {
    TG_LINE_OK = 0,
    TG_LINE_BLANK,
    TG_LINE_STALLED,
    TG_LINE_BAD /* anything else: the rest of the line is skipped */
};

static int tg_next(void)
{
    return tg_console_read(TG_LINE_POLLS);
}

static int tg_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* skip to the end of the line (bounded by the stall check); TG_LINE_BAD, or TG_LINE_STALLED */
static int tg_skip_line(int c)
{
    while (c != '\n') {
        if (c < 0) {
            return TG_LINE_STALLED;
        }
        c = tg_next();
    }
    return TG_LINE_BAD;
}

static void tg_reply_error(long seq, const char *why)
{
    tg_puts("TG-ERR ");
    if (seq < 0) {
        tg_puts("-1");
    } else {
        tg_putu((uint64_t)seq);
    }
    tg_putc(' ');
    tg_puts(why);
    tg_endline();
}

static void tg_reply_ready(void)
{
    uint32_t in = 0;
    uint32_t out = 0;
    int port;
    for (port = 0; port < TG_MODEL_NUM_INPUTS; ++port) {
        in += tg_model_input_bytes[port];
    }
    for (port = 0; port < TG_MODEL_NUM_OUTPUTS; ++port) {
        out += tg_model_output_bytes[port];
    }
    tg_puts("TG-READY " TG_MODEL_NAME " ");
    tg_putu(in);
    tg_putc(' ');
    tg_putu(out);
    tg_endline();
}

/* Read the request word; *c is the character after it. */
static size_t tg_read_word(char *word, size_t size, int *c)
{
    size_t n = 0;
    *c = tg_next();
    while (*c == '\r') {
        *c = tg_next();
    }
    while (*c >= 0 && *c != ' ' && *c != '\n' && *c != '\r') {
        if (n + 1 < size) {
            word[n] = (char)*c;
        }
        ++n;
        *c = tg_next();
    }
    word[n < size ? n : size - 1] = '\0';
    return n;
}

/* The "<n>" of a request and the character after it (-1 in *seq without a number) */
static int tg_read_seq(long *seq)
{
    int c = tg_next();
    int digits = 0;
    *seq = 0;
    while (c >= '0' && c <= '9' && digits < 9) {
        *seq = *seq * 10 + (c - '0');
        ++digits;
        c = tg_next();
    }
    if (digits == 0) {
        *seq = -1;
    }
    return c;
}

/* TG-RESET <n>: the model's state (a streaming model's) back to its start; answered TG-RESET <n> */
static int tg_reset(long *seq)
{
    int c = tg_read_seq(seq);
    while (c == '\r') {
        c = tg_next();
    }
    if (*seq < 0 || c != '\n') {
        return c < 0 ? TG_LINE_STALLED : tg_skip_line(c);
    }
#if defined(TG_MODEL_RESET)
    TG_MODEL_RESET();
#endif
    tg_puts("TG-RESET ");
    tg_putu((uint64_t)*seq);
    tg_endline();
    return TG_LINE_OK;
}

/* The hex bytes of a TG-IN line, straight into the model's inputs (no line buffer: an input of any
   size), then " <crc32>" and the end of the line. */
static int tg_read_inputs(const char **why)
{
    uint32_t crc_given = 0;
    int port = 0;
    uint32_t offset = 0;
    int digits = 0;
    int c = tg_next();
    tg_crc = 0xFFFFFFFFu;
    while (port < TG_MODEL_NUM_INPUTS) {
        const int hi = tg_hexval(c);
        const int lo = hi < 0 ? -1 : tg_hexval(c = tg_next());
        uint8_t byte;
        if (lo < 0) {
            *why = c == ' ' || c == '\n' || c == '\r' ? "length: fewer input bytes than the model takes"
                                                       : "not a hex digit in the inputs";
            return c < 0 ? TG_LINE_STALLED : tg_skip_line(c);
        }
        byte = (uint8_t)((hi << 4) | lo);
        ((uint8_t *)TG_MODEL_INPUT_AT(port))[offset] = byte;
        tg_crc_update(&byte, 1);
        if (++offset == tg_model_input_bytes[port]) {
            offset = 0;
            ++port;
        }
        c = tg_next();
    }
    if (c != ' ') {
        *why = tg_hexval(c) >= 0 ? "length: more input bytes than the model takes" : "no CRC after the inputs";
        return c < 0 ? TG_LINE_STALLED : tg_skip_line(c);
    }
    for (c = tg_next(); tg_hexval(c) >= 0 && digits < 8; c = tg_next(), ++digits) {
        crc_given = (crc_given << 4) | (uint32_t)tg_hexval(c);
    }
    while (c == '\r') {
        c = tg_next();
    }
    if (digits != 8 || c != '\n') {
        *why = "the CRC is not 8 hex digits at the end of the line";
        return c < 0 ? TG_LINE_STALLED : tg_skip_line(c);
    }
    if (crc_given != ~tg_crc) {
        *why = "CRC mismatch: the line was damaged";
        return TG_LINE_BAD;
    }
    return TG_LINE_OK;
}

static void tg_infer(long seq)
{
    uint64_t ticks;
    int port;
    const int status = tg_timed_run(&ticks);
    if (status != 0) {
        tg_puts("TG-ERR ");
        tg_putu((uint64_t)seq);
        tg_puts(" the model's run function returned ");
        tg_puti(status);
        tg_endline();
        return;
    }
    tg_puts("TG-OUT ");
    tg_putu((uint64_t)seq);
    tg_putc(' ');
    for (port = 0; port < TG_MODEL_NUM_OUTPUTS; ++port) {
        tg_puthex((const uint8_t *)TG_MODEL_OUTPUT_AT(port), tg_model_output_bytes[port]);
    }
    tg_endline();
#if defined(TG_TIMER_DWT)
    tg_puts("TG-CYCLES ");
#else
    tg_puts("TG-TIME ");
#endif
    tg_putu((uint64_t)seq);
    tg_putc(' ');
    tg_putu(ticks);
    tg_endline();
}

/* One request line: TG-IN, TG-PING or a blank line; anything else is answered with TG-ERR. */
static void tg_serve_line(void)
{
    char word[12];
    int c;
    long seq = -1;
    const char *why = "unknown request (TG-IN, TG-RESET, TG-PING)";
    int result;
    const size_t n = tg_read_word(word, sizeof word, &c);
    if (n == 0 && c < 0) {
        return; /* idle */
    }
    if (n == 0 && c == '\n') {
        return;
    }
    if (strcmp(word, "TG-PING") == 0 && (c == '\n' || c == '\r')) {
        (void)tg_skip_line(c);
        tg_reply_ready();
        return;
    }
    if (strcmp(word, "TG-RESET") == 0 && c == ' ') {
        why = "TG-RESET takes a number";
        result = tg_reset(&seq);
        if (result == TG_LINE_OK) {
            return;
        }
    } else if (strcmp(word, "TG-IN") != 0 || c != ' ') {
        result = c < 0 ? TG_LINE_STALLED : tg_skip_line(c);
    } else {
        why = "no sample number after TG-IN";
        c = tg_read_seq(&seq);
        result = seq < 0 || c != ' ' ? (c < 0 ? TG_LINE_STALLED : tg_skip_line(c)) : tg_read_inputs(&why);
    }
    if (result == TG_LINE_OK) {
        tg_current_vector = (int)seq;
        tg_infer(seq);
    } else {
        tg_reply_error(seq, result == TG_LINE_STALLED ? "the line stalled before its end" : why);
    }
}

int main(void)
{
    tg_reply_ready();
    for (;;) {
        tg_serve_line();
    }
}

#endif /* TG_APP_STREAM */
