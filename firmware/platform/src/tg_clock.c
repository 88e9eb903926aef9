/* Clock bring-up per chip family, chosen by the builder from the board manifest's tinygen.clock:
   regulator voltage scaling, PLL from the internal oscillator (HSI; nothing depends on how a
   board's HSE solder bridges or crystal are fitted), flash wait states and accelerators, bus
   prescalers, then the core caches (Cortex-M7). Register addresses and bit positions are the
   reference manuals' (named per family below); the values (PLL factors, wait states, prescalers)
   come from the manifest, where tests/test_board_clocks.py checks them against the manuals'
   tables.

   Every wait has a bounded timeout. When a step fails the chip stays on its reset clock (what
   the step changed is undone) and tg_clocks.fallback says why; the startup code prints it
   (TG-CLOCK) once the console runs at the clock actually in use. */
#include <stdint.h>

#include "tg_platform.h"

#define TG_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(TG_CLOCK_STM32F4) || defined(TG_CLOCK_STM32F7) || defined(TG_CLOCK_STM32H7) || \
    defined(TG_CLOCK_STM32L4) || defined(TG_CLOCK_STM32U5) || defined(TG_CLOCK_STM32G0) || defined(TG_CLOCK_NRF52) || \
    defined(TG_CLOCK_RP2040)
#define TG_HAS_CLOCK_CODE 1
#endif

tg_clocks_t tg_clocks;

void tg_clock_init(void);
void tg_clock_report(void);

#if defined(TG_HAS_CLOCK_CODE)

/* Iterations of a wait loop before it gives up: each takes at least 4 cycles (a peripheral read,
   a test, a decrement, a branch), so at least 25 ms even at the fastest reset clock (64 MHz: H7,
   nRF52; 100 ms at 16 MHz), far above the data sheets' start-up times (PLL lock, regulator: well
   under 1 ms; the nRF52840's HFXO: under 1 ms typical). In QEMU, which models none of these, each
   timeout costs about 2 million instructions before main(). */
#define TG_CLOCK_TIMEOUT 400000u

/* Wait until (register & mask) == value; 0 on timeout. */
static int tg_wait(uint32_t addr, uint32_t mask, uint32_t value)
{
    uint32_t n;
    for (n = 0; n < TG_CLOCK_TIMEOUT; ++n) {
        if ((TG_REG(addr) & mask) == value) {
            return 1;
        }
    }
    return 0;
}

#if !defined(TG_CLOCK_NRF52) && !defined(TG_CLOCK_RP2040)
static void tg_set_field(uint32_t addr, uint32_t mask, uint32_t value)
{
    TG_REG(addr) = (TG_REG(addr) & ~mask) | value;
}

/* AHB (HPRE) and APB (PPRE) prescaler encodings, common to the STM32 families: 0xxx = /1,
   1000 = /2 ... and 0xx = /1, 100 = /2, 101 = /4, 110 = /8, 111 = /16. */
#define TG_HPRE(div) ((div) == 1 ? 0u : (div) == 2 ? 8u : (div) == 4 ? 9u : (div) == 8 ? 10u : 11u)
#define TG_PPRE(div) ((div) == 1 ? 0u : (div) == 2 ? 4u : (div) == 4 ? 5u : (div) == 8 ? 6u : 7u)

/* The clocks once the PLL runs: HCLK = SYSCLK / AHB, PCLKx = HCLK / APBx. */
static void tg_clocks_rated(uint32_t sysclk_hz)
{
    tg_clocks.sysclk_hz = sysclk_hz;
    tg_clocks.hclk_hz = sysclk_hz / TG_CLK_AHB_DIV;
    tg_clocks.pclk1_hz = tg_clocks.hclk_hz / TG_CLK_APB1_DIV;
    tg_clocks.pclk2_hz = tg_clocks.hclk_hz / TG_CLK_APB2_DIV;
}
#endif

#if (defined(TG_CLOCK_STM32F7) || defined(TG_CLOCK_STM32H7)) && (TG_CLK_ICACHE || TG_CLK_DCACHE)
/* Cortex-M7 L1 caches (Arm v7-M ARM B2.2.7, Cortex-M7 TRM 4.1): invalidate, then enable.
   Nothing but the core touches the arena (no DMA), so no MPU region is needed for coherency. */
#define SCB_CCR 0xE000ED14u
#define SCB_CCSIDR 0xE000ED80u
#define SCB_CSSELR 0xE000ED84u
#define SCB_ICIALLU 0xE000EF50u
#define SCB_DCISW 0xE000EF60u
#define SCB_DCCMVAC 0xE000EF68u

