/* Vector table and reset handler: copy .data, zero .bss, enable the FPU (and MVE, which uses the
   same coprocessors), bring up the clocks (tg_clock.c), initialise console and timer, report the
   clock, run main(), exit with its status. */
#include <stdint.h>

#include "tg_platform.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;

int main(void);
void tg_clock_init(void);
void tg_clock_report(void);
void tg_console_init(void);
void tg_timer_init(void);
void Reset_Handler(void);
void tg_fault_handler(void);
void tg_fault(uint32_t *frame);
void SysTick_Handler(void);

typedef void (*tg_handler_t)(void);
typedef union {
    tg_handler_t handler;
    void *stack;
} tg_vector_t;

__attribute__((section(".isr_vector"), used)) const tg_vector_t tg_isr_vector[16] = {
    {.stack = &__stack_top},
    {.handler = Reset_Handler},
    {.handler = tg_fault_handler}, /* NMI */
    {.handler = tg_fault_handler}, /* HardFault */
    {.handler = tg_fault_handler}, /* MemManage */
    {.handler = tg_fault_handler}, /* BusFault */
    {.handler = tg_fault_handler}, /* UsageFault */
    {.handler = tg_fault_handler}, /* SecureFault (v8-M) */
    {.handler = 0},
    {.handler = 0},
    {.handler = 0},
    {.handler = tg_fault_handler}, /* SVCall */
    {.handler = tg_fault_handler}, /* DebugMonitor */
    {.handler = 0},
    {.handler = tg_fault_handler}, /* PendSV */
    {.handler = SysTick_Handler},
};

/* Kept out of line and first: nothing may touch a floating-point register before CPACR grants
   access, or the core faults. */
__attribute__((noinline)) static void tg_fpu_enable(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    volatile uint32_t *const cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= 0xFu << 20; /* CP10 and CP11: full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    uint32_t *dst;
    tg_fpu_enable();
#if defined(__ARM_ARCH_6M__)
    /* ARMv6-M faults on every unaligned access (CCR.UNALIGN_TRP reads as one there). Trap them on
       the Cortex-M3 machine standing in for an M0+ board too, so QEMU catches what the board would. */
    *(volatile uint32_t *)0xE000ED14u |= 1u << 3;
#endif
    for (dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    tg_clock_init();
    tg_console_init();
    tg_clock_report();
    tg_timer_init();
    tg_exit(main());
}

/* Every fault lands here: pass the stacked exception frame (MSP or PSP, EXC_RETURN bit 2) to
   tg_fault(). Thumb-1 only, so it assembles for ARMv6-M too. */
__attribute__((naked)) void tg_fault_handler(void)
{
    __asm__ volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b tg_fault\n"
        "1:\n\t"
        "mrs r0, msp\n\t"
        "b tg_fault\n");
}

/* A semihosting call (BKPT 0xAB) on a board with no debugger attached faults (HardFault with
   HFSR.DEBUGEVT): step over it with r0 = -1 ("no host") and return. Any other fault prints
   TG-FAULT and stops (on a board without a debugger its exit call, a BKPT inside the fault
   handler, locks the core up: it stops there too). The stacked PC is only dereferenced inside this firmware's flash image. */
void tg_fault(uint32_t *frame)
{
    const uintptr_t pc = frame[6];
    if (pc >= (uintptr_t)tg_isr_vector && pc < (uintptr_t)&_sidata && (pc & 1u) == 0u &&
        *(const volatile uint16_t *)pc == 0xBEABu) {
        frame[6] = pc + 2u;
        frame[0] = 0xFFFFFFFFu;
#if !defined(__ARM_ARCH_6M__)
        *(volatile uint32_t *)0xE000ED2Cu = 1u << 31; /* clear HFSR.DEBUGEVT (write 1) */
#endif
        return;
    }
    tg_console_write("\nTG-FAULT\n");
    tg_exit(3);
}
