/* Console backends, chosen by the builder from the board manifest's tinygen.console. */
#include <stdint.h>

#include "tg_platform.h"

#define TG_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Arm semihosting: BKPT 0xAB with the operation in r0 and its argument in r1. On a board without
   a debugger the BKPT faults instead, and the fault handler steps over it (tg_startup.c). */
static uint32_t tg_semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit: QEMU exits with `code` (plain SYS_EXIT can
   only report 0 or 1). */
static void tg_semihost_exit(int code)
{
    uint32_t block[2];
    block[0] = 0x20026u;
    block[1] = (uint32_t)code;
    tg_dcache_clean(block, sizeof block);
    (void)tg_semihost(0x20u, block);
}

#if defined(TG_CONSOLE_SEMIHOSTING)

void tg_console_init(void) {}

void tg_console_write(const char *s)
{
    (void)tg_semihost(0x04u, s); /* SYS_WRITE0 */
}

/* semihosting's SYS_READC blocks until the host sends a character: no bounded wait, so no receive */
int tg_console_read(uint32_t polls)
{
    (void)polls;
    return -1;
}

void tg_exit(int code)
{
    tg_semihost_exit(code);
    for (;;) {
    }
}

#else

static void tg_putc(char c);

void tg_console_write(const char *s)
{
    for (; *s; ++s) {
        if (*s == '\n') {
            tg_putc('\r');
        }
        tg_putc(*s);
    }
}

/* The same firmware on the board and in QEMU (netduinoplus2): a semihosting host, where one
   listens (QEMU, a debugger with semihosting enabled), receives the status and ends the run;
   without one the call returns and the core idles. */
void tg_exit(int code)
{
    tg_semihost_exit(code);
    for (;;) {
        __asm__ volatile("wfi");
    }
}

#if defined(TG_CONSOLE_CMSDK_UART)
/* Arm CMSDK APB UART: DATA 0x00, STATE 0x04 (bit 0 TX full, bit 1 RX full, bit 3 RX overrun: write 1 to
   clear), CTRL 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV 0x10. */
void tg_console_init(void)
{
    TG_REG(TG_UART_BASE + 0x10u) = 16u;
    TG_REG(TG_UART_BASE + 0x08u) = 3u;
}

int tg_console_read(uint32_t polls)
{
    do {
        const uint32_t state = TG_REG(TG_UART_BASE + 0x04u);
        if (state & 8u) {
            TG_REG(TG_UART_BASE + 0x04u) = 8u; /* a lost byte: the line's check catches it */
        }
        if (state & 2u) {
            return (int)(TG_REG(TG_UART_BASE + 0x00u) & 0xFFu);
        }
    } while (polls--);
    return -1;
}

static void tg_putc(char c)
{
    while (TG_REG(TG_UART_BASE + 0x04u) & 1u) {
    }
    TG_REG(TG_UART_BASE + 0x00u) = (uint8_t)c;
}

#elif defined(TG_CONSOLE_STM32_USART)
/* STM32 USART and LPUART. Register layout "v2" (F7, H7, L4, U5, G0): CR1 0x00 (UE bit 0, RE bit 2,
   TE bit 3), BRR 0x0C, ISR 0x1C (ORE bit 3, RXNE bit 5, TXE bit 7), ICR 0x20 (ORECF bit 3), RDR
   0x24, TDR 0x28; "v1" (F4, RM0383 19.6): SR 0x00 (ORE bit 3, RXNE bit 5, TXE bit 7), DR 0x04, BRR
   0x08, CR1 0x0C (UE bit 13, TE bit 3, RE bit 2). BRR = kernel clock / baud (x256 for an LPUART),
   from the bus clock tg_clock_init() configured (16x oversampling). The TX and RX pins are switched
   to their alternate function. */
#if defined(TG_UART_V1)
#define TG_UART_CR1 0x0Cu
#define TG_UART_CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2))
#define TG_UART_REG_BRR 0x08u
#define TG_UART_STATUS 0x00u
#define TG_UART_TX 0x04u
#define TG_UART_RX 0x04u
#else
#define TG_UART_CR1 0x00u
#define TG_UART_CR1_ENABLE ((1u << 3) | (1u << 2) | 1u)
#define TG_UART_REG_BRR 0x0Cu
#define TG_UART_STATUS 0x1Cu
#define TG_UART_TX 0x28u
#define TG_UART_RX 0x24u
#endif

