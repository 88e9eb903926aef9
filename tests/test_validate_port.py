"""`tinygen validate --port` and `tinygen monitor` end to end, with QEMU playing the board: blackpill_f411ce's own
firmware (startup, clock bring-up, USART1 driver at the STM32F411's addresses) runs in `netduinoplus2` (an
STM32F405: the same USART register map) with its USART on a TCP socket, which pyserial opens as
socket://127.0.0.1:PORT exactly as it opens /dev/ttyACM0. Only the flash step is replaced (validate's hidden
--emulate-board); from the port on, the code path is a real board's. QEMU's USART model delivers a received byte
when the firmware has read the previous one, so these runs show the protocol and the firmware's receive path,
not a real line's timing (baud rate, overruns)."""

from __future__ import annotations

import json
import shutil
import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_build import _expected_outputs, make_library

from tinygen import platformio, serialport
from tinygen.boards import get_board
from tinygen.cli import main
from tinygen.commands.monitor import _Seen, describe
from tinygen.validation.runners import PortTarget, emulate_board

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
TFLITE = EXAMPLE / "digits_cnn_int8.tflite"
BOARD = "blackpill_f411ce"
SAMPLES = 20

pytestmark = pytest.mark.emulator


@pytest.fixture(autouse=True)
def _tools() -> None:
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:port (Linux /proc/net/tcp: state 0A), without connecting to it."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == "0A" for row in rows)


@contextmanager
def _board_in_qemu(elf: Path, wait: bool = False) -> Iterator[str]:
    """QEMU running ``elf`` as the board; yields its port URL."""
    port = _free_port()
    target = PortTarget(f"socket://127.0.0.1:{port}", serialport.DEFAULT_BAUD)
    emulate_board(elf, get_board(BOARD), target, wait=wait)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            assert time.monotonic() < deadline, "QEMU did not open its serial socket"
            time.sleep(0.05)
        yield target.port
    finally:
        target.close()


def _validate(tmp_path: Path, name: str, *extra: str) -> dict[str, Any]:
    images, labels, out = tmp_path / "images.npy", tmp_path / "labels.npy", tmp_path / f"{name}.json"
    np.save(images, np.load(EXAMPLE / "test_images.npy")[:SAMPLES])
    np.save(labels, np.load(EXAMPLE / "test_labels.npy")[:SAMPLES])
    argv = ["validate", str(TFLITE), "--inputs", str(images), "--labels", str(labels), "--json", str(out), *extra]
    assert main(argv) == 0
    return json.loads(out.read_text())


def test_validate_over_the_port_is_bit_exact_and_matches_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the streaming firmware goes to out/<model>-<board>-stream
    url = f"socket://127.0.0.1:{_free_port()}"
    port = _validate(tmp_path, "port", "--board", BOARD, "--port", url, "--emulate-board")
    text = capsys.readouterr().out
    host = _validate(tmp_path, "host")
    capsys.readouterr()

    assert port["c_bit_exact"] == {"samples": SAMPLES, "bit_exact": SAMPLES, "mismatched": [],
                                   "first_differing_layer": None}
    assert f"C == reference: {SAMPLES} of {SAMPLES} samples bit-exact" in text
    assert f"C on board {BOARD} over {url} (cortex-m4, dsp kernels;" in text
    run = port["run"]
    assert (run["where"], run["port"], run["board"], run["kernels"]) == ("port", url, BOARD, "dsp")
    # QEMU does not model the DWT cycle counter: every inference reads 0 cycles, and the summary says why
    assert run["cycles"] == {"first": 0, "min": 0, "max": 0, "mean": 0.0}
    assert "cycles: the core's DWT cycle counter read 0 (QEMU does not model it)" in text
    for key in ("accuracy", "top_k_accuracy", "confusion_matrix", "errors"):
        assert port.get(key) == host.get(key), key
    # the firmware validate built is the board's own, ready for 'tinygen flash'
    project = platformio.load_project(tmp_path / run["firmware"])
    assert (project.board.id, project.target) == (BOARD, "board")
    assert project.bin.is_file()


@pytest.fixture(scope="module")
def fcnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("lib") / "fcnet")


def _firmware(library: Path, out: Path, *flags: str, vectors: np.ndarray | None = None) -> Path:
    project = platformio.prepare_firmware(library, get_board(BOARD), out, vectors=vectors, extra_flags=flags)
    return platformio.build(project).elf


def _answer(ser: Any) -> str | None:
    line = serialport.read_line(ser)
    while line == "":
        line = serialport.read_line(ser)
    return line


