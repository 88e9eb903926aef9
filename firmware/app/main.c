/* tinygen's test/bench application: runs the embedded int8 input vectors (tg_vectors.h) through
   the generated model library and prints the console protocol of docs/INTERNALS.md:

     TG-CLOCK <Hz> ok | fallback: <why>  (printed before main() by the startup code, boards with
                                         clock bring-up only: tg_clock.c)
     TG-BEGIN <model> <num_vectors>
     TG-TENSOR <v> <layer> <hex>      (builds with TG_DUMP_TENSORS only)
     TG-OUT <v> <hex of output bytes>
     TG-TIME <v> <ticks>
     TG-CHECKSUM <crc32 of all output bytes, 8 hex digits>
     TG-STACK <stack high-water mark in bytes>
     TG-FAULT stack overflow ...      (only if the stack used all free RAM above .bss)
     TG-END <status>

   and exits with <status>: 0 when every inference returned 0, the first non-zero return value of
   the model's run function otherwise, 4 after a stack overflow. The fault handler prints TG-FAULT
   and exits with 3. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tg_hooks.h"
#include "tg_model.h"
#include "tg_platform.h"
#include "tg_vectors.h"

#define TG_STACK_PAINT 0xA5A5A5A5u
/* a stack that comes this close to the end of free RAM counts as overflowed */
#define TG_STACK_GUARD 64u

static int tg_current_vector;
static uint32_t tg_crc = 0xFFFFFFFFu;

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
        uint64_t start;
        uint64_t stop;
        int port;
        uint32_t offset = 0;
        tg_current_vector = v;
        for (port = 0; port < TG_MODEL_NUM_INPUTS; ++port) {
            memcpy(TG_MODEL_INPUT_AT(port), &tg_input_vectors[v][offset], tg_model_input_bytes[port]);
            offset += tg_model_input_bytes[port];
        }
        __asm__ volatile("" ::: "memory");
        start = tg_timer_ticks();
        tg_mark();
        status = TG_MODEL_RUN();
        __asm__ volatile("" ::: "memory");
        stop = tg_timer_ticks();
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
        tg_putu(stop - start);
        tg_endline();
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
