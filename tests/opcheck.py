"""Shared checks of the per-op test files (tests/test_op_*.py): the generated C against tinygen's reference on the
host under every compiler/sanitizer build, the kernel for every Cortex-M core, and a model bit-exact in QEMU."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import hostbuild
import numpy as np
import pytest

from tinygen import codegen, reference
from tinygen.ir import Graph
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
#: QEMU boards: Cortex-M3 (portable C) and Cortex-M7 (DSP)
QEMU_BOARDS = ("mps2_an385", "mps2_an500")


@functools.lru_cache(maxsize=1)
def clang_sanitizers() -> bool:
    """Whether clang links ASan/UBSan here (its runtimes are a separate package: libclang-rt-dev)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("int main(void) { return 0; }\n")
        res = subprocess.run(["clang", *hostbuild.SANITIZE, str(src), "-o", str(Path(tmp) / "probe")],
                             capture_output=True, text=True, check=False)
        return res.returncode == 0


def builds() -> list[tuple[str, bool]]:
    """(compiler, sanitize) pairs, every one with -std=c99 -Wall -Wextra -Werror -pedantic -O2: gcc with and
    without ASan/UBSan, clang without, and with them where its sanitizer runtimes are installed."""
    if tuple(hostbuild.compilers()) != ("gcc", "clang"):
        pytest.fail(f"gcc and clang are both needed, found {hostbuild.compilers()}: install them (scripts/setup.sh)")
    return [("gcc", True), ("gcc", False), ("clang", False)] + ([("clang", True)] if clang_sanitizers() else [])


def check_c(graph: Graph, work: Path, vectors: np.ndarray, rounding: str = "double", dsp_emulate: bool = False
            ) -> dict[str, Any]:
    """Generate the library of ``graph``, compile it every way (:func:`builds`, and gcc with the DSP path emulated
    in C if ``dsp_emulate``), run the int8 input ``vectors`` (one per row: every input, one after the other)
    and require every layer's output and every graph output to equal tinygen's reference; return the manifest."""
    lib = codegen.generate(graph, work / "lib", rounding=rounding, force=True)
    shapes = [graph.tensors[name].shape for name in graph.inputs]
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    flat = vectors.reshape(len(vectors), -1)
    # one process runs every vector: a model's state carries from one to the next, in the reference too
    refs, state = [], None
    for row in flat:
        ref = reference.run(graph, [row[a:b].reshape(s) for a, b, s in zip(bounds, bounds[1:], shapes)],
                            rounding=rounding, state=state)
        state = reference.next_state(graph, ref, state)
        refs.append(ref)
    variants = [(compiler, sanitize, False) for compiler, sanitize in builds()] + [("gcc", True, True)] * dsp_emulate
    for compiler, sanitize, dsp in variants:
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / f"{compiler}{int(sanitize)}{int(dsp)}", compiler=compiler,
                             sanitize=sanitize, dump=True, dsp_emulate=dsp)
        out, dumps = hostbuild.run(hb, flat)
        for v, ref in enumerate(refs):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = np.ascontiguousarray(ref[layer["output_tensor"]]).reshape(-1).view(np.int8)
                bad = np.flatnonzero(got != want)
                assert bad.size == 0, (f"{compiler} sanitize={sanitize} dsp={dsp} vector {v} layer {layer['index']} "
                                       f"{layer['op']} ({layer['kernel']}): {bad.size} differ, first at {bad[0]}: "
                                       f"C {got[bad[0]]} reference {want[bad[0]]}")
            # every output, one after the other, as bytes (int8 and int32 outputs alike)
            want_out = np.concatenate([np.ascontiguousarray(ref[o]).reshape(-1).view(np.int8) for o in graph.outputs])
            np.testing.assert_array_equal(np.ascontiguousarray(out[v]).view(np.int8), want_out)
    return lib.manifest


def vectors_with_every_value(size: int, count: int, seed: int) -> np.ndarray:
    """``count`` int8 vectors of ``size`` values: the first holds every int8 value (then random ones), the
    others are random."""
    rng = np.random.default_rng(seed)
    out = rng.integers(-128, 128, (count, size)).astype(np.int8)
    every = np.arange(-128, 128, dtype=np.int64).astype(np.int8)
    out[0, : min(256, size)] = every[: min(256, size)]
    return out


def check_activation_chain_qemu(model: bytes, kind: str, board: str, work: Path) -> str:
    """The element-wise activations' QEMU check: ``model`` is ``a = ACT(x); s = ADD(x, a); y = ACT(s)`` on 259
    values (tests/test_op_<activation>.py ``chain_model``). Both activations run as the 256-entry table, the
    first not in place (the ADD still reads x), the second over its input; bit-exact on every int8 value and 3
    random vectors, against the reference and TFLite Micro."""
    path = work / f"{kind}_chain.tflite"
    path.write_bytes(model)

    def layout(manifest: dict[str, Any]) -> None:
        layers = manifest["layers"]
        assert [layer["kernel"] for layer in layers][::2] == ["tg_lut_s8", "tg_lut_s8"]
        assert [layer["op"] for layer in layers][::2] == [kind, kind]
        assert layers[0]["in_place"] is None and layers[2]["in_place"] == "s"

    return check_qemu(path, board, work / "work", vectors_with_every_value(259, 1, seed=0), layout=layout)


def check_qemu(model: Path, board: str, work: Path, extra_vectors: np.ndarray | None = None,
               kernels: list[str | None] | None = None, layout: Callable[[dict[str, Any]], None] | None = None) -> str:
    """``model`` bit-exact in QEMU on ``board`` (against tinygen's reference and TFLite Micro) on 3 random
    vectors after ``extra_vectors``; ``kernels``: the layers' kernels the library must use; ``layout``: a further
    check of the library's manifest. Returns the report."""
    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    prep = prepare(model, board, work)
    if kernels is not None:
        assert [layer["kernel"] for layer in prep.manifest["layers"]] == kernels
    if layout is not None:
        layout(prep.manifest)
    vectors = make_vectors(prep, 3)
    if extra_vectors is not None:
        vectors = np.concatenate([extra_vectors.reshape(len(extra_vectors), -1).astype(np.int8), vectors])
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok, report
    assert "ok    tinygen reference" in report and "ok    TFLite Micro" in report, report
    assert len(outcome.run.outputs) == len(vectors)
    return report