static void tg_barrier(void)
{
    __asm__ volatile("dsb 0xF\n\tisb 0xF" ::: "memory");
}

static void tg_caches_enable(void)
{
#if TG_CLK_ICACHE
    tg_barrier();
    TG_REG(SCB_ICIALLU) = 0u;
    tg_barrier();
    TG_REG(SCB_CCR) |= 1u << 17; /* IC */
    tg_barrier();
#endif
#if TG_CLK_DCACHE
    {
        uint32_t ccsidr;
        uint32_t sets;
        TG_REG(SCB_CSSELR) = 0u; /* level 1 data cache */
        tg_barrier();
        ccsidr = TG_REG(SCB_CCSIDR);
        sets = (ccsidr >> 13) & 0x7FFFu;
        do {
            uint32_t ways = (ccsidr >> 3) & 0x3FFu;
            do {
                TG_REG(SCB_DCISW) = (sets << 5) | (ways << 30); /* 32-byte lines, 4 ways */
            } while (ways-- != 0u);
        } while (sets-- != 0u);
        tg_barrier();
        TG_REG(SCB_CCR) |= 1u << 16; /* DC */
        tg_barrier();
    }
#endif
}
void tg_dcache_clean(const void *addr, uint32_t bytes)
{
#if TG_CLK_DCACHE
    uintptr_t line = (uintptr_t)addr & ~(uintptr_t)31u;
    const uintptr_t end = (uintptr_t)addr + bytes;
    tg_barrier();
    for (; line < end; line += 32u) {
        TG_REG(SCB_DCCMVAC) = (uint32_t)line;
    }
    tg_barrier();
#else
    (void)addr;
    (void)bytes;
#endif
}
#else
static void tg_caches_enable(void) {}
#define TG_NO_DCACHE 1
#endif

#if defined(TG_CLOCK_STM32F4) || defined(TG_CLOCK_STM32F7)
/* STM32F4 (RM0383 ch. 6 RCC, 5 PWR, 3 flash) and STM32F7 (RM0385 ch. 5 RCC, 4 PWR, 3 flash):
   the same RCC layout. PLL from HSI (16 MHz): SYSCLK = 16 MHz / M * N / P. */
#define RCC_CR 0x40023800u
#define RCC_PLLCFGR 0x40023804u
#define RCC_CFGR 0x40023808u
#define RCC_APB1ENR 0x40023840u
#define PWR_CR 0x40007000u
#define PWR_CSR 0x40007004u
#define FLASH_ACR 0x40023C00u
#if defined(TG_CLOCK_STM32F4)
#define TG_FLASH_ACCEL ((1u << 8) | (1u << 9) | (1u << 10)) /* PRFTEN, ICEN, DCEN (ART) */
#else
#define TG_FLASH_ACCEL ((1u << 8) | (1u << 9)) /* PRFTEN, ARTEN */
#endif
#define TG_CFGR_PRESCALERS ((0xFu << 4) | (7u << 10) | (7u << 13))

static const char *tg_pll_off(const char *why)
{
    TG_REG(RCC_CR) &= ~(1u << 24);
    return why;
}

