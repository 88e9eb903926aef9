"""Firmware builds: every board, offline, the ELF's core, the fit check, the QEMU stand-ins running
the firmware app's console protocol bit-exactly against the numpy reference."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinygen import platformio, reference
from tinygen.boards import Board, get_board, list_boards
from tinygen.cli import main
from tinygen.codegen import generate
from tinygen.errors import TinygenError, ToolMissingError
from tinygen.ir import Graph, Op, Quantization, Tensor

BOARD_IDS = [b.id for b in list_boards()]

#: what the linked ELF's build attributes must say for each core
CPU_ARCH = {
    "cortex-m0plus": "v6S-M",
    "cortex-m3": "v7",
    "cortex-m4": "v7E-M",
    "cortex-m7": "v7E-M",
    "cortex-m33": "v8-M.mainline",
    "cortex-m55": "v8.1-M.mainline",
}
FP_ARCH = {"fpv4-sp-d16": "VFPv4-D16", "fpv5-sp-d16": "FPv5/FP-D16 for ARMv8", "fpv5-d16": "FPv5/FP-D16 for ARMv8"}


def _per_tensor(scale: float, zero_point: int) -> Quantization:
    return Quantization(np.float32([scale]), np.int64([zero_point]))


def fc_graph(name: str = "fcnet", n_in: int = 16, n_hidden: int = 8, n_out: int = 4, seed: int = 0) -> Graph:
    """A small int8 MLP (dense + relu, dense) with per-channel weights, built directly in the IR."""
    rng = np.random.default_rng(seed)
    graph = Graph(name)
    graph.add_tensor(Tensor("x", (1, n_in), "int8", _per_tensor(0.05, -3)))

    def dense(i: int, src: str, n_i: int, n_o: int, activation: str, dst: str, zero_point: int) -> None:
        w_scale = rng.uniform(0.002, 0.01, n_o).astype(np.float32)
        in_scale = np.float32(graph.tensors[src].quant.scale[0])
        zeros = np.zeros(n_o, np.int64)
        weights = rng.integers(-127, 128, (n_o, n_i)).astype(np.int8)
        graph.add_tensor(Tensor(f"w{i}", (n_o, n_i), "int8", Quantization(w_scale, zeros, axis=0), weights))
        bias = rng.integers(-500, 500, n_o).astype(np.int32)
        graph.add_tensor(Tensor(f"b{i}", (n_o,), "int32", Quantization(w_scale * in_scale, zeros, axis=0), bias))
        graph.add_tensor(Tensor(dst, (1, n_o), "int8", _per_tensor(0.1, zero_point)))
        attrs = {"activation": activation, "keep_num_dims": False}
        graph.add_op(Op("fully_connected", f"fc{i}", [src, f"w{i}", f"b{i}"], [dst], attrs))

    dense(0, "x", n_in, n_hidden, "relu", "h", -128)
    dense(1, "h", n_hidden, n_out, "none", "y", -10)
    graph.inputs, graph.outputs = ["x"], ["y"]
    graph.validate()
    return graph


def make_library(out_dir: Path, graph: Graph | None = None) -> Path:
    """Generate ``graph``'s C library (default: fc_graph()) into ``out_dir``."""
    return generate(graph or fc_graph(), out_dir).out_dir


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("lib") / "fcnet")


def readelf_attributes(path: Path) -> str:
    return subprocess.run(["arm-none-eabi-readelf", "-A", str(path)], capture_output=True, text=True, check=True).stdout


