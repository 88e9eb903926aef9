"""The convolution kernels' specialisations (TG_VARIANT) are selected exactly: the lowering's mirrors in
tinygen/lowering/mac_ops.py (gemm_variants, conv_variants, conv_1x1_variants) name the copies the C
dispatch of tg_conv_gemm_s8 / tg_conv_s8 / tg_conv_1x1_s8 really takes, on every dispatch case.

Proof, per case: the library is built once with every copy compiled and the kernels' TG_TRACE_VARIANT hook
recording the specialisations the run takes (the true dispatch); that set must equal the manifest's
variants; then the library as emitted (only those copies compiled) must equal the reference bit for bit,
on the portable and the emulated-DSP paths.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hostbuild
from tinygen import codegen, reference
from tinygen.ir import Graph, Quantization
from tinygen.lowering.mac_ops import conv_1x1_variants, conv_variants, gemm_variants
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
CONV_KERNELS = ("tg_conv_gemm_s8", "tg_conv_s8", "tg_conv_1x1_s8")
#: the variant families these kernels own (other kernels' variants are not traced here)
FAMILIES = ("GEMM_", "CONV_", "CONV1X1_")

_BASE = {"kind": "conv2d", "batch": 1, "h": 6, "w": 5, "c": 8, "out_c": 6, "mult": 1, "k": (1, 1), "stride": (1, 1),
         "dilation": (1, 1), "padding": "valid", "activation": "none", "per_channel": True, "bias": True}

#: one graph per dispatch case: (config changes, output zero point or None, real-multiplier ratio or None).
#: A relu with an output zero point above -128 clamps (TG_RQ_FAST, not FULL); a given ratio puts the layer's
#: shift outside 2..22 (TG_RQ_GENERAL); without one the output scale keeps every shift inside (fast modes).
CASES: dict[str, tuple[dict, int | None, float | None]] = {
    "1x1_full_depth16": ({"c": 16}, None, None),
    "1x1_full_one_group": ({"c": 4}, None, None),
    "1x1_full_depth12": ({"c": 12, "out_c": 4}, None, None),
    "1x1_tail": ({"c": 5}, None, None),
    "1x1_depth1_odd_channels": ({"c": 1, "out_c": 3, "batch": 2}, None, None),
    "1x1_clamped": ({"c": 16, "out_c": 4, "activation": "relu"}, 7, None),
    "1x1_general_odd_channels": ({"c": 12, "out_c": 5, "per_channel": False}, None, 3.0),
    "1x1_stride2_tail_clamped": ({"c": 6, "out_c": 4, "stride": (2, 2), "activation": "relu6"}, -20, None),
    "3x3_grouped_depth72": ({"k": (3, 3), "padding": "same", "c": 8, "out_c": 4}, None, None),
    "3x3_grouped_depth36": ({"k": (3, 3), "padding": "same", "c": 4, "out_c": 4, "stride": (2, 2)}, None, None),
    "3x3_staged_depth27": ({"k": (3, 3), "padding": "same", "c": 3, "out_c": 8, "h": 7, "w": 6}, None, None),
    "kws_first_staged_depth40": ({"k": (10, 4), "padding": "same", "c": 1, "out_c": 8, "h": 13, "w": 10,
                                  "stride": (2, 2)}, None, None),
    "dilated_grouped": ({"k": (2, 3), "padding": "same", "c": 4, "out_c": 4, "dilation": (2, 2), "h": 7, "w": 7},
                        None, None),
    "dilated_staged_clamped_odd": ({"k": (2, 2), "padding": "same", "c": 5, "out_c": 3, "dilation": (1, 2),
                                    "activation": "relu"}, 3, None),
    "dilated_rows_only": ({"k": (3, 3), "padding": "same", "c": 4, "out_c": 2, "dilation": (2, 1), "h": 7},
                          None, None),
    "general_staged": ({"k": (3, 3), "padding": "valid", "c": 2, "out_c": 4, "per_channel": False}, None, 0.6),
}


#: 1x1 layers whose channels mix fast and general requantization (test_conv_requant.mixed_graph's multipliers):
#: split, the GEMM's fast copy then CONV1X1_MIXED recomputing the general channels
MIXED_CASES: dict[str, dict] = {"1x1_mixed_split": {"c": 16, "out_c": 6}}


def _graph(case: str) -> Graph:
    from test_codegen import conv_graph

    if case in MIXED_CASES:
        from test_conv_requant import mixed_graph

        return mixed_graph(0, MIXED_CASES[case])
    change, zero_point, ratio = CASES[case]
    graph = conv_graph(sorted(CASES).index(case), {**_BASE, **change})
    x, w, y = (graph.tensor(n) for n in ("x", "w", "y"))
    if ratio is None:
        # typical |sum| ~ 64 * 64 * sqrt(depth): results of tens, right shifts of 6..13
        ratio = 0.012 / float(np.sqrt(np.prod(w.shape[1:3]) * (1 if change.get("kind") else x.shape[3])))
    scale = float(np.float32(float(x.quant.scale[0]) * float(np.max(w.quant.scale)) / ratio))
    zp = int(y.quant.zero_point[0]) if zero_point is None else zero_point
    y.quant = Quantization([scale], [zp])
    return graph


def _variants_of(names: list[str]) -> set[str]:
    return {v for v in names if v.startswith(FAMILIES)}


def taken_variants(lib: codegen.Library, graph: Graph, work: Path, inputs: np.ndarray, sanitize: bool) -> set[str]:
    """hostbuild.traced_run on the emulated-DSP path (the dispatch does not depend on the path), requiring the
    reference's outputs; returns the specialisations the run took."""
    out, taken = hostbuild.traced_run(lib.out_dir, lib.manifest, work, inputs, dsp_emulate=True, sanitize=sanitize)
    for v in range(inputs.shape[0]):
        want = reference.run(graph, inputs[v])[graph.outputs[0]].reshape(-1)
        np.testing.assert_array_equal(out[v], want)
    return taken