static const char *tg_clock_bringup(void)
{
    TG_REG(RCC_APB1ENR) |= 1u << 28; /* PWREN */
    (void)TG_REG(RCC_APB1ENR);
    /* VOS (PWR_CR[15:14]: 11 scale 1, 10 scale 2, 01 scale 3), written while the PLL is off */
    tg_set_field(PWR_CR, 3u << 14, (uint32_t)(4 - TG_CLK_VOS) << 14);
    tg_set_field(RCC_PLLCFGR, 0x3Fu | (0x1FFu << 6) | (3u << 16) | (1u << 22) | (0xFu << 24),
                 TG_CLK_PLLM | (TG_CLK_PLLN << 6) | ((TG_CLK_PLLP / 2u - 1u) << 16) | (TG_CLK_PLLQ << 24));
    TG_REG(RCC_CR) |= 1u << 24; /* PLLON */
    if (!tg_wait(RCC_CR, 1u << 25, 1u << 25)) {
        return tg_pll_off("the PLL did not lock");
    }
#if TG_CLK_OVERDRIVE
    /* RM0385 4.1.4: over-drive on (ODEN, ODRDY), then switch to it (ODSWEN, ODSWRDY) */
    TG_REG(PWR_CR) |= 1u << 16;
    if (!tg_wait(PWR_CSR, 1u << 16, 1u << 16)) {
        TG_REG(PWR_CR) &= ~(1u << 16);
        return tg_pll_off("the regulator's over-drive did not start");
    }
    TG_REG(PWR_CR) |= 1u << 17;
    if (!tg_wait(PWR_CSR, 1u << 17, 1u << 17)) {
        TG_REG(PWR_CR) &= ~((1u << 16) | (1u << 17));
        return tg_pll_off("the regulator did not switch to over-drive");
    }
#endif
    if (!tg_wait(PWR_CSR, 1u << 14, 1u << 14)) { /* VOSRDY */
        return tg_pll_off("the regulator's voltage scaling did not settle");
    }
    /* more wait states before the faster clock; read back (RM0383 3.4.1) */
    tg_set_field(FLASH_ACR, 0xFu | TG_FLASH_ACCEL, TG_CLK_FLASH_WS | TG_FLASH_ACCEL);
    if ((TG_REG(FLASH_ACR) & 0xFu) != TG_CLK_FLASH_WS) {
        return tg_pll_off("the flash did not accept its wait states");
    }
    tg_set_field(RCC_CFGR, TG_CFGR_PRESCALERS,
                 (TG_HPRE(TG_CLK_AHB_DIV) << 4) | (TG_PPRE(TG_CLK_APB1_DIV) << 10) | (TG_PPRE(TG_CLK_APB2_DIV) << 13));
    tg_set_field(RCC_CFGR, 3u, 2u); /* SW = PLL */
    if (!tg_wait(RCC_CFGR, 3u << 2, 2u << 2)) {
        tg_set_field(RCC_CFGR, 3u | TG_CFGR_PRESCALERS, 0u);
        return tg_pll_off("the system clock did not switch to the PLL");
    }
    tg_clocks_rated(TG_CLK_SYSCLK_HZ);
    return 0;
}

#elif defined(TG_CLOCK_STM32H7)
/* STM32H742/743/753/750 (RM0433 ch. 8 RCC, 6 PWR, 4 flash). PLL1 from HSI (64 MHz):
   SYSCLK = 64 MHz / M * N / P. 480 MHz needs VOS0 (scale 1 plus SYSCFG over-drive), which only
   revision V silicon has; revision Y runs at TG_CLK_SLOW_SYSCLK_HZ in scale 1. */
#define RCC_CR 0x58024400u
#define RCC_CFGR 0x58024410u
#define RCC_D1CFGR 0x58024418u
#define RCC_D2CFGR 0x5802441Cu
#define RCC_D3CFGR 0x58024420u
#define RCC_PLLCKSELR 0x58024428u
#define RCC_PLLCFGR 0x5802442Cu
#define RCC_PLL1DIVR 0x58024430u
#define RCC_APB4ENR 0x580244F4u
#define PWR_CSR1 0x58024804u
#define PWR_CR3 0x5802480Cu
#define PWR_D3CR 0x58024818u
#define SYSCFG_PWRCR 0x5800042Cu
#define FLASH_ACR 0x52002000u
#define DBGMCU_IDC 0x5C001000u
#define TG_H7_REV_V 0x2003u

static const char *tg_pll_off(const char *why)
{
    TG_REG(RCC_CR) &= ~(1u << 24);
    return why;
}

