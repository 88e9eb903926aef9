/* tinygen bare-metal platform: clocks, console, exit and profiling timer (see src/). */
#ifndef TG_PLATFORM_H
#define TG_PLATFORM_H

#include <stdint.h>

/* The clocks tg_clock_init() configured (the reset clocks where bring-up fell back), in Hz. */
typedef struct {
    uint32_t sysclk_hz;
    uint32_t hclk_hz;
    uint32_t pclk1_hz;
    uint32_t pclk2_hz;
    /* 0 when the board runs at its rated clock; otherwise why it stayed on a slower one */
    const char *fallback;
} tg_clocks_t;

extern tg_clocks_t tg_clocks;

/* Write the data cache back to memory over [addr, addr + bytes), so that a debugger (which reads
   memory past the Cortex-M7 L1 cache) sees what the core wrote; a no-op without a data cache. */
void tg_dcache_clean(const void *addr, uint32_t bytes);

/* Write a NUL-terminated string to the console (semihosting in QEMU, the board's UART). */
void tg_console_write(const char *s);

/* The next byte the console received, or -1 when none arrived within `polls` + 1 checks of the
   receiver (a bounded wait: about polls x 10 cycles). Consoles that cannot receive (semihosting,
   none) always return -1. */
int tg_console_read(uint32_t polls);

/* Stop the program with status `code`: a semihosting host (QEMU, a debugger with semihosting
   on) receives it; on a board without one the core idles. */
void tg_exit(int code) __attribute__((noreturn));

/* Ticks since tg_platform_init(): CPU cycles (DWT->CYCCNT) on hardware, SysTick counts under
   QEMU (with -icount shift=7 they follow the instruction count). */
uint64_t tg_timer_ticks(void);

/* Linker-script symbols: the reserved stack region and the top of RAM. */
extern uint32_t __stack_limit;
extern uint32_t __stack_top;

#endif
