/* Profiling timer: DWT->CYCCNT on hardware, SysTick under QEMU (which does not emulate the
   cycle counter: it reads 0) and on cores without DWT (Cortex-M0+). */
#include <stdint.h>

#include "tg_platform.h"

#define TG_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(TG_TIMER_SYSTICK)

#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define TG_SYSTICK_RELOAD 0xFFFFFFu

/* SysTick is a 24-bit down-counter: count its wraps to extend it to 64 bits. */
static volatile uint32_t tg_systick_wraps;

void SysTick_Handler(void)
{
    tg_systick_wraps++;
}

void tg_timer_init(void)
{
    TG_REG(SYST_RVR) = TG_SYSTICK_RELOAD;
    TG_REG(SYST_CVR) = 0u;
    TG_REG(SYST_CSR) = 7u; /* processor clock, interrupt on wrap, enable */
}

uint64_t tg_timer_ticks(void)
{
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = tg_systick_wraps;
        value = TG_REG(SYST_CVR);
    } while (wraps != tg_systick_wraps);
    return ((uint64_t)wraps << 24) + (TG_SYSTICK_RELOAD - value);
}

#elif defined(TG_TIMER_CMSDK)

/* Arm CMSDK APB timer (the QEMU machines): a 32-bit down-counter at the CPU clock, read without
   interrupts, so instruction counts of the QEMU plugin never include a timer handler.
   CTRL 0x00 (bit 0 enable), VALUE 0x04, RELOAD 0x08. */
void SysTick_Handler(void) {}

void tg_timer_init(void)
{
    TG_REG(TG_TIMER_BASE + 0x08u) = 0xFFFFFFFFu;
    TG_REG(TG_TIMER_BASE + 0x04u) = 0xFFFFFFFFu;
    TG_REG(TG_TIMER_BASE + 0x00u) = 1u;
}

uint64_t tg_timer_ticks(void)
{
    return 0xFFFFFFFFu - TG_REG(TG_TIMER_BASE + 0x04u);
}

#elif defined(TG_TIMER_SSE_COUNTER)

/* Arm SSE-300 (mps3-an547): the 64-bit system counter, enabled through its Secure control frame
   (CNTCR bit 0) and read through a system timer frame (CNTPCT_LO 0x00, CNTPCT_HI 0x04). No
   interrupts, so QEMU plugin counts never include a timer handler. */
#define TG_SSE_CNTCR 0x58100000u

void SysTick_Handler(void) {}

void tg_timer_init(void)
{
    TG_REG(TG_SSE_CNTCR) |= 1u;
}

uint64_t tg_timer_ticks(void)
{
    uint32_t hi;
    uint32_t lo;
    do {
        hi = TG_REG(TG_TIMER_BASE + 0x04u);
        lo = TG_REG(TG_TIMER_BASE + 0x00u);
    } while (hi != TG_REG(TG_TIMER_BASE + 0x04u));
    return ((uint64_t)hi << 32) | lo;
}

#else

#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u
#define DWT_LAR 0xE0001FB0u

void SysTick_Handler(void) {}

void tg_timer_init(void)
{
    TG_REG(DEMCR) |= 1u << 24;    /* TRCENA */
    TG_REG(DWT_LAR) = 0xC5ACCE55u; /* unlock (Cortex-M7); ignored elsewhere */
    TG_REG(DWT_CYCCNT) = 0u;
    TG_REG(DWT_CTRL) |= 1u;
}

uint64_t tg_timer_ticks(void)
{
    return TG_REG(DWT_CYCCNT);
}

#endif
