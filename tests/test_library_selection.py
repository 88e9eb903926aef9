"""The code generator's per-library selections: kernel specialisations (KernelCall.variants ->
TG_VARIANT() in NAME_config.h) and the split of constant bytes by kind (manifest const_bytes)."""

from __future__ import annotations

import dataclasses

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinygen import codegen
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen import ops
from tinygen.lowering.base import KernelCall
from tinygen.lowering.base import CONST_KINDS, QUANT, TABLE, WEIGHTS, LoweringContext
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"


def _relu_graph() -> Graph:
    g = Graph("sel")
    q = Quantization([0.05], [-3])
    g.add_tensor(Tensor("x", (1, 4, 4, 8), "int8", q))
    g.add_tensor(Tensor("y", (1, 4, 4, 8), "int8", q))
    g.add_op(Op("relu", "relu", ["x"], ["y"]))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _preprocess(source: str, *defines: str) -> str:
    cc = shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no host C compiler (gcc or clang) on PATH: install build-essential")
    cmd = [cc, "-E", "-P", f"-I{KERNELS}", *(f"-D{d}" for d in defines), "-"]
    proc = subprocess.run(cmd, input=source, capture_output=True, text=True, check=True)
    return proc.stdout


SOURCE = """#include "tg_common.h"
#if TG_VARIANT(ALPHA)
int alpha_compiled;
#endif
#if TG_VARIANT(BETA)
int beta_compiled;
#endif
"""


def test_without_a_config_header_every_specialisation_is_compiled() -> None:
    out = _preprocess(SOURCE)
    assert "alpha_compiled" in out and "beta_compiled" in out


def test_a_selecting_config_compiles_only_the_named_specialisations() -> None:
    out = _preprocess(SOURCE, "TG_SELECTED_VARIANTS=1", "TG_VARIANT_BETA=1")
    assert "alpha_compiled" not in out and "beta_compiled" in out
    out = _preprocess(SOURCE, "TG_SELECTED_VARIANTS=1")
    assert "alpha_compiled" not in out and "beta_compiled" not in out


def test_variants_and_constant_kinds_reach_the_config_header_and_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lowering's variants become TG_VARIANT_<NAME> defines; its constants are counted by kind, an
    interleaved array by its declared split, and weight_bytes stays their sum."""
    original = ops.get("relu").lowerings[0]

    def lowering(ctx: LoweringContext, op: Op) -> KernelCall:
        call = original(ctx, op)
        assert call is not None
        ctx.const_array("w", np.arange(10, dtype=np.int8), "int8_t", WEIGHTS)
        ctx.const_array("mixed", np.arange(8, dtype=np.int32), "int32_t", {WEIGHTS: 8, QUANT: 24})
        ctx.const_array("lut", np.arange(4, dtype=np.int32), "int32_t", TABLE)
        return KernelCall(call.kernel, call.args, call.extra_kernels, call.scratch_bytes, call.comment,
                          variants=("ZETA_ONE", "ALPHA_TWO"))

    monkeypatch.setitem(ops.registry(), "relu", dataclasses.replace(ops.get("relu"), lowerings=(lowering,)))
    lib = codegen.generate(_relu_graph(), tmp_path / "lib")
    config = (lib.out_dir / f"{lib.name}_config.h").read_text()
    assert re.findall(r"#define TG_VARIANT_(\w+) 1", config) == ["ALPHA_TWO", "ZETA_ONE"]
    assert "#define TG_SELECTED_VARIANTS 1" in config
    assert lib.manifest["variants"] == ["ALPHA_TWO", "ZETA_ONE"]
    assert lib.manifest["const_bytes"] == {WEIGHTS: 18, QUANT: 24, TABLE: 16}
    assert set(lib.manifest["const_bytes"]) == set(CONST_KINDS)
    assert lib.manifest["weight_bytes"] == 58


def test_a_split_that_does_not_cover_the_array_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = ops.get("relu").lowerings[0]

    def lowering(ctx: LoweringContext, op: Op) -> KernelCall | None:
        ctx.const_array("mixed", np.arange(8, dtype=np.int32), "int32_t", {WEIGHTS: 8, QUANT: 20})
        return original(ctx, op)

    monkeypatch.setitem(ops.registry(), "relu", dataclasses.replace(ops.get("relu"), lowerings=(lowering,)))
    with pytest.raises(ValueError, match="do not split its 32 bytes"):
        codegen.generate(_relu_graph(), tmp_path / "lib")
    assert not (tmp_path / "lib").exists()
