"""Where the generated C runs: compiled for the host (default) or as firmware in QEMU on the board's stand-in
core (``--board``). Each runner runs a batch of int8 input vectors, and on a mismatch reruns one vector with
every layer's output dumped to name the first differing layer (as ``tinygen test`` does)."""

from __future__ import annotations

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


def make_runner(prep: Any, timeout: float) -> HostRunner | QemuRunner:
    return HostRunner(prep) if prep.board is None else QemuRunner(prep, timeout)