static const char *tg_clock_bringup(void)
{
    const int fast = (TG_REG(DBGMCU_IDC) >> 16) >= TG_H7_REV_V;
    const uint32_t pll_n = fast ? TG_CLK_PLLN : TG_CLK_SLOW_PLLN;
    const uint32_t flash_ws = fast ? TG_CLK_FLASH_WS : TG_CLK_SLOW_FLASH_WS;
    /* supply from the LDO (the configuration locks until the next power-on), then scale 1 */
    tg_set_field(PWR_CR3, 7u, 1u << 1);
    if (!tg_wait(PWR_CSR1, 1u << 13, 1u << 13)) { /* ACTVOSRDY */
        return "the regulator did not report its supply configuration ready";
    }
    tg_set_field(PWR_D3CR, 3u << 14, 3u << 14);
    if (!tg_wait(PWR_D3CR, 1u << 13, 1u << 13)) {
        return "the regulator's voltage scaling did not settle";
    }
    if (fast) {
        TG_REG(RCC_APB4ENR) |= 1u << 1; /* SYSCFGEN */
        (void)TG_REG(RCC_APB4ENR);
        TG_REG(SYSCFG_PWRCR) |= 1u; /* ODEN: VOS0 */
        if (!tg_wait(PWR_D3CR, 1u << 13, 1u << 13)) {
            TG_REG(SYSCFG_PWRCR) &= ~1u;
            return "the regulator did not reach VOS0";
        }
    }
    /* PLLSRC = HSI, DIVM1; input 64 MHz / M in 8..16 MHz (PLL1RGE = 3), wide VCO, P output only */
    tg_set_field(RCC_PLLCKSELR, 3u | (0x3Fu << 4), TG_CLK_PLLM << 4);
    tg_set_field(RCC_PLLCFGR, 0xFu | (7u << 16), (3u << 2) | (1u << 16));
    TG_REG(RCC_PLL1DIVR) = (pll_n - 1u) | ((TG_CLK_PLLP - 1u) << 9) | ((TG_CLK_PLLQ - 1u) << 16) | (1u << 24);
    TG_REG(RCC_CR) |= 1u << 24; /* PLL1ON */
    if (!tg_wait(RCC_CR, 1u << 25, 1u << 25)) {
        return tg_pll_off("the PLL did not lock");
    }
    /* wait states for the AXI clock (HCLK); WRHIGHFREQ keeps its reset value (the largest delay) */
    tg_set_field(FLASH_ACR, 0xFu, flash_ws);
    if ((TG_REG(FLASH_ACR) & 0xFu) != flash_ws) {
        return tg_pll_off("the flash did not accept its wait states");
    }
    /* D1CPRE /1, HPRE = AHB, every APB (D1PPRE, D2PPRE1/2, D3PPRE) = APB1 */
    tg_set_field(RCC_D1CFGR, 0xFu | (7u << 4) | (0xFu << 8), TG_HPRE(TG_CLK_AHB_DIV) | (TG_PPRE(TG_CLK_APB1_DIV) << 4));
    tg_set_field(RCC_D2CFGR, (7u << 4) | (7u << 8), (TG_PPRE(TG_CLK_APB1_DIV) << 4) | (TG_PPRE(TG_CLK_APB2_DIV) << 8));
    tg_set_field(RCC_D3CFGR, 7u << 4, TG_PPRE(TG_CLK_APB1_DIV) << 4);
    tg_set_field(RCC_CFGR, 7u, 3u); /* SW = PLL1 */
    if (!tg_wait(RCC_CFGR, 7u << 3, 3u << 3)) {
        tg_set_field(RCC_CFGR, 7u, 0u);
        tg_set_field(RCC_D1CFGR, 0xFu | (7u << 4) | (0xFu << 8), 0u);
        tg_set_field(RCC_D2CFGR, (7u << 4) | (7u << 8), 0u);
        tg_set_field(RCC_D3CFGR, 7u << 4, 0u);
        return tg_pll_off("the system clock did not switch to the PLL");
    }
    tg_clocks_rated(fast ? TG_CLK_SYSCLK_HZ : TG_CLK_SLOW_SYSCLK_HZ);
    return fast ? 0 : "revision Y silicon: rated for the lower clock";
}

#elif defined(TG_CLOCK_STM32L4) || defined(TG_CLOCK_STM32U5) || defined(TG_CLOCK_STM32G0)
/* STM32L4+ (RM0432 ch. 6 RCC, 5 PWR, 3 flash), STM32U5 (RM0456 ch. 11 RCC, 10 PWR, 7 flash) and
   STM32G0 (RM0444 ch. 5 RCC, 4 PWR, 3 flash). PLL from HSI16: SYSCLK = 16 MHz / M * N / R. */