@pytest.mark.parametrize("case", sorted([*CASES, *MIXED_CASES]))
def test_mirror_names_exactly_the_specialisations_taken(case: str, tmp_path: Path) -> None:
    from test_codegen import check_library, random_inputs

    graph = _graph(case)
    # the emitted library (only the manifest's copies compiled) is bit-exact, portable and DSP paths
    lib = check_library(graph, tmp_path, vectors=2, dsp=(False, True), seed=3)
    selected = _variants_of(lib.manifest["variants"])
    assert selected, f"{case}: the conv call names no specialisation"
    taken = taken_variants(lib, graph, tmp_path, random_inputs(graph, 2, 4), sanitize=True)
    assert _variants_of(sorted(taken)) == selected, f"{case}: ran {sorted(taken)}, selected {sorted(selected)}"


def test_cases_reach_every_specialisation() -> None:
    """The cases above take every specialisation the kernels define, and the mirrors name nothing else."""
    defined = set()
    for kernel in CONV_KERNELS:
        text = (KERNELS / f"{kernel}.c").read_text()
        defined |= set(re.findall(r"TG_VARIANT\((\w+)\)", text))
    named = set()
    for mode, depth, out_ch in itertools.product((0, 1, 2, 3), range(1, 20), (1, 2, 3)):
        named |= set(gemm_variants(mode, depth, out_ch))
    for in_c, dil_w in itertools.product(range(1, 9), (1, 2)):
        named |= set(conv_variants(in_c, dil_w)) | set(conv_1x1_variants(in_c, split=True))
    assert named == defined
    from test_kernels_mac import _Ctx

    from tinygen import ops

    reached = set()
    for case in [*CASES, *MIXED_CASES]:
        graph = _graph(case)
        calls = (lower(_Ctx(graph), graph.ops[0]) for lower in ops.get(graph.ops[0].kind).lowerings)
        reached |= set(next(call for call in calls if call is not None).variants)  # the lowering that runs it
    assert _variants_of(sorted(reached)) == defined


def test_gemm_mirror_conditions() -> None:
    """gemm_variants follows the C conditions: FAST_FULL with depth % 8 == 0, FAST_FULL otherwise, any
    other mode (mixed included); an odd out_ch adds the last-channel copy."""
    from tinygen.lowering.mac_common import RQ_FAST, RQ_FAST_FULL, RQ_GENERAL, RQ_MIXED

    for depth, out_ch in itertools.product(range(1, 40), range(1, 6)):
        odd = ("GEMM_ODD_CH",) if out_ch % 2 else ()
        full = "GEMM_FULL_EVEN" if depth % 8 == 0 else "GEMM_FULL"
        assert gemm_variants(RQ_FAST_FULL, depth, out_ch) == (full, *odd)
        assert gemm_variants(RQ_FAST, depth, out_ch) == ("GEMM_ANY", *odd)
        assert gemm_variants(RQ_GENERAL, depth, out_ch) == ("GEMM_ANY", *odd)
        assert gemm_variants(RQ_MIXED, depth, out_ch) == ("GEMM_ANY", *odd)