def section_address(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as handle:
        section = ELFFile(handle).get_section_by_name(name)
        assert section is not None, f"{elf} has no {name}"
        return int(section["sh_addr"])


def compiler_flags(obj: Path) -> list[str]:
    """The flags an object file was compiled with (its DWARF producer string; builds use -g)."""
    dump = subprocess.run(["arm-none-eabi-readelf", "--debug-dump=info", str(obj)], capture_output=True, text=True, check=True)
    producer = next(line for line in dump.stdout.splitlines() if "DW_AT_producer" in line)
    return producer.split()


def check_core(elf: Path, obj: Path, board: Board) -> None:
    """The ELF and an object file were built for ``board``'s core, FPU and extensions."""
    attrs = readelf_attributes(elf)
    assert f"Tag_CPU_arch: {CPU_ARCH[board.core]}\n" in attrs
    flags = compiler_flags(obj)
    assert all(flag in flags for flag in board.cpu_flags), (flags, board.cpu_flags)
    if board.core == "cortex-m55":
        assert "Tag_MVE_arch: MVE Integer and FP" in attrs and "Tag_ABI_VFP_args: VFP registers" in attrs
    elif board.has_fpu:
        assert f"Tag_FP_arch: {FP_ARCH[board.fpu]}\n" in attrs and "Tag_ABI_VFP_args: VFP registers" in attrs
        assert ("Tag_ABI_HardFP_use: SP only" in attrs) == ("-sp-" in board.fpu)
    else:
        assert "Tag_FP_arch" not in attrs and "VFP registers" not in attrs
    if board.core == "cortex-m33":
        assert "Tag_DSP_extension: Allowed" in attrs


# ---- every board, built for the board itself ----


@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_builds_for_every_board(board_id: str, library: Path, tmp_path: Path) -> None:
    board = get_board(board_id)
    project = platformio.prepare_firmware(library, board, tmp_path / "fw", extra_flags=["-Werror"])
    result = platformio.build(project)
    assert result.elf.is_file() and result.bin.is_file() and result.hex.is_file()
    # the vector table is the first thing in the board's flash, where its core boots from; an RP2040 boots its
    # 256-byte second-stage boot loader (.boot2) from there, which then starts the vector table after it
    boot2 = 256 if board.clock and board.clock.get("family") == "rp2040" else 0
    if boot2:
        assert section_address(result.elf, ".boot2") == board.flash.origin
    assert section_address(result.elf, ".isr_vector") == board.flash.origin + boot2
    assert section_address(result.elf, ".bss") >= board.ram.origin
    assert result.bin.stat().st_size == result.flash_used
    check_core(result.elf, project.build_dir / "src" / "main.o", board)
    manifest = platformio.read_manifest(library)
    assert result.ram_used >= manifest["arena_bytes"] + board.stack_size
    assert result.flash_used >= manifest["weight_bytes"]
    assert (result.flash_size, result.ram_size) == (board.flash.size, board.ram.size)


# ---- every board's code on its QEMU stand-in: the console protocol, bit-exact ----


def _expected_outputs(vectors: np.ndarray) -> list[tuple[bytes, bytes]]:
    """(hidden layer, output) bytes per vector from the numpy reference."""
    graph = fc_graph()
    result = []
    for row in vectors:
        tensors = reference.run(graph, row.reshape(1, -1))
        result.append((tensors["h"].astype(np.int8).tobytes(), tensors["y"].astype(np.int8).tobytes()))
    return result


@pytest.mark.emulator
@pytest.mark.parametrize("board_id", BOARD_IDS)
def test_stand_in_runs_the_board_build_bit_exact(board_id: str, library: Path, tmp_path: Path) -> None:
    from tinygen import emulator

    board = get_board(board_id)
    vectors = platformio.default_vectors(16, 3, seed=7)
    project = platformio.prepare_firmware(
        library, board, tmp_path / "fw", vectors=vectors, target="qemu", dump_tensors=True, extra_flags=["-Werror"]
    )
    result = platformio.build(project)
    # the board's own code (core attributes), linked at the stand-in's memory
    check_core(result.elf, project.build_dir / "src" / "main.o", board)
    assert section_address(result.elf, ".isr_vector") == board.stand_in().flash.origin
    run = emulator.run_firmware(result.elf, board.machine, num_layers=2)
    assert run.ok, run.problem
    assert (run.model, run.num_vectors, run.end_status, run.exit_code) == ("fcnet", 3, 0, 0)
    expected = _expected_outputs(vectors)
    assert [run.outputs[v] for v in range(3)] == [y for _, y in expected]
    assert [run.tensors[v][0] for v in range(3)] == [h for h, _ in expected]
    assert [run.tensors[v][1] for v in range(3)] == [y for _, y in expected]
    checksum = next(line.split()[1] for line in run.console if line.startswith("TG-CHECKSUM "))
    assert int(checksum, 16) == zlib.crc32(b"".join(y for _, y in expected))
    assert run.stack_bytes is not None and 0 < run.stack_bytes <= board.stack_size
    assert sorted(run.times) == [0, 1, 2]
    if run.method == "plugin":
        assert len(run.layer_instructions) == 3 and all(len(layers) == 2 for layers in run.layer_instructions)
        assert all(n > 0 for layers in run.layer_instructions for n in layers)


# ---- fit check, errors ----


def test_too_large_model_fails_before_compiling(tmp_path: Path) -> None:
    # a 40,000-feature input: a 40 KB arena for a board with 36 KB of RAM
    lib = make_library(tmp_path / "big", fc_graph("bignet", n_in=40000, n_hidden=4))
    arena = platformio.read_manifest(lib)["arena_bytes"]
    board = get_board("nucleo_g071rb")
    start = time.monotonic()
    with pytest.raises(TinygenError) as info:
        platformio.prepare_firmware(lib, board, tmp_path / "fw")
    message = str(info.value)
    over = arena + board.stack_size + platformio.APP_RAM_BYTES - 36 * 1024
    assert "does not fit board nucleo_g071rb" in message
    assert f"arena {arena:,}" in message and "36,864" in message and f"{over:,} bytes over" in message
    # flash: 160 KB of weights in 128 KB
    assert "flash needs at least" in message and "131,072" in message
    assert not (tmp_path / "fw").exists()  # nothing written, nothing compiled
    assert time.monotonic() - start < 5


def test_linker_overflow_names_board_and_bytes(tmp_path: Path) -> None:
    # a manifest that understates the arena gets past the pre-check; the linker script's memory
    # regions (from the board manifest) still refuse the firmware, and the error says by how much
    lib = make_library(tmp_path / "big", fc_graph("bignet", n_in=34000, n_hidden=1))
    manifest = json.loads((lib / "manifest.json").read_text())
    real_arena, manifest["arena_bytes"], manifest["weight_bytes"] = manifest["arena_bytes"], 64, 64
    (lib / "manifest.json").write_text(json.dumps(manifest))
    project = platformio.prepare_firmware(lib, get_board("nucleo_g071rb"), tmp_path / "fw", vectors=np.zeros((1, 34000), np.int8))
    with pytest.raises(TinygenError) as info:
        platformio.build(project)
    found = re.search(r"does not fit board nucleo_g071rb: RAM overflowed by ([\d,]+) bytes", str(info.value))
    assert found, str(info.value)
    assert int(found.group(1).replace(",", "")) >= real_arena + 4096 - 36 * 1024


def test_missing_toolchain_names_the_apt_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        platformio.find_toolchain()


def test_compiler_error_lines_are_shown(library: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(library), str(broken)], check=True)
    source = broken / "fcnet.c"
    source.write_text(source.read_text() + "\nint fcnet_broken = ;\n")
    project = platformio.prepare_firmware(broken, get_board("mps2_an385"), tmp_path / "fw")
    with pytest.raises(TinygenError) as info:
        platformio.build(project)
    message = str(info.value)
    assert "firmware build failed for board mps2_an385" in message
    assert re.search(r"fcnet\.c:\d+:\d+: error: expected expression", message)


