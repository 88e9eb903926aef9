"""Every hardware board's clock bring-up data (boards/*.json ``tinygen.clock``) against the
reference manuals' tables and limits: flash wait states per clock, PLL factor and frequency ranges,
bus clock maxima, the console's baud divisor at the rated clock and at the reset clock (the
fallback). Fast: nothing is compiled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tinygen import platformio
from tinygen.boards import Board, get_board, list_boards

MHZ = 1_000_000

#: The highest HCLK (MHz) for 0, 1, 2... flash wait states, transcribed from each manual's table
#: "Number of wait states according to CPU clock (HCLK) frequency" (H7: "FLASH recommended number
#: of wait states and programming delay").
MANUAL_WAIT_STATES = {
    # RM0383 (STM32F411xC/E) 3.4 Read interface, VDD 2.7-3.6 V
    "stm32f4": [30, 64, 90, 100],
    # RM0385 (STM32F75xxx/74xxx) 3.3.2 Read access latency, VDD 2.7-3.6 V
    "stm32f7": [30, 60, 90, 120, 150, 180, 210, 216],
    # RM0433 (STM32H742/743/753/750) 4.3.8 FLASH read latency: AXI clock, VOS0 (VOS1 stops at 3)
    "stm32h7": [70, 140, 210, 225, 240],
    # RM0432 (STM32L4+) 3.3.3 Read access latency: range 1 boost mode
    "stm32l4": [20, 40, 60, 80, 100, 120],
    # RM0456 (STM32U575/585) 7.3.3 Read access latency: range 1
    "stm32u5": [32, 64, 96, 128, 160],
    # RM0444 (STM32G0x1) 3.3.4 Read access latency: range 1
    "stm32g0": [24, 48, 64],
}

#: wait states at each board's configured HCLK, read off the tables above by hand
EXPECTED_WAIT_STATES = {
    "blackpill_f411ce": 3,  # 100 MHz
    "nucleo_f411re": 3,
    "nucleo_f746": 7,  # 216 MHz
    "disco_f746ng": 7,
    "nucleo_h743zi": 4,  # AXI 240 MHz (480 / 2)
    "nucleo_l4r5zi": 5,  # 120 MHz
    "nucleo_u575zi": 4,  # 160 MHz
    "nucleo_g071rb": 2,  # 64 MHz
    "nrf52840_dk": 0,
    "arduino_nano_33_ble": 0,
    "raspberry_pi_pico": 0,  # execute-in-place through the XIP cache: no wait states to set
}


def _pll(m: tuple[int, int], vco_in: tuple[float, float], n: tuple[int, int], vco: tuple[float, float],
         out: tuple[str, tuple[int, ...]], max_out: float, source: float) -> dict[str, Any]:
    return {"m": m, "vco_in": vco_in, "n": n, "vco": vco, "out": out, "max_out": max_out, "source": source}


#: PLL limits (MHz) from each manual's RCC PLL configuration register description; the PLL runs
#: from the internal oscillator (``source``, MHz); ``out``: which divider gives SYSCLK and its values
MANUAL_PLL = {
    # RM0383 6.3.2 RCC_PLLCFGR: PLLM 2..63, VCO input 1..2, PLLN 50..432, VCO 100..432, PLLP 2/4/6/8
    "stm32f4": _pll((2, 63), (1, 2), (50, 432), (100, 432), ("p", (2, 4, 6, 8)), 100, 16),
    # RM0385 5.3.2 RCC_PLLCFGR: the same ranges, SYSCLK up to 216 MHz (over-drive)
    "stm32f7": _pll((2, 63), (1, 2), (50, 432), (100, 432), ("p", (2, 4, 6, 8)), 216, 16),
    # RM0433 8.7.11-13: DIVM1 1..63, PLL1RGE 8..16 MHz input, DIVN1 4..512, wide VCO 192..960 (rev V),
    # DIVP1 2..128 (even)
    "stm32h7": _pll((1, 63), (8, 16), (4, 512), (192, 960), ("p", tuple(range(2, 129, 2))), 480, 64),
    # RM0432 6.4.4 RCC_PLLCFGR: PLLM 1..16, input 2.66..16, PLLN 8..127, VCO 64..344, PLLR 2/4/6/8
    "stm32l4": _pll((1, 16), (2.66, 16), (8, 127), (64, 344), ("r", (2, 4, 6, 8)), 120, 16),
    # RM0456 11.8.33/36 RCC_PLL1CFGR/PLL1DIVR: PLL1M 1..16, PLL1RGE 8..16 MHz input, PLL1N 4..512,
    # VCO 128..544, PLL1R 1..128
    "stm32u5": _pll((1, 16), (8, 16), (4, 512), (128, 544), ("r", tuple(range(1, 129))), 160, 16),
    # RM0444 5.4.4 RCC_PLLCFGR: PLLM 1..8, input 2.66..16, PLLN 8..86, VCO 64..344, PLLR 2..8
    "stm32g0": _pll((1, 8), (2.66, 16), (8, 86), (64, 344), ("r", tuple(range(2, 9))), 64, 16),
}

#: (HCLK, APB1, APB2) maxima in MHz (datasheets' "General operating conditions"; H7 revision V at VOS0)
BUS_MAXIMA = {
    "stm32f4": (100, 50, 100),
    "stm32f7": (216, 54, 108),
    "stm32h7": (240, 120, 120),
    "stm32l4": (120, 120, 120),
    "stm32u5": (160, 160, 160),
    "stm32g0": (64, 64, 64),
}

#: the system clock at reset: HSI16 (F4, F7, G0), HSI 64 MHz (H7), MSI 4 MHz (L4+, U5), 64 MHz (nRF52)
#: RP2040: the ring oscillator, nominally 6.5 MHz (datasheet 2.17.1)
RESET_HZ = {"stm32f4": 16, "stm32f7": 16, "stm32g0": 16, "stm32h7": 64, "stm32l4": 4, "stm32u5": 4, "nrf52": 64,
            "rp2040": 6.5}

HARDWARE = [b for b in list_boards() if not b.is_qemu]
STM32 = [b for b in HARDWARE if b.clock["family"].startswith("stm32")]


def _ids(board: Board) -> str:
    return board.id


def _family(board: Board) -> str:
    return str(board.clock["family"])


def _clocks(board: Board, sysclk_hz: int) -> tuple[int, int, int]:
    """(HCLK, PCLK1, PCLK2) once ``sysclk_hz`` runs."""
    hclk = sysclk_hz // board.clock["ahb_div"]
    return hclk, hclk // board.clock["apb1_div"], hclk // board.clock["apb2_div"]


def test_every_hardware_board_has_clock_bring_up() -> None:
    assert sorted(b.id for b in HARDWARE) == sorted(EXPECTED_WAIT_STATES)


@pytest.mark.parametrize("board", HARDWARE, ids=_ids)
def test_rated_and_reset_clocks(board: Board) -> None:
    assert board.clock["sysclk_hz"] == board.clock_hz, "clock_hz (reports, estimates) is the clock the firmware sets"
    assert board.clock["reset_hz"] == RESET_HZ[_family(board)] * MHZ


@pytest.mark.parametrize("board", STM32, ids=_ids)
def test_flash_wait_state_table_is_the_manuals(board: Board) -> None:
    table = board.clock["flash_wait_states"]["max_hclk_hz"]
    assert table == [mhz * MHZ for mhz in MANUAL_WAIT_STATES[_family(board)]]


@pytest.mark.parametrize("board", HARDWARE, ids=_ids)
def test_wait_states_at_the_configured_clock(board: Board) -> None:
    assert board.flash_wait_states() == EXPECTED_WAIT_STATES[board.id]


def test_wait_state_boundaries() -> None:
    f411 = get_board("blackpill_f411ce")
    assert [f411.flash_wait_states(hz * MHZ) for hz in (16, 30, 31, 64, 65, 90, 91, 100)] == [0, 0, 1, 1, 2, 2, 3, 3]
    h7 = get_board("nucleo_h743zi")
    assert h7.flash_wait_states(200 * MHZ) == 2  # revision Y silicon: 400 MHz, AXI 200 MHz


def _check_pll(board: Board, pll: dict[str, int], sysclk_hz: int) -> None:
    limits = MANUAL_PLL[_family(board)]
    divider, allowed = limits["out"]
    vco_in = limits["source"] / pll["m"]
    vco = vco_in * pll["n"]
    assert limits["m"][0] <= pll["m"] <= limits["m"][1]
    assert limits["vco_in"][0] <= vco_in <= limits["vco_in"][1], f"VCO input {vco_in} MHz"
    assert limits["n"][0] <= pll["n"] <= limits["n"][1]
    assert limits["vco"][0] <= vco <= limits["vco"][1], f"VCO {vco} MHz"
    assert pll[divider] in allowed
    assert vco / pll[divider] * MHZ == sysclk_hz <= limits["max_out"] * MHZ


@pytest.mark.parametrize("board", STM32, ids=_ids)
def test_pll_factors_within_the_manuals_ranges(board: Board) -> None:
    _check_pll(board, board.clock["pll"], board.clock["sysclk_hz"])
    slow = board.clock.get("slow_silicon")
    if slow:  # H7 revision Y: the same PLL with another multiplier, at most 400 MHz
        _check_pll(board, {**board.clock["pll"], "n": slow["n"]}, slow["sysclk_hz"])
        assert slow["sysclk_hz"] <= 400 * MHZ


@pytest.mark.parametrize("board", STM32, ids=_ids)
def test_bus_clocks_within_the_maxima(board: Board) -> None:
    hclk, pclk1, pclk2 = _clocks(board, board.clock["sysclk_hz"])
    assert all(a <= m * MHZ for a, m in zip((hclk, pclk1, pclk2), BUS_MAXIMA[_family(board)]))


def _divisor(board: Board, pclk_hz: int) -> int:
    """BRR as tg_console.c computes it: rounded kernel clock / baud, x256 for an LPUART."""
    scale = board.console.get("brr_scale", 1)
    return (pclk_hz * scale + board.console["baud"] // 2) // board.console["baud"]


@pytest.mark.parametrize("board", STM32, ids=_ids)
def test_uart_divisor_at_the_rated_and_the_fallback_clock(board: Board) -> None:
    lpuart = board.console.get("brr_scale", 1) == 256
    for sysclk in (board.clock["sysclk_hz"], board.clock["reset_hz"]):
        # at the reset clock every prescaler is still /1
        pclk = _clocks(board, sysclk)[board.console["bus"]] if sysclk == board.clock["sysclk_hz"] else sysclk
        brr = _divisor(board, pclk)
        # RM USART chapters: BRR >= 16 with 16x oversampling; LPUART: 0x300 <= BRR < 2^20
        assert 0x300 <= brr < 1 << 20 if lpuart else 16 <= brr < 1 << 16
        actual = pclk * board.console.get("brr_scale", 1) / brr
        assert abs(actual / board.console["baud"] - 1) < 0.02, f"baud error at {sysclk} Hz"


def test_stand_in_builds_skip_the_chips_clock_code(tmp_path: Path) -> None:
    from test_build import make_library

    library = make_library(tmp_path / "lib")
    f746 = platformio.prepare_firmware(library, get_board("nucleo_f746"), tmp_path / "f746", target="qemu")
    assert "board_tinygen.clock.family = none" in (f746.path / "platformio.ini").read_text()
    # QEMU models the F411's family: its QEMU build is the board build, nothing overridden
    blackpill = platformio.prepare_firmware(library, get_board("blackpill_f411ce"), tmp_path / "bp", target="qemu")
    assert blackpill.target == "board" and "board_tinygen" not in (blackpill.path / "platformio.ini").read_text()


# ---- RP2040 (Raspberry Pi Pico): RP2040 datasheet, 2.18 PLL, 2.16 XOSC, 4.2 UART ----

PICO = get_board("raspberry_pi_pico")


def test_rp2040_pll_within_the_datasheets_ranges() -> None:
    """2.18.2: FREF / REFDIV >= 5 MHz, FBDIV 16..320, VCO 750..1600 MHz, POSTDIV1/2 1..7; the
    system clock at most 133 MHz (data sheet: clk_sys maximum)."""
    clock, pll = PICO.clock, PICO.clock["pll"]
    assert clock["xosc_hz"] == 12 * MHZ  # the Pico's crystal
    ref = clock["xosc_hz"] / pll["refdiv"]
    vco = ref * pll["fbdiv"]
    assert 1 <= pll["refdiv"] <= 63 and ref >= 5 * MHZ
    assert 16 <= pll["fbdiv"] <= 320 and 750 * MHZ <= vco <= 1600 * MHZ
    assert 1 <= pll["postdiv2"] <= pll["postdiv1"] <= 7  # POSTDIV1 >= POSTDIV2 saves power (2.18.2)
    assert vco / pll["postdiv1"] / pll["postdiv2"] == clock["sysclk_hz"] == 125 * MHZ <= 133 * MHZ


def _pl011_divisors(clk_hz: int, baud: int) -> tuple[int, int]:
    """(IBRD, FBRD) as tg_console.c computes them: clk / (16 baud) in 16.6 fixed point, rounded."""
    div = 8 * clk_hz // baud
    return div >> 7, ((div & 0x7F) + 1) // 2


@pytest.mark.parametrize("clk_mhz, fallback", [(125, False), (12, True), (6.5, True)])
def test_rp2040_uart_divisor(clk_mhz: float, fallback: bool) -> None:
    """4.2.7.1: IBRD 1..65535; the baud within 2 % at 125 MHz, on the crystal (PLL failed) and on
    the nominal ring oscillator (crystal failed)."""
    clk, baud = int(clk_mhz * MHZ), PICO.console["baud"]
    ibrd, fbrd = _pl011_divisors(clk, baud)
    assert 1 <= ibrd < 0xFFFF and 0 <= fbrd < 64
    actual = clk / (16 * (ibrd + fbrd / 64))
    assert abs(actual / baud - 1) < 0.02
    if not fallback:
        assert (ibrd, fbrd) == (67, 52)  # by hand: 125 MHz / (16 x 115200) = 67.817, 0.817 x 64 = 52.3


def test_rp2040_xosc_startup_delay() -> None:
    """2.16.3: STARTUP.DELAY counts 256 crystal periods; 1 ms at 12 MHz is 47 (tg_clock.c's TG_XOSC_DELAY)."""
    assert (PICO.clock["xosc_hz"] // 1000 + 255) // 256 == 47


def test_nano_33_ble_console_on_its_tx_pin() -> None:
    """No USB-UART bridge on the Nano: the console is UARTE0's legacy UART on D1 (P1.03) / D0
    (P1.10); PSEL: bits 0-4 the pin, bit 5 the port (nRF52840 product specification, UART PSEL.TXD)."""
    console = get_board("arduino_nano_33_ble").console
    assert (console["tx_pin"] >> 5, console["tx_pin"] & 31) == (1, 3)
    assert (console["rx_pin"] >> 5, console["rx_pin"] & 31) == (1, 10)
