"""The template app (the user's src/main.c as `tinygen build` writes it): it builds, runs in QEMU for a
bounded number of iterations (TG_APP_ITERATIONS) and prints tinygen's reference output for its example
input; every template variant compiles warning-free with gcc and clang."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_build import COMPILERS, fc_graph, make_library
from tinygen import emulator, platformio, reference
from tinygen.boards import get_board
from tinygen.resources import resource_dir

ITERATIONS = 2


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("lib") / "fcnet")


def _console(elf: Path, machine: str) -> tuple[int, list[str]]:
    """Run ``elf`` in QEMU until it exits (bounded by a timeout); its exit code and console lines."""
    cmd = emulator.qemu_command(elf, machine, None, icount=False)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout.splitlines()


@pytest.mark.emulator
@pytest.mark.parametrize("board_id", ["mps2_an500", "nucleo_g071rb"])  # hard-float M7; M0+ soft float, SysTick
def test_template_app_prints_the_reference_output(board_id: str, library: Path, tmp_path: Path) -> None:
    board = get_board(board_id)
    vectors = platformio.default_vectors(16, 2, seed=11)  # the template's example input is the first
    project = platformio.prepare_firmware(
        library, board, tmp_path / "fw", vectors=vectors, target="qemu", app="template",
        extra_flags=["-Werror", f"-DTG_APP_ITERATIONS={ITERATIONS}"],
    )  # fmt: skip
    result = platformio.build(project)
    code, lines = _console(result.elf, board.machine)
    assert code == 0, lines
    assert lines[0] == f"fcnet on a {board.clock_hz} Hz core"  # no clock bring-up on the stand-in: the stated clock
    expected = reference.run(fc_graph(), vectors[0].reshape(1, -1))["y"].astype(np.int8).reshape(-1)
    outputs = [line for line in lines if line.startswith("fcnet output:")]
    assert outputs == ["fcnet output: " + " ".join(str(int(v)) for v in expected)] * ITERATIONS
    ticks = [re.fullmatch(r"timer ticks per inference: (\d+)", line) for line in lines[1:] if "per inference" in line]
    assert len(ticks) == ITERATIONS and all(match is not None and int(match.group(1)) > 0 for match in ticks)


def _stub_model(folder: Path, name: str, inputs: int) -> dict:
    """A header declaring the library API the templates use; the manifest that renders them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.h").write_text(
        f"#include <stdint.h>\n#define {name}_NUM_INPUTS {inputs}\n#define {name}_INPUT_SIZE 8\n"
        f"#define {name}_INPUT_SCALE 0.25f\n#define {name}_INPUT_ZERO_POINT (-3)\n#define {name}_OUTPUT_SIZE 4\n"
        f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\nint8_t *{name}_input_ptr(void);\nvoid *{name}_input_at(int i);\n"
        f"int {name}_run(void);\nconst int8_t *{name}_output_ptr(void);\n#ifdef __cplusplus\n}}\n#endif\n"
    )  # fmt: skip
    port = {"dtype": "int8", "scale": 0.25, "zero_point": -3, "bytes": 8}
    return {"inputs": [port] * inputs, "outputs": [{"dtype": "int8"}]}


#: just enough of each framework's API for the compiler to check the templates (PlatformIO downloads the real ones)
FRAMEWORK_STUBS = {
    "stm32f7xx_hal.h": "#include <stdint.h>\nvoid HAL_Init(void);\nvoid HAL_IncTick(void);\nuint32_t HAL_GetTick(void);\n"
                       "void HAL_Delay(uint32_t ms);\n",
    "zephyr/kernel.h": "#include <stdint.h>\nuint32_t k_cycle_get_32(void);\nint k_msleep(int32_t ms);\n"
                       "int sys_clock_hw_cycles_per_sec(void);\n",
    "zephyr/sys/printk.h": "void printk(const char *fmt, ...);\n",
    "Arduino.h": "struct SerialPort { void begin(long); void print(const char *); void print(char); void print(long);"
                 " void print(int); void println(unsigned long); };\nextern SerialPort Serial;\n"
                 "unsigned long micros(void);\nvoid delay(unsigned long);\n",
}  # fmt: skip


@pytest.mark.parametrize("compiler", sorted(COMPILERS))
@pytest.mark.parametrize(("template", "inputs"), [("main.c.j2", 1), ("main.c.j2", 2), ("stm32cube.c.j2", 1),
                                                  ("zephyr.c.j2", 1), ("arduino.cpp.j2", 1)])  # fmt: skip
def test_template_compiles_cleanly(compiler: str, template: str, inputs: int, tmp_path: Path) -> None:
    if shutil.which(COMPILERS[compiler][0]) is None:
        pytest.fail(f"{COMPILERS[compiler][0]} is not installed (scripts/setup.sh installs it)")
    manifest = _stub_model(tmp_path / "lib", "m", inputs)
    source = tmp_path / ("main.cpp" if template.endswith(".cpp.j2") else "main.c")
    source.write_text(platformio.render_app(template, "m", manifest, board="nucleo_f746", platform="ststm32",
                                            hal_header="stm32f7xx_hal.h"))  # fmt: skip
    include = tmp_path / "include"
    (include / "zephyr" / "sys").mkdir(parents=True)
    for name, text in FRAMEWORK_STUBS.items():
        (include / name).write_text(text)
    (include / "tg_example_input.h").write_text(platformio.example_input_header("m", manifest, np.arange(8 * inputs, dtype=np.int8)))
    language = ["-x", "c++", "-std=c++11"] if source.suffix == ".cpp" else ["-std=c99"]
    compiler_cmd = list(COMPILERS[compiler])
    if source.suffix == ".cpp" and compiler == "gcc":
        compiler_cmd[0] = "arm-none-eabi-g++"
    cmd = [
        *compiler_cmd, "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", *language, "-O2",
        "-Wall", "-Wextra", "-Werror", "-pedantic", "-DTG_CPU_HZ=216000000", "-DTG_TIMER_DWT=1",
        f"-I{tmp_path / 'lib'}", f"-I{include}", f"-I{resource_dir('firmware') / 'platform' / 'include'}",
        "-c", str(source), "-o", str(tmp_path / "main.o"),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