#if !defined(TG_UART_RX_PIN)
/* The board manifests name the TX pin only; on every STM32 board tinygen has, RX is the next pin of
   the same port with the same alternate function (PA9/PA10, PA2/PA3, PD8/PD9, PG7/PG8). */
#define TG_UART_RX_PIN (TG_UART_PIN + 1)
#endif

static void tg_uart_pin_af(uint32_t pin)
{
    TG_REG(TG_UART_GPIO + 0x00u) = (TG_REG(TG_UART_GPIO + 0x00u) & ~(3u << (2u * pin))) | (2u << (2u * pin));
    TG_REG(TG_UART_GPIO + 0x20u + 4u * (pin / 8u)) =
        (TG_REG(TG_UART_GPIO + 0x20u + 4u * (pin / 8u)) & ~(0xFu << (4u * (pin % 8u)))) |
        ((uint32_t)TG_UART_AF << (4u * (pin % 8u)));
}

static uint32_t tg_uart_divisor(void)
{
    const uint64_t clock = TG_UART_BUS == 2 ? tg_clocks.pclk2_hz : tg_clocks.pclk1_hz;
    return (uint32_t)((clock * TG_UART_BRR_SCALE + TG_UART_BAUD / 2u) / TG_UART_BAUD);
}

void tg_console_init(void)
{
    /* clock (and power-domain) enables, in the manifest's order */
    TG_REG(TG_UART_EN0_REG) |= 1u << TG_UART_EN0_BIT;
#if TG_UART_NUM_ENABLES > 1
    TG_REG(TG_UART_EN1_REG) |= 1u << TG_UART_EN1_BIT;
#endif
#if TG_UART_NUM_ENABLES > 2
    TG_REG(TG_UART_EN2_REG) |= 1u << TG_UART_EN2_BIT;
#endif
#if TG_UART_NUM_ENABLES > 3
    TG_REG(TG_UART_EN3_REG) |= 1u << TG_UART_EN3_BIT;
#endif
    (void)TG_REG(TG_UART_EN0_REG); /* read back: the clock is on before the first access */
    tg_uart_pin_af((uint32_t)TG_UART_PIN);
    tg_uart_pin_af((uint32_t)TG_UART_RX_PIN);
    TG_REG(TG_UART_BASE + TG_UART_REG_BRR) = tg_uart_divisor();
    TG_REG(TG_UART_BASE + TG_UART_CR1) = TG_UART_CR1_ENABLE;
}

static void tg_putc(char c)
{
    while (!(TG_REG(TG_UART_BASE + TG_UART_STATUS) & (1u << 7))) {
    }
    TG_REG(TG_UART_BASE + TG_UART_TX) = (uint8_t)c;
}

int tg_console_read(uint32_t polls)
{
    do {
        const uint32_t status = TG_REG(TG_UART_BASE + TG_UART_STATUS);
#if !defined(TG_UART_V1)
        if (status & (1u << 3)) {
            TG_REG(TG_UART_BASE + 0x20u) = 1u << 3; /* overrun: a byte was lost; the line's check catches it */
        }
#endif
        if (status & (1u << 5)) {
            /* v1: reading SR then DR also clears an overrun */
            return (int)(TG_REG(TG_UART_BASE + TG_UART_RX) & 0xFFu);
        }
    } while (polls--);
    return -1;
}

#elif defined(TG_CONSOLE_NRF_UART)
/* nRF52 UART (legacy, no EasyDMA): STARTRX 0x000, STARTTX 0x008, RXDRDY 0x108, TXDRDY 0x11C,
   ERROR 0x124, ERRORSRC 0x480 (write 1 to clear), ENABLE 0x500, PSELTXD 0x50C, PSELRXD 0x514, RXD
   0x518, TXD 0x51C, BAUDRATE 0x524. */
#if !defined(TG_UART_RX_PIN)
/* the manifest names the TX pin only: P0.08 is RX on the nRF52840-DK (its interface MCU's UART) */
#define TG_UART_RX_PIN 8
#endif

void tg_console_init(void)
{
    TG_REG(TG_UART_BASE + 0x50Cu) = TG_UART_PIN;
    TG_REG(TG_UART_BASE + 0x514u) = TG_UART_RX_PIN;
    TG_REG(TG_UART_BASE + 0x524u) = TG_UART_BAUD;
    TG_REG(TG_UART_BASE + 0x500u) = 4u;
    TG_REG(TG_UART_BASE + 0x008u) = 1u;
    TG_REG(TG_UART_BASE + 0x000u) = 1u;
}