def test_the_firmware_rejects_broken_lines_and_answers_the_next(fcnet: Path, tmp_path: Path) -> None:
    elf = _firmware(fcnet, tmp_path / "stream", platformio.STREAM_APP_FLAG)
    vectors = platformio.default_vectors(16, 2, seed=3)
    expected = [y for _, y in _expected_outputs(vectors)]
    with _board_in_qemu(elf) as url:
        ser = serialport.open_port(url, timeout=30)
        board = serialport.BoardPort(ser, url)
        assert board.ready() == serialport.Ready("fcnet", 16, 4)
        data = vectors[0].tobytes()
        broken = {
            b"hello\n": "TG-ERR -1 unknown request (TG-IN, TG-RESET, TG-PING)",
            f"TG-IN 8 {data.hex()} {zlib.crc32(data) ^ 1:08x}\n".encode(): "TG-ERR 8 CRC mismatch: the line was damaged",
            f"TG-IN 9 {data[:-1].hex()} {zlib.crc32(data[:-1]):08x}\n".encode():
                "TG-ERR 9 length: fewer input bytes than the model takes",
            b"TG-IN 10 " + b"00" * 17 + b" 00000000\n": "TG-ERR 10 length: more input bytes than the model takes",
            b"TG-IN 11 0g\n": "TG-ERR 11 not a hex digit in the inputs",
        }
        for line, answer in broken.items():
            ser.write(line)
            assert _answer(ser) == answer
        # a line that stops half way: the firmware gives up on it (a bounded wait) instead of hanging
        ser.write(b"TG-IN 12 0011")
        assert _answer(ser) == "TG-ERR 12 the line stalled before its end"
        replies = [board.infer(v.tobytes()) for v in vectors]
        assert [r.outputs for r in replies] == expected
        assert [r.cycles for r in replies] == [0, 0]  # DWT: 0 in QEMU
        board.reset()  # fcnet keeps no state: acknowledged all the same
        ser.close()


def _monitor(elf: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[str]:
    with _board_in_qemu(elf, wait=True) as url:  # the firmware starts when monitor connects
        assert main(["monitor", "--port", url, *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_monitor_prints_the_board_run_until_tg_end(
    fcnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = platformio.default_vectors(16, 2, seed=5)
    elf = _firmware(fcnet, tmp_path / "harness", vectors=vectors)
    raw = _monitor(elf, capsys, "--raw")
    assert raw[0] == "TG-CLOCK 16000000 fallback: the PLL did not lock"  # QEMU models no PLL (see test_board_blackpill_qemu)
    assert raw[1] == "TG-BEGIN fcnet 2"
    assert [line for line in raw if line.startswith("TG-OUT")] == [
        f"TG-OUT {v} {y.hex()}" for v, (_, y) in enumerate(_expected_outputs(vectors))]
    assert raw[-1] == "TG-END 0"
    seen = _Seen()
    assert _monitor(elf, capsys) == [describe(line, seen) for line in raw]
    assert "end       status 0 (ok)" in [describe(line, _Seen()) for line in raw]


def test_bench_app_built_for_a_board_times_each_layer(
    fcnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tinygen build --app bench` for a board adds a TG-LAYERS line per inference: each layer's DWT cycles (0 in
    QEMU, which has no cycle counter); the outputs are those of the harness without it."""
    vectors = platformio.default_vectors(16, 2, seed=5)
    elf = _firmware(fcnet, tmp_path / "layers", platformio.LAYER_CYCLES_FLAG, vectors=vectors)
    raw = _monitor(elf, capsys, "--raw")
    num_layers = len(json.loads((fcnet / "manifest.json").read_text())["layers"])
    assert [line for line in raw if line.startswith("TG-LAYERS")] == [
        f"TG-LAYERS {v} " + " ".join(["0"] * num_layers) for v in range(len(vectors))]
    assert [line for line in raw if line.startswith("TG-OUT")] == [
        f"TG-OUT {v} {y.hex()}" for v, (_, y) in enumerate(_expected_outputs(vectors))]
    assert describe(f"TG-LAYERS 0 {' '.join(['0'] * num_layers)}", _Seen()) == (
        f"#0        {num_layers} layers: 0 ticks each (no cycle counter, as in QEMU)")


def test_monitor_names_the_slowest_layers() -> None:
    seen = _Seen()
    describe("TG-CLOCK 100000000 ok", seen)
    assert describe("TG-LAYERS 3 100 5000 300 0", seen) == (
        "#3        4 layers, 5,400 cycles in all; slowest: #1 5,000 (93 %), #2 300 (6 %), #0 100 (2 %)")