def test_build_is_offline_from_an_empty_core(library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh PlatformIO core, and every proxy pointing at a closed port: any registry request fails
    monkeypatch.setenv("TINYGEN_HOME", str(tmp_path / "home"))
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    start = time.monotonic()
    project = platformio.prepare_firmware(library, get_board("nucleo_f746"), tmp_path / "fw")
    result = platformio.build(project)
    assert result.elf.is_file()
    core = platformio.core_dir()
    assert core.is_relative_to(tmp_path / "home")
    assert (core / "packages" / "tool-scons" / ".piopm").is_file()
    # a registry request stalls ~60 s before failing; provisioning + build take a few seconds
    assert time.monotonic() - start < 45


def test_cli_build_from_tinygen_toml(shared_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hello.tflite").write_bytes((shared_models / "hello_world_int8.tflite").read_bytes())
    assert main(["init", "hello.tflite", "--board", "nucleo_g071rb"]) == 0
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    elf = tmp_path / "out" / "hello-nucleo_g071rb" / ".pio" / "build" / "tinygen" / "firmware.elf"
    assert elf.is_file() and str(elf) in out
    assert re.search(r"flash: +[\d,]+ / 131,072 bytes", out) and re.search(r"RAM: +[\d,]+ / 36,864 bytes", out)
    assert "-mcpu=cortex-m0plus" in compiler_flags(elf.parent / "src" / "main.o")
    assert "Tag_CPU_arch: v6S-M\n" in readelf_attributes(elf)


def test_cli_too_large_model_for_g071rb(shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fw"
    code = main(["build", str(shared_models / "person_detect.tflite"), "--board", "nucleo_g071rb", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: model person_detect does not fit board nucleo_g071rb")
    assert re.search(r"RAM needs [\d,]+ bytes .* has 36,864: [\d,]+ bytes over", err)
    assert not (out / ".pio").exists()  # failed before compiling


# ---- the firmware's own C: warning-free with gcc and clang in every console/timer variant ----

def _clock(family: str, *extra: str) -> list[str]:
    """tg_clock.c's defines for ``family`` (as the builder passes them; values from the manifests)."""
    common = ["-DTG_CLK_AHB_DIV=1", "-DTG_CLK_APB1_DIV=2", "-DTG_CLK_APB2_DIV=1", "-DTG_CLK_SYSCLK_HZ=100000000u",
              "-DTG_CLK_FLASH_WS=3u", "-DTG_CLK_VOS=1", "-DTG_CLK_OVERDRIVE=0", "-DTG_CLK_ICACHE=0", "-DTG_CLK_DCACHE=0"]
    return [f"-DTG_CLOCK_{family.upper()}=1", "-DTG_CLK_RESET_HZ=16000000u", *([] if family == "nrf52" else common), *extra]


STM32_USART = [
    "-DTG_CONSOLE_STM32_USART=1", "-DTG_UART_BASE=0x40004800", "-DTG_UART_BUS=1", "-DTG_UART_BRR_SCALE=1u",
    "-DTG_UART_BAUD=115200u", "-DTG_UART_GPIO=0x40020C00", "-DTG_UART_PIN=8", "-DTG_UART_AF=7", "-DTG_UART_NUM_ENABLES=4",
    "-DTG_UART_EN0_REG=0x40023830", "-DTG_UART_EN0_BIT=3", "-DTG_UART_EN1_REG=0x40023840", "-DTG_UART_EN1_BIT=18",
    "-DTG_UART_EN2_REG=0x40007004", "-DTG_UART_EN2_BIT=9", "-DTG_UART_EN3_REG=0x4002105C", "-DTG_UART_EN3_BIT=0",
]
VARIANTS = {
    "semihosting-systick": ["-DTG_CONSOLE_SEMIHOSTING=1", "-DTG_TIMER_SYSTICK=1"],
    "cmsdk-uart-cmsdk-timer": ["-DTG_CONSOLE_CMSDK_UART=1", "-DTG_UART_BASE=0x40004000", "-DTG_TIMER_CMSDK=1", "-DTG_TIMER_BASE=0x40000000"],
    "stm32-usart-dwt-f7": [*STM32_USART, "-DTG_TIMER_DWT=1", *_clock("stm32f7", "-DTG_CLK_PLLM=8u", "-DTG_CLK_PLLN=216u",
                           "-DTG_CLK_PLLP=2u", "-DTG_CLK_PLLQ=9u", "-UTG_CLK_OVERDRIVE", "-DTG_CLK_OVERDRIVE=1",
                           "-UTG_CLK_ICACHE", "-DTG_CLK_ICACHE=1", "-UTG_CLK_DCACHE", "-DTG_CLK_DCACHE=1")],
    "stm32-usart-v1-f4": [*STM32_USART, "-DTG_UART_V1=1", "-DTG_TIMER_DWT=1", *_clock("stm32f4", "-DTG_CLK_PLLM=8u",
                          "-DTG_CLK_PLLN=100u", "-DTG_CLK_PLLP=2u", "-DTG_CLK_PLLQ=4u")],
    "none-clock-h7": ["-DTG_CONSOLE_NONE=1", "-DTG_TIMER_DWT=1", *_clock("stm32h7", "-DTG_CLK_PLLM=4u", "-DTG_CLK_PLLN=60u",
                      "-DTG_CLK_PLLP=2u", "-DTG_CLK_PLLQ=4u", "-DTG_CLK_SLOW_PLLN=50u", "-DTG_CLK_SLOW_SYSCLK_HZ=400000000u",
                      "-DTG_CLK_SLOW_FLASH_WS=2u")],
    "none-clock-l4": ["-DTG_CONSOLE_NONE=1", "-DTG_TIMER_DWT=1", *_clock("stm32l4", "-DTG_CLK_PLLM=2u", "-DTG_CLK_PLLN=30u", "-DTG_CLK_PLLR=2u")],
    "none-clock-u5": ["-DTG_CONSOLE_NONE=1", "-DTG_TIMER_DWT=1", *_clock("stm32u5", "-DTG_CLK_PLLM=1u", "-DTG_CLK_PLLN=20u", "-DTG_CLK_PLLR=2u")],
    "none-clock-g0": ["-DTG_CONSOLE_NONE=1", "-DTG_TIMER_SYSTICK=1", *_clock("stm32g0", "-DTG_CLK_PLLM=1u", "-DTG_CLK_PLLN=8u", "-DTG_CLK_PLLR=2u")],
    "nrf-uart-sse-counter": [
        "-DTG_CONSOLE_NRF_UART=1", "-DTG_UART_BASE=0x40002000", "-DTG_UART_PIN=6", "-DTG_UART_BAUD=0x01D7E000",
        "-DTG_TIMER_SSE_COUNTER=1", "-DTG_TIMER_BASE=0x58000000", *_clock("nrf52"),
    ],
    "none-dwt": ["-DTG_CONSOLE_NONE=1", "-DTG_TIMER_DWT=1"],
    "nrf-uart-rx-pin-dwt": [
        "-DTG_CONSOLE_NRF_UART=1", "-DTG_UART_BASE=0x40002000", "-DTG_UART_PIN=35", "-DTG_UART_RX_PIN=42",
        "-DTG_UART_BAUD=0x01D7E000", "-DTG_TIMER_DWT=1", *_clock("nrf52"),
    ],
    "rp2040-uart-systick": [
        "-DTG_CONSOLE_RP2040_UART=1", "-DTG_UART_BASE=0x40034000", "-DTG_UART_BAUD=115200u", "-DTG_UART_PIN=0",
        "-DTG_UART_RX_PIN=1", "-DTG_TIMER_SYSTICK=1", "-DTG_CLOCK_RP2040=1", "-DTG_CLK_RESET_HZ=6500000u",
        "-DTG_CLK_SYSCLK_HZ=125000000u", "-DTG_CLK_XOSC_HZ=12000000u", "-DTG_CLK_PLL_REFDIV=1u", "-DTG_CLK_PLL_FBDIV=125u",
        "-DTG_CLK_PLL_POSTDIV1=6u", "-DTG_CLK_PLL_POSTDIV2=2u",
    ],
}  # fmt: skip
COMPILERS = {
    "gcc": ["arm-none-eabi-gcc"],
    "clang": ["clang", "--target=arm-none-eabi", "-isystem", "/usr/lib/arm-none-eabi/include"],
}


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_firmware_sources_compile_cleanly(compiler: str, variant: str, library: Path, tmp_path: Path) -> None:
    from tinygen.resources import resource_dir

    if shutil.which(COMPILERS[compiler][0]) is None:
        pytest.fail(f"{COMPILERS[compiler][0]} is not installed (scripts/setup.sh installs it)")
    firmware = resource_dir("firmware")
    include = tmp_path / "include"
    include.mkdir()
    (include / "tg_model.h").write_text(platformio.model_header("fcnet"))
    (include / "tg_vectors.h").write_text(platformio.vectors_header("fcnet", 16, platformio.default_vectors(16, 2)))
    sources = sorted((firmware / "platform" / "src").glob("*.c")) + [firmware / "app" / "main.c", library / "fcnet.c"]
    for cpu in (["-mcpu=cortex-m0plus", "-mfloat-abi=soft"], ["-mcpu=cortex-m7", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"]):
        # one compiler run per CPU: the objects land in tmp_path
        cmd = [
            *COMPILERS[compiler], *cpu, "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
            "-DTG_CPU_HZ=16000000", "-DTG_DUMP_TENSORS=1", *VARIANTS[variant],
            "-include", str(firmware / "app" / "tg_hooks.h"),
            f"-I{include}", f"-I{library}", f"-I{firmware / 'app'}", f"-I{firmware / 'platform' / 'include'}",
            "-c", *map(str, sources),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
        assert sorted(p.name for p in tmp_path.glob("*.o")) == sorted(f"{src.stem}.o" for src in sources)


# ---- stack high-water mark and overflow detection, with a hand-written recursive "model" ----

DEEP_H = """#ifndef DEEP_H
#define DEEP_H
#include <stdint.h>
#define deep_ARENA_SIZE 16
#define deep_INPUT_SIZE 4
#define deep_OUTPUT_SIZE 4
#define deep_NUM_LAYERS 1
#define deep_NUM_INPUTS 1
#define deep_NUM_OUTPUTS 1
#define deep_INPUT0_BYTES 4
#define deep_OUTPUT0_BYTES 4
void *deep_input_at(int index);
int deep_run(void);
const void *deep_output_at(int index);
#endif
"""
DEEP_C = """#include "deep.h"
#ifndef TG_LAYER_BEGIN
#define TG_LAYER_BEGIN(index) ((void)0)
#endif
#ifndef TG_LAYER_END
#define TG_LAYER_END(index, out_ptr, out_bytes) ((void)0)
#endif
static int8_t deep_arena[deep_ARENA_SIZE];
/* slack below the stack: an overflow lands here, not outside RAM */
static volatile uint8_t deep_pad[8192];
/* each level fills a 256-byte frame and keeps it live across the call */
__attribute__((noinline)) static int deep_burn(int depth)
{
    volatile uint8_t frame[256];
    int i;
    for (i = 0; i < 256; ++i) {
        frame[i] = (uint8_t)(depth + i);
    }
    frame[255] = (uint8_t)(depth > 0 ? deep_burn(depth - 1) : 0);
    return frame[0] + frame[255];
}
void *deep_input_at(int index) { return index == 0 ? deep_arena : 0; }
const void *deep_output_at(int index) { return index == 0 ? deep_arena + 8 : 0; }
int deep_run(void)
{
    TG_LAYER_BEGIN(0);
    deep_pad[0] = 1;
    deep_arena[8] = (int8_t)deep_burn(DEEP_FRAMES);
    TG_LAYER_END(0, deep_arena + 8, 4);
    return 0;
}
"""


def _deep_firmware(tmp_path: Path, frames: int) -> tuple[Path, Board]:
    lib = tmp_path / "deep"
    lib.mkdir(exist_ok=True)
    (lib / "deep.h").write_text(DEEP_H)
    (lib / "deep.c").write_text(DEEP_C)
    manifest = {"name": "deep", "arena_bytes": 16, "weight_bytes": 0, "input": {"shape": [1, 4]}}
    (lib / "manifest.json").write_text(json.dumps(manifest))
    board = get_board("nucleo_g071rb")
    project = platformio.prepare_firmware(
        lib, board, tmp_path / f"fw{frames}", target="qemu", extra_flags=["-Werror", f"-DDEEP_FRAMES={frames}"]
    )
    return platformio.build(project).elf, board


def _symbol(elf: Path, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as handle:
        return int(ELFFile(handle).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"])


@pytest.mark.emulator
def test_stack_high_water_mark_and_overflow(tmp_path: Path) -> None:
    from tinygen import emulator

    shallow_elf, board = _deep_firmware(tmp_path, 4)
    shallow = emulator.run_firmware(shallow_elf, board.machine, num_layers=1)
    deeper = emulator.run_firmware(_deep_firmware(tmp_path, 24)[0], board.machine, num_layers=1)
    assert shallow.ok and deeper.ok, (shallow.problem, deeper.problem)
    assert shallow.stack_bytes is not None and deeper.stack_bytes is not None
    assert deeper.stack_bytes - shallow.stack_bytes >= 20 * 256
    # deep enough to pass the bottom of the free RAM (the stack limit) by at least 1 KB
    free = _symbol(shallow_elf, "__stack_top") - _symbol(shallow_elf, "__stack_limit")
    overflow = emulator.run_firmware(_deep_firmware(tmp_path, free // 256 + 4)[0], board.machine, num_layers=1)
    assert overflow.status == "crash" and "stack overflow" in overflow.problem
    assert (overflow.end_status, overflow.exit_code) == (4, 4)