int tg_console_read(uint32_t polls)
{
    do {
        if (TG_REG(TG_UART_BASE + 0x124u)) {
            TG_REG(TG_UART_BASE + 0x124u) = 0u;
            TG_REG(TG_UART_BASE + 0x480u) = 0xFu; /* overrun/framing: the line's check catches it */
        }
        if (TG_REG(TG_UART_BASE + 0x108u)) {
            TG_REG(TG_UART_BASE + 0x108u) = 0u;
            return (int)(TG_REG(TG_UART_BASE + 0x518u) & 0xFFu);
        }
    } while (polls--);
    return -1;
}

static void tg_putc(char c)
{
    TG_REG(TG_UART_BASE + 0x11Cu) = 0u;
    TG_REG(TG_UART_BASE + 0x51Cu) = (uint8_t)c;
    while (!TG_REG(TG_UART_BASE + 0x11Cu)) {
    }
}

#elif defined(TG_CONSOLE_RP2040_UART)
/* RP2040 UART (an Arm PL011, datasheet 4.2): DR 0x00, FR 0x18 (RXFE bit 4, TXFF bit 5), IBRD
   0x24, FBRD 0x28, LCR_H 0x2C (written after the divisors: it latches them), CR 0x30 (UARTEN bit
   0, TXE bit 8, RXE bit 9). Baud divisor = clk_peri / (16 x baud) in 16.6 fixed point (4.2.7.1).
   The UART, IO_BANK0 and PADS_BANK0 leave reset first (RESETS, 2.14); each pin's GPIOn_CTRL
   (IO_BANK0 + 8n + 4) FUNCSEL 2 gives it to the UART (2.19.2: GP0 UART0 TX, GP1 UART0 RX). */
#define TG_RESETS_RESET 0x4000C000u
#define TG_RESETS_DONE 0x4000C008u
#define TG_IO_BANK0 0x40014000u
#define TG_RESETS_UART (TG_UART_BASE == 0x40034000u ? 1u << 22 : 1u << 23)
#define TG_RESETS_IO ((1u << 5) | (1u << 8) | TG_RESETS_UART) /* IO_BANK0, PADS_BANK0, the UART */

void tg_console_init(void)
{
    const uint32_t div = (uint32_t)((8ull * tg_clocks.pclk1_hz) / TG_UART_BAUD); /* x128 */
    uint32_t ibrd = div >> 7;
    uint32_t fbrd = ((div & 0x7Fu) + 1u) / 2u;
    uint32_t n;
    TG_REG(TG_RESETS_RESET + 0x3000u) = TG_RESETS_IO;
    for (n = 0; n < 100000u && (TG_REG(TG_RESETS_DONE) & TG_RESETS_IO) != TG_RESETS_IO; ++n) {
    }
    if (ibrd == 0u) {
        ibrd = 1u;
        fbrd = 0u;
    } else if (ibrd >= 0xFFFFu) {
        ibrd = 0xFFFFu;
        fbrd = 0u;
    }
    TG_REG(TG_UART_BASE + 0x24u) = ibrd;
    TG_REG(TG_UART_BASE + 0x28u) = fbrd;
    TG_REG(TG_UART_BASE + 0x2Cu) = (3u << 5) | (1u << 4); /* 8 bits, FIFOs on */
    TG_REG(TG_UART_BASE + 0x30u) = (1u << 0) | (1u << 8) | (1u << 9);
    TG_REG(TG_IO_BANK0 + 8u * TG_UART_PIN + 4u) = 2u;
    TG_REG(TG_IO_BANK0 + 8u * TG_UART_RX_PIN + 4u) = 2u;
}

int tg_console_read(uint32_t polls)
{
    do {
        if (!(TG_REG(TG_UART_BASE + 0x18u) & (1u << 4))) {
            /* bits 8-11 flag framing/parity/break/overrun errors: the line's check catches them */
            return (int)(TG_REG(TG_UART_BASE + 0x00u) & 0xFFu);
        }
    } while (polls--);
    return -1;
}

static void tg_putc(char c)
{
    while (TG_REG(TG_UART_BASE + 0x18u) & (1u << 5)) {
    }
    TG_REG(TG_UART_BASE + 0x00u) = (uint8_t)c;
}

#else
/* No console on this board (or none tinygen drives): output is discarded. */
void tg_console_init(void) {}

static void tg_putc(char c)
{
    (void)c;
}

int tg_console_read(uint32_t polls)
{
    (void)polls;
    return -1;
}
#endif

#endif
