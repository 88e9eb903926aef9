"""Where the generated C runs: compiled for the host (default), as firmware in QEMU on the board's stand-in
core (``--board``), or on the board itself over its serial port (``--board --port``). Each runner runs a batch
of int8 input vectors, and on a mismatch reruns one vector with every layer's output dumped to name the first
differing layer (as ``tinygen test`` does; not over a port)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygen.errors import TinygenError

#: samples per batch: the reference, the float model and the C run one batch at a time
DEFAULT_BATCH = 256


class HostRunner:
    """The library compiled with a stdin/stdout main (:mod:`tinygen.hostrun`)."""

    def __init__(self, prep: Any) -> None:
        from tinygen import hostrun, progress

        self.prep = prep
        with progress.step("compiling the generated C for the host"):
            self.program = hostrun.compile_library(prep.library, prep.work_dir / "host")
        self.batch_size = DEFAULT_BATCH

    def run(self, vectors: np.ndarray) -> list[bytes]:
        from tinygen import hostrun

        return hostrun.run(self.program, vectors)

    def locate(self, vector: np.ndarray, ref: dict[str, np.ndarray]) -> Any:
        """The first layer whose output differs from the reference's for ``vector`` (a LayerDifference), or None."""
        from tinygen import hostrun
        from tinygen.compare import first_differing_layer

        dump = hostrun.compile_library(self.prep.library, self.prep.work_dir / "host-dump", dump_layers=True)
        layers = hostrun.run_layers(dump, vector)
        return first_differing_layer(self.prep.manifest["layers"], [ref], {0: layers})

    def info(self) -> dict[str, Any]:
        return {"where": "host", "summary": []}


class QemuRunner:
    """The test firmware of ``tinygen test`` (vectors embedded), rebuilt per batch: only ``tg_vectors.h``
    changes, so each rebuild compiles one file."""

    def __init__(self, prep: Any, timeout: float) -> None:
        from tinygen import platformio

        self.prep, self.timeout = prep, timeout
        self.batch_size = qemu_batch_size(prep)
        platformio.check_fit(prep.board, prep.manifest, self.batch_size, target="qemu")
        self.counts: list[int] = []
        self.method = "none"
        self.stack_bytes: int | None = None

    def run(self, vectors: np.ndarray) -> list[bytes]:
        from tinygen.commands.test import build_firmware
        from tinygen.emulator import run_firmware

        built = build_firmware(self.prep, vectors)
        result = run_firmware(built.elf, self.prep.board.machine, timeout=self.timeout, num_layers=self.prep.num_layers)
        if not result.ok:
            raise TinygenError(f"the {self.prep.library.name} firmware did not complete on {self.prep.board.id} "
                               f"(QEMU {self.prep.board.machine}): {result.status}: {result.problem}")
        self.counts += result.inference_instructions
        self.method = result.method
        if result.stack_bytes is not None:
            self.stack_bytes = max(self.stack_bytes or 0, result.stack_bytes)
        return [result.outputs.get(v, b"") for v in range(len(vectors))]

    def locate(self, vector: np.ndarray, ref: dict[str, np.ndarray]) -> Any:
        """As :meth:`HostRunner.locate`, with the firmware's TG-TENSOR dump build (as ``tinygen test``)."""
        from tinygen.commands.test import build_firmware
        from tinygen.compare import first_differing_layer
        from tinygen.emulator import run_firmware

        built = build_firmware(self.prep, vector.reshape(1, -1), dump_tensors=True)
        dumped = run_firmware(built.elf, self.prep.board.machine, timeout=self.timeout,
                              num_layers=self.prep.num_layers, count_instructions=False)
        if not dumped.ok:
            raise TinygenError(f"the tensor-dump firmware did not complete: {dumped.status}: {dumped.problem}")
        return first_differing_layer(self.prep.manifest["layers"], [ref], dumped.tensors)

    def info(self) -> dict[str, Any]:
        board = self.prep.board
        counts = self.counts
        return {
            "where": "qemu", "board": board.id, "machine": board.machine, "core": board.core,
            "kernels": "mve" if board.has_mve else "dsp" if board.has_dsp else "scalar",
            "instructions": ({"first": counts[0], "min": min(counts), "max": max(counts),
                              "mean": float(np.mean(counts))} if counts else None),
            "instruction_method": self.method, "stack_bytes": self.stack_bytes,
            "summary": self.instruction_lines(),
        }

    def instruction_lines(self) -> list[str]:
        """``tinygen test``'s instruction lines over every batch."""
        from tinygen.commands.test import instruction_lines
        from tinygen.emulator import Result

        combined = Result(self.prep.board.machine, "ok", 0, self.method, inference_instructions=self.counts,
                          stack_bytes=self.stack_bytes)
        return instruction_lines(combined)