#if defined(TG_CLOCK_STM32U5)
#define RCC_BASE 0x46020C00u
#define RCC_CFGR (RCC_BASE + 0x1Cu) /* CFGR1: SW [1:0], SWS [3:2] */
#define RCC_PRESCALERS (RCC_BASE + 0x20u) /* CFGR2: HPRE [3:0], PPRE1 [6:4], PPRE2 [10:8] */
#define TG_PRESCALER_MASK (0xFu | (7u << 4) | (7u << 8))
#define TG_PRESCALERS(ahb) (TG_HPRE(ahb) | (TG_PPRE(TG_CLK_APB1_DIV) << 4) | (TG_PPRE(TG_CLK_APB2_DIV) << 8))
#define RCC_PLLCFGR (RCC_BASE + 0x28u)
#define RCC_PLLDIVR (RCC_BASE + 0x34u)
#define RCC_PWR_ENR (RCC_BASE + 0x94u) /* AHB3ENR */
#define RCC_PWR_EN_BIT 2u
#define TG_SW_PLL 3u
#define TG_SW_MASK 3u
#define TG_SWS_SHIFT 2u
#define PWR_VOSR 0x4602080Cu
#define ICACHE_CR 0x40030400u
#elif defined(TG_CLOCK_STM32L4)
#define RCC_BASE 0x40021000u
#define RCC_CFGR (RCC_BASE + 0x08u) /* SW [1:0], SWS [3:2], HPRE [7:4], PPRE1 [10:8], PPRE2 [13:11] */
#define RCC_PRESCALERS RCC_CFGR
#define TG_PRESCALER_MASK ((0xFu << 4) | (7u << 8) | (7u << 11))
#define TG_PRESCALERS(ahb) ((TG_HPRE(ahb) << 4) | (TG_PPRE(TG_CLK_APB1_DIV) << 8) | (TG_PPRE(TG_CLK_APB2_DIV) << 11))
#define RCC_PLLCFGR (RCC_BASE + 0x0Cu)
#define RCC_PWR_ENR (RCC_BASE + 0x58u) /* APB1ENR1 */
#define RCC_PWR_EN_BIT 28u
#define TG_SW_PLL 3u
#define TG_SW_MASK 3u
#define TG_SWS_SHIFT 2u
#define PWR_CR1 0x40007000u
#define PWR_SR2 0x40007014u
#define PWR_CR5 0x40007080u
#else
#define RCC_BASE 0x40021000u
#define RCC_CFGR (RCC_BASE + 0x08u) /* SW [2:0], SWS [5:3], HPRE [11:8], PPRE [14:12] */
#define RCC_PRESCALERS RCC_CFGR
#define TG_PRESCALER_MASK ((0xFu << 8) | (7u << 12))
#define TG_PRESCALERS(ahb) ((TG_HPRE(ahb) << 8) | (TG_PPRE(TG_CLK_APB1_DIV) << 12))
#define RCC_PLLCFGR (RCC_BASE + 0x0Cu)
#define RCC_PWR_ENR (RCC_BASE + 0x3Cu) /* APBENR1 */
#define RCC_PWR_EN_BIT 28u
#define TG_SW_PLL 2u
#define TG_SW_MASK 7u
#define TG_SWS_SHIFT 3u
#define PWR_CR1 0x40007000u
#define PWR_SR2 0x40007014u
#endif
#define RCC_CR RCC_BASE
#define FLASH_ACR 0x40022000u
#if defined(TG_CLOCK_STM32U5)
#define TG_FLASH_ACCEL (1u << 8) /* PRFTEN */
#elif defined(TG_CLOCK_STM32L4)
#define TG_FLASH_ACCEL ((1u << 8) | (1u << 9) | (1u << 10)) /* PRFTEN, ICEN, DCEN */
#else
#define TG_FLASH_ACCEL ((1u << 8) | (1u << 9)) /* PRFTEN, ICEN */
#endif

static const char *tg_pll_off(const char *why)
{
    TG_REG(RCC_CR) &= ~(1u << 24);
    return why;
}

/* PLL source HSI16 (2), M, N and the R output (the system clock) enabled */
static void tg_pll_configure(void)
{
#if defined(TG_CLOCK_STM32U5)
    /* PLL1CFGR: PLL1SRC [1:0], PLL1RGE [3:2] = 3 (8-16 MHz input), PLL1M [11:8], PLL1MBOOST [15:12]
       = /1 (the EPOD booster takes the 16 MHz input), PLL1REN bit 18; PLL1DIVR: N-1, P-1, Q-1, R-1 */
    TG_REG(RCC_PLLCFGR) = 2u | (3u << 2) | ((TG_CLK_PLLM - 1u) << 8) | (1u << 18);
    TG_REG(RCC_PLLDIVR) = (TG_CLK_PLLN - 1u) | (1u << 9) | (1u << 16) | ((TG_CLK_PLLR - 1u) << 24);
#elif defined(TG_CLOCK_STM32L4)
    /* PLLSRC [1:0], PLLM [7:4] = M-1, PLLN [14:8], PLLREN bit 24, PLLR [26:25] = R/2-1 */
    TG_REG(RCC_PLLCFGR) = 2u | ((TG_CLK_PLLM - 1u) << 4) | (TG_CLK_PLLN << 8) | (1u << 24) |
                          ((TG_CLK_PLLR / 2u - 1u) << 25);
#else
    /* PLLSRC [1:0], PLLM [6:4] = M-1, PLLN [14:8], PLLREN bit 28, PLLR [31:29] = R-1 */
    TG_REG(RCC_PLLCFGR) = 2u | ((TG_CLK_PLLM - 1u) << 4) | (TG_CLK_PLLN << 8) | (1u << 28) |
                          ((TG_CLK_PLLR - 1u) << 29);
#endif
}

