/* tinygen bare-metal platform: console, exit and profiling timer (see src/). */
#ifndef TG_PLATFORM_H
#define TG_PLATFORM_H

#include <stdint.h>

/* Write a NUL-terminated string to the console (semihosting in QEMU, the board's UART). */
void tg_console_write(const char *s);

/* Stop the program: under semihosting QEMU exits with `code`; on hardware the core idles. */
void tg_exit(int code) __attribute__((noreturn));

/* Ticks since tg_platform_init(): CPU cycles (DWT->CYCCNT) on hardware, SysTick counts under
   QEMU (with -icount shift=7 they follow the instruction count). */
uint64_t tg_timer_ticks(void);

/* Linker-script symbols: the reserved stack region and the top of RAM. */
extern uint32_t __stack_limit;
extern uint32_t __stack_top;

#endif