def qemu_batch_size(prep: Any, wanted: int = DEFAULT_BATCH) -> int:
    """Vectors per firmware build: ``wanted``, fewer when they would not fit the flash beside the weights."""
    from tinygen import platformio

    board = prep.board
    flash = min(board.flash.size, board.stand_in().flash.size)
    free = flash - int(prep.manifest["weight_bytes"]) - platformio.APP_FLASH_BYTES
    return max(1, min(wanted, free // max(1, prep.input_size)))


@dataclass
class PortTarget:
    """``validate --port``: the board on ``port`` runs the streaming validation firmware."""

    port: str
    baud: int
    #: upload the firmware before the run (otherwise the user flashed it: ``tinygen flash FIRMWARE_DIR``)
    flash: bool = False
    #: the firmware project [default: out/<model>-<board>-stream]
    firmware_dir: Path | None = None
    protocol: str | None = None
    #: internal (tests): instead of flashing, QEMU runs the firmware with the board's USART on ``port``, a
    #: socket://HOST:PORT URL; from the port on, everything is what a real board gets
    emulate: bool = False
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()


class PortRunner:
    """The board's own firmware (firmware/app/main.c built with TG_APP_STREAM) over its serial port: one
    ``TG-IN`` line per vector, its ``TG-OUT`` back (:mod:`tinygen.serialport`)."""

    def __init__(self, prep: Any, target: PortTarget, timeout: float) -> None:
        from tinygen import platformio, progress
        from tinygen.serialport import DEFAULT_TIMEOUT, BoardPort

        if prep.board is None:
            raise TinygenError(f"--port {target.port} needs --board: the board whose firmware runs the samples")
        self.prep, self.target = prep, target
        self.batch_size = DEFAULT_BATCH
        self.stateful = bool(prep.manifest.get("states"))
        self.cycles: list[int] = []
        self.ticks: list[int] = []
        built = self._build()
        if target.emulate:
            emulate_board(built.elf, prep.board, target)
        elif target.flash:
            platformio.upload(built.project, target.protocol)
        with progress.step(f"connecting to {prep.board.id} on {target.port}"):
            self.board = BoardPort(self._open(), target.port, min(timeout, 3 * DEFAULT_TIMEOUT))
            target.cleanups.append(self.board.close)
            self._check(self.board.ready())

    def _build(self) -> Any:
        from tinygen import platformio

        prep, target = self.prep, self.target
        self.firmware_dir = target.firmware_dir or Path("out") / f"{prep.library.name}-{prep.board.id}-stream"
        flags = [platformio.STREAM_APP_FLAG]
        if self.stateful:
            flags.append(f"-DTG_MODEL_RESET={prep.library.name}_reset")
        project = platformio.prepare_firmware(prep.library.out_dir, prep.board, self.firmware_dir, extra_flags=flags)
        return platformio.build(project)

    def _open(self) -> Any:
        from tinygen.serialport import open_port

        if not self.target.emulate:
            return open_port(self.target.port, self.target.baud)
        deadline = time.monotonic() + 10.0
        while True:  # QEMU listens on the socket a moment after it starts
            try:
                return open_port(self.target.port, self.target.baud)
            except TinygenError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _check(self, ready: Any) -> None:
        prep = self.prep
        out_bytes = sum(int(p["bytes"]) for p in prep.manifest["outputs"])
        if (ready.model, ready.input_bytes, ready.output_bytes) != (prep.library.name, prep.input_size, out_bytes):
            raise TinygenError(
                f"the board on {self.target.port} runs model {ready.model} ({ready.input_bytes} input bytes, "
                f"{ready.output_bytes} output bytes), not {prep.library.name} ({prep.input_size}, {out_bytes}): "
                f"flash this model's firmware with 'tinygen flash {self.firmware_dir}' or pass --flash")

    def run(self, vectors: np.ndarray) -> list[bytes]:
        if self.stateful:
            self.board.reset()  # as the reference: a streaming model's state restarts at each batch
        outputs = []
        for row in np.asarray(vectors, np.int8).reshape(len(vectors), -1):
            reply = self.board.infer(row.tobytes())
            outputs.append(reply.outputs)
            if reply.cycles is not None:
                self.cycles.append(reply.cycles)
            if reply.ticks is not None:
                self.ticks.append(reply.ticks)
        return outputs

    def locate(self, vector: np.ndarray, ref: dict[str, np.ndarray]) -> Any:
        raise TinygenError(
            f"the outputs of {self.prep.board.id} on {self.target.port} differ from tinygen's reference; the board "
            "cannot dump each layer's output over the port: run the same samples with --board "
            f"{self.prep.board.id} and without --port (QEMU) to name the first differing layer")

    def info(self) -> dict[str, Any]:
        board = self.prep.board
        return {
            "where": "port", "port": self.target.port, "board": board.id, "core": board.core,
            "kernels": "mve" if board.has_mve else "dsp" if board.has_dsp else "scalar",
            "machine": f"QEMU {board.machine} (emulated board)" if self.target.emulate else None,
            "firmware": str(self.firmware_dir),
            "cycles": _stats(self.cycles), "ticks": _stats(self.ticks),
            "summary": self.cycle_lines(),
        }

    def cycle_lines(self) -> list[str]:
        if self.cycles and max(self.cycles) == 0:
            return ["cycles: the core's DWT cycle counter read 0 (QEMU does not model it)"]
        if self.cycles:
            return [(f"cycles per inference (DWT): {min(self.cycles):,} to {max(self.cycles):,}, "
                     f"mean {np.mean(self.cycles):,.0f}")]
        if self.ticks:
            return [f"timer ticks per inference: {min(self.ticks):,} to {max(self.ticks):,}"]
        return []


def _stats(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    return {"first": values[0], "min": min(values), "max": max(values), "mean": float(np.mean(values))}


def emulate_board(elf: Path, board: Any, target: PortTarget, wait: bool = False) -> None:
    """The test hook of ``validate --port``: QEMU runs the board's own firmware (``Board.runs_in_qemu``) with
    its USART on the TCP socket of ``target.port`` (socket://HOST:PORT), where a real board is flashed; with
    ``wait`` the firmware starts when a client connects (so it sees the boot lines). ``target.close()`` stops
    QEMU."""
    from urllib.parse import urlsplit

    from tinygen.emulator import find_qemu

    url = urlsplit(target.port)
    if url.scheme != "socket" or not url.port or not board.runs_in_qemu:
        raise TinygenError(f"emulating {board.id} needs a board whose own firmware runs in QEMU and a "
                           f"socket://HOST:PORT port, not {target.port}")
    cmd = [find_qemu(), "-M", board.machine, "-display", "none", "-monitor", "none",
           "-serial", f"tcp:{url.hostname}:{url.port},server=on,wait={'on' if wait else 'off'}",
           "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]  # fmt: skip
    qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop() -> None:
        qemu.terminate()
        try:
            qemu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
        if qemu.stderr is not None:
            qemu.stderr.close()

    target.cleanups.append(stop)


def make_runner(prep: Any, timeout: float, port: PortTarget | None = None) -> HostRunner | QemuRunner | PortRunner:
    """Where the C runs: on the board over ``port``, in QEMU on ``prep.board``'s core, or on the host."""
    if port is not None:
        return PortRunner(prep, port, timeout)
    return HostRunner(prep) if prep.board is None else QemuRunner(prep, timeout)