/* Regulator range 1 (and the boost its fastest clocks need); 0 or why not */
static const char *tg_regulator(void)
{
#if defined(TG_CLOCK_STM32U5)
    tg_set_field(PWR_VOSR, 3u << 16, 3u << 16); /* VOS = range 1 */
    if (!tg_wait(PWR_VOSR, 1u << 15, 1u << 15)) {
        return "the regulator's voltage scaling did not settle";
    }
    return 0;
#else
    tg_set_field(PWR_CR1, 3u << 9, 1u << 9); /* VOS = range 1 */
    if (!tg_wait(PWR_SR2, 1u << 10, 0u)) {   /* VOSF clear */
        return "the regulator's voltage scaling did not settle";
    }
#if defined(TG_CLOCK_STM32L4)
    TG_REG(PWR_CR5) &= ~(1u << 8); /* R1MODE = 0: range 1 boost, needed above 80 MHz */
#endif
    return 0;
#endif
}

static const char *tg_clock_bringup(void)
{
    const char *problem;
    TG_REG(RCC_PWR_ENR) |= 1u << RCC_PWR_EN_BIT;
    (void)TG_REG(RCC_PWR_ENR);
    problem = tg_regulator();
    if (problem) {
        return problem;
    }
    TG_REG(RCC_CR) |= 1u << 8; /* HSION */
    if (!tg_wait(RCC_CR, 1u << 10, 1u << 10)) {
        return "the HSI16 oscillator did not start";
    }
    tg_pll_configure();
#if defined(TG_CLOCK_STM32U5)
    TG_REG(PWR_VOSR) |= 1u << 18; /* BOOSTEN: EPOD booster, needed above 55 MHz */
    if (!tg_wait(PWR_VOSR, 1u << 14, 1u << 14)) {
        TG_REG(PWR_VOSR) &= ~(1u << 18);
        return "the regulator's booster did not start";
    }
#endif
    TG_REG(RCC_CR) |= 1u << 24; /* PLLON */
    if (!tg_wait(RCC_CR, 1u << 25, 1u << 25)) {
        return tg_pll_off("the PLL did not lock");
    }
    tg_set_field(FLASH_ACR, 0xFu | TG_FLASH_ACCEL, TG_CLK_FLASH_WS | TG_FLASH_ACCEL);
    if ((TG_REG(FLASH_ACR) & 0xFu) != TG_CLK_FLASH_WS) {
        return tg_pll_off("the flash did not accept its wait states");
    }
    /* above 80 MHz the AHB runs at half speed for 1 us across the switch (RM0432 6.2.9, RM0456
       11.4.4: the current step) */
    tg_set_field(RCC_PRESCALERS, TG_PRESCALER_MASK, TG_PRESCALERS(TG_CLK_SYSCLK_HZ > 80000000u ? 2 : 1));
    tg_set_field(RCC_CFGR, TG_SW_MASK, TG_SW_PLL);
    if (!tg_wait(RCC_CFGR, TG_SW_MASK << TG_SWS_SHIFT, TG_SW_PLL << TG_SWS_SHIFT)) {
        tg_set_field(RCC_CFGR, TG_SW_MASK, 0u);
        tg_set_field(RCC_PRESCALERS, TG_PRESCALER_MASK, 0u);
        return tg_pll_off("the system clock did not switch to the PLL");
    }
    {
        volatile uint32_t n;
        for (n = 0; n < 200u; ++n) { /* >= 1 us at <= 160 MHz/2 */
        }
    }
    tg_set_field(RCC_PRESCALERS, TG_PRESCALER_MASK, TG_PRESCALERS(TG_CLK_AHB_DIV));
#if defined(TG_CLOCK_STM32U5)
    TG_REG(ICACHE_CR) |= 1u; /* the instruction cache (RM0456 ch. 8) */
#endif
    tg_clocks_rated(TG_CLK_SYSCLK_HZ);
    return 0;
}