@pytest.mark.parametrize("model", ["mlperf_kws_dscnn_int8", "person_detect", "mlperf_ic_resnet8_int8"])
def test_shared_model_takes_exactly_its_selected_specialisations(model: str, shared_models: Path,
                                                                 tmp_path: Path) -> None:
    """Whole models: the conv copies a model's run takes are exactly those its library compiles (KWS: the
    even fast-requantization GEMM and the staged im2col only)."""
    from test_codegen import random_inputs

    from tinygen.frontend.tflite import import_tflite

    graph = import_tflite(shared_models / f"{model}.tflite")
    lib = codegen.generate(graph, tmp_path / "lib")
    assert not lib.manifest["f32_io"], f"{model}: the traced host build feeds int8 inputs"
    taken = taken_variants(lib, graph, tmp_path, random_inputs(graph, 1, 0), sanitize=False)
    assert _variants_of(sorted(taken)) == _variants_of(lib.manifest["variants"])
    if model == "mlperf_kws_dscnn_int8":
        assert not {"GEMM_FULL", "GEMM_ANY", "GEMM_ODD_CH"} & set(lib.manifest["variants"])


ARM_GCC = "arm-none-eabi-gcc"
#: compiler and flags: the DSP path and the portable path on Cortex-M, both paths with clang on the host
TARGETS = {"cortex-m7": [ARM_GCC, "-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"],
           "cortex-m0": [ARM_GCC, "-mcpu=cortex-m0", "-mthumb"],
           "clang": ["clang"], "clang-dsp-emulate": ["clang", "-DTG_DSP_EMULATE"]}
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def _selections() -> list[tuple[str, tuple[str, ...]]]:
    """Every combination of each kernel's specialisations a library can select (with one GEMM copy)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    gemm = ("GEMM_FULL_EVEN", "GEMM_FULL", "GEMM_ANY")
    for n in (1, 2, 3):
        for pairs in itertools.combinations(gemm, n):
            out += [("tg_conv_gemm_s8", pairs), ("tg_conv_gemm_s8", (*pairs, "GEMM_ODD_CH"))]
    for im2col in (("CONV_GROUPED",), ("CONV_STAGED",), ("CONV_GROUPED", "CONV_STAGED")):
        out += [("tg_conv_s8", (*im2col, "GEMM_FULL")), ("tg_conv_s8", (*im2col, "CONV_DILATED", "GEMM_ANY"))]
    for cols in (("CONV1X1_GROUPED",), ("CONV1X1_TAIL",), ("CONV1X1_GROUPED", "CONV1X1_TAIL")):
        out.append(("tg_conv_1x1_s8", (*cols, "GEMM_FULL_EVEN")))
    out.append(("tg_conv_1x1_s8", ("CONV1X1_GROUPED", "CONV1X1_MIXED", "GEMM_FULL_EVEN")))
    return out


@pytest.mark.parametrize("target", list(TARGETS))
def test_every_selection_compiles(target: str, tmp_path: Path) -> None:
    """Each selectable combination compiles warning-free (-Werror) on a DSP and a non-DSP core and with clang;
    a selection without any copy of a kernel stops the build naming the fix."""
    if shutil.which(TARGETS[target][0]) is None:
        pytest.fail(f"{TARGETS[target][0]} is not installed (see README: toolchain)")
    for kernel, variants in _selections():
        defines = ["-DTG_SELECTED_VARIANTS=1", *(f"-DTG_VARIANT_{v}=1" for v in variants)]
        cmd = [*TARGETS[target], *FLAGS, *defines, f"-I{KERNELS}", "-c", str(KERNELS / f"{kernel}.c"),
               "-o", str(tmp_path / "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{kernel} {variants}:\n{proc.stderr}"
    for kernel, other in (("tg_conv_gemm_s8", "GEMM_ODD_CH"), ("tg_conv_s8", "CONV_DILATED"),
                          ("tg_conv_1x1_s8", "GEMM_FULL")):
        cmd = [*TARGETS[target], *FLAGS, "-DTG_SELECTED_VARIANTS=1", f"-DTG_VARIANT_{other}=1", f"-I{KERNELS}",
               "-c", str(KERNELS / f"{kernel}.c"), "-o", str(tmp_path / "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode != 0 and re.search(r"no \w* ?specialisation selected", proc.stderr), (kernel, proc.stderr)