#elif defined(TG_CLOCK_NRF52)
/* nRF52840 (product specification v1.7, 6.4 CLOCK, 6.20 NVMC): the CPU runs at 64 MHz from
   either source; the crystal (HFXO) gives the UART and radio their accuracy (HFINT: +-1.5 %). */
#define CLOCK_TASKS_HFCLKSTART 0x40000000u
#define CLOCK_EVENTS_HFCLKSTARTED 0x40000100u
#define NVMC_ICACHECNF 0x4001E540u

static const char *tg_clock_bringup(void)
{
    TG_REG(NVMC_ICACHECNF) |= 1u; /* CACHEEN */
    TG_REG(CLOCK_EVENTS_HFCLKSTARTED) = 0u;
    TG_REG(CLOCK_TASKS_HFCLKSTART) = 1u;
    if (!tg_wait(CLOCK_EVENTS_HFCLKSTARTED, 1u, 1u)) {
        return "the 32 MHz crystal (HFXO) did not start: on the internal oscillator (HFINT)";
    }
    return 0;
}

#elif defined(TG_CLOCK_RP2040)
/* RP2040 (datasheet 2.15 Clocks, 2.16 XOSC, 2.18 PLL, 2.14 Subsystem resets): the boot ROM
   leaves clk_sys and clk_ref on the ring oscillator (ROSC, about 6.5 MHz, imprecise). Start the
   12 MHz crystal, put clk_ref on it, lock PLL_SYS (12 MHz / REFDIV x FBDIV = VCO, / POSTDIV1 /
   POSTDIV2), switch clk_sys to the PLL through its glitchless mux, and run clk_peri (the UARTs'
   clock) from clk_sys. The flash is read through the XIP cache: no wait states to set. Register
   writes to base + 0x2000 set bits and to base + 0x3000 clear them (2.1.2 atomic aliases). */
#define RP_SET 0x2000u
#define RP_CLR 0x3000u
#define RESETS_RESET 0x4000C000u
#define RESETS_DONE 0x4000C008u
#define RESETS_PLL_SYS (1u << 12)
#define XOSC_CTRL 0x40024000u
#define XOSC_STATUS 0x40024004u
#define XOSC_STARTUP 0x4002400Cu
#define CLK_REF_CTRL 0x40008030u
#define CLK_REF_SELECTED 0x40008038u
#define CLK_SYS_CTRL 0x4000803Cu
#define CLK_SYS_SELECTED 0x40008044u
#define CLK_PERI_CTRL 0x40008048u
#define PLL_SYS_CS 0x40028000u
#define PLL_SYS_PWR 0x40028004u
#define PLL_SYS_FBDIV 0x40028008u
#define PLL_SYS_PRIM 0x4002800Cu

/* XOSC STARTUP.DELAY counts 256 crystal cycles: 1 ms of start-up (2.16.3) */
#define TG_XOSC_DELAY ((TG_CLK_XOSC_HZ / 1000u + 255u) / 256u)

/* clk_sys from clk_ref (SRC 0), clk_ref from the ring oscillator (SRC 0): the reset state */
static void tg_sys_on_ref(void)
{
    TG_REG(CLK_SYS_CTRL + RP_CLR) = 1u;
    (void)tg_wait(CLK_SYS_SELECTED, 1u, 1u);
}

static void tg_rp2040_peri(uint32_t sysclk_hz)
{
    TG_REG(CLK_PERI_CTRL) = 1u << 11; /* ENABLE, AUXSRC 0: clk_sys */
    tg_clocks.sysclk_hz = sysclk_hz;
    tg_clocks.hclk_hz = sysclk_hz;
    tg_clocks.pclk1_hz = sysclk_hz; /* clk_peri */
    tg_clocks.pclk2_hz = sysclk_hz;
}

static const char *tg_clock_bringup(void)
{
    tg_sys_on_ref();
    TG_REG(XOSC_STARTUP) = TG_XOSC_DELAY;
    TG_REG(XOSC_CTRL) = (0xFABu << 12) | 0xAA0u; /* ENABLE, FREQ_RANGE 1-15 MHz */
    if (!tg_wait(XOSC_STATUS, 1u << 31, 1u << 31)) {
        tg_rp2040_peri(TG_CLK_RESET_HZ);
        return "the 12 MHz crystal (XOSC) did not start: on the ring oscillator (ROSC)";
    }
    TG_REG(CLK_REF_CTRL) = 2u; /* SRC: xosc_clksrc */
    if (!tg_wait(CLK_REF_SELECTED, 0x7u, 1u << 2)) {
        TG_REG(CLK_REF_CTRL) = 0u;
        tg_rp2040_peri(TG_CLK_RESET_HZ);
        return "clk_ref did not switch to the crystal: on the ring oscillator (ROSC)";
    }
    /* PLL_SYS out of reset, then powered up with its dividers (2.18.2.1) */
    TG_REG(RESETS_RESET + RP_SET) = RESETS_PLL_SYS;
    TG_REG(RESETS_RESET + RP_CLR) = RESETS_PLL_SYS;
    (void)tg_wait(RESETS_DONE, RESETS_PLL_SYS, RESETS_PLL_SYS);
    TG_REG(PLL_SYS_CS) = TG_CLK_PLL_REFDIV;
    TG_REG(PLL_SYS_FBDIV) = TG_CLK_PLL_FBDIV;
    TG_REG(PLL_SYS_PWR + RP_CLR) = (1u << 0) | (1u << 5); /* PD, VCOPD */
    if (!tg_wait(PLL_SYS_CS, 1u << 31, 1u << 31)) {
        TG_REG(PLL_SYS_PWR + RP_SET) = (1u << 0) | (1u << 5);
        tg_rp2040_peri(TG_CLK_XOSC_HZ);
        return "PLL_SYS did not lock: on the 12 MHz crystal";
    }
    TG_REG(PLL_SYS_PRIM) = ((uint32_t)TG_CLK_PLL_POSTDIV1 << 16) | ((uint32_t)TG_CLK_PLL_POSTDIV2 << 12);
    TG_REG(PLL_SYS_PWR + RP_CLR) = 1u << 3; /* POSTDIVPD */
    /* clk_sys: AUXSRC clksrc_pll_sys (0) while on clk_ref, then SRC clksrc_clk_sys_aux */
    TG_REG(CLK_SYS_CTRL + RP_CLR) = 0x7u << 5;
    TG_REG(CLK_SYS_CTRL + RP_SET) = 1u;
    if (!tg_wait(CLK_SYS_SELECTED, 0x3u, 1u << 1)) {
        tg_sys_on_ref();
        tg_rp2040_peri(TG_CLK_XOSC_HZ);
        return "clk_sys did not switch to PLL_SYS: on the 12 MHz crystal";
    }
    tg_rp2040_peri(TG_CLK_SYSCLK_HZ);
    return 0;
}
#endif

void tg_clock_init(void)
{
    tg_clocks.sysclk_hz = TG_CLK_RESET_HZ;
    tg_clocks.hclk_hz = TG_CLK_RESET_HZ;
    tg_clocks.pclk1_hz = TG_CLK_RESET_HZ;
    tg_clocks.pclk2_hz = TG_CLK_RESET_HZ;
    tg_clocks.fallback = tg_clock_bringup();
    tg_caches_enable();
}

static void tg_put_u32(char *end, uint32_t value)
{
    do {
        *--end = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value);
}

/* TG-CLOCK <system clock in Hz> ok | TG-CLOCK <Hz> fallback: <why> */
void tg_clock_report(void)
{
    char number[11] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', '\0'};
    char *p = number;
    tg_put_u32(number + 10, tg_clocks.sysclk_hz);
    while (*p == ' ') {
        ++p;
    }
    tg_console_write("TG-CLOCK ");
    tg_console_write(p);
    if (tg_clocks.fallback) {
        tg_console_write(" fallback: ");
        tg_console_write(tg_clocks.fallback);
    } else {
        tg_console_write(" ok");
    }
    tg_console_write("\n");
}

#else
#define TG_NO_DCACHE 1

/* No clock bring-up (the QEMU machines, or a board built for its QEMU stand-in): the clock the
   board manifest states. */
void tg_clock_init(void)
{
    tg_clocks.sysclk_hz = TG_CPU_HZ;
    tg_clocks.hclk_hz = TG_CPU_HZ;
    tg_clocks.pclk1_hz = TG_CPU_HZ;
    tg_clocks.pclk2_hz = TG_CPU_HZ;
    tg_clocks.fallback = 0;
}

void tg_clock_report(void) {}

#endif

#if defined(TG_NO_DCACHE)
void tg_dcache_clean(const void *addr, uint32_t bytes)
{
    (void)addr;
    (void)bytes;
}
#endif
