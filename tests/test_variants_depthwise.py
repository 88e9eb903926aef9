"""The 3x3 depthwise kernels' specialisations (TG_VARIANT) are selected exactly: the lowering's mirrors in
tinygen/lowering/depthwise_ops.py (dw3_variants, dw3c_variants, vp_variants) name the paths and line copies
the C dispatch of tg_depthwise_3x3_s8 / tg_depthwise_3x3_ch_s8 / tg_depthwise_3x3_vp_s8 really takes, on every
dispatch case (pair path or ring or four-channel loop; requantization mode; along-line stride; one/two lines).

Proof, per case: the manifest's variants equal the case's expected set (the C conditions, spelled out below);
the library as emitted (only those copies compiled) equals the reference bit for bit with gcc (under ASan/UBSan
on every other case) or clang, on the portable and the emulated-DSP paths; and the same library built with every copy
compiled and the kernels' TG_TRACE_VARIANT hook recording, run on the DSP path, takes exactly those
specialisations (none on the portable path, which the compiler picks without selection). A call whose copy
is missing stops loudly (TG_UNREACHABLE) instead of computing nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hostbuild
from tinygen import codegen, reference
from tinygen.ir import Graph
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
DW_KERNELS = ("tg_depthwise_3x3_s8", "tg_depthwise_3x3_ch_s8", "tg_depthwise_3x3_vp_s8")
#: the variant families these kernels own (other kernels' variants are not traced here)
FAMILIES = ("DW3_", "DW3C_", "DWVP_")
HUGE_BIAS = 2**31 - 2**20  # past the fast requantization's bounds: fast = 0

#: case -> ((n, h, w, c), stride, padding, activation, output zero point, bias range, rounding; expected variants).
#: relu with zero point -128 clamps to the full int8 range (SAT); relu with -100 clamps at the zero point (ring
#: CLAMP, pair RELU); no activation with zero point 5 is fast but not ReLU-like (pair SIGNED_SAT, ring SAT); a layer
#: without the fast form (HUGE_BIAS): pair ANY, ring GENERIC.
CASES: dict[str, tuple[tuple, tuple[str, ...]]] = {
    # tg_depthwise_3x3_s8, pair path (stride 1, lines >= 6)
    "ring_pairs_relu_sat_cols_odd": (((1, 25, 5, 8), (1, 1), "same", "relu", -128, 3000, "double"),
                                     ("DW3_VP", "DWVP_TWO_RELU_SAT", "DWVP_ONE_RELU_SAT")),
    "ring_pairs_relu_even": (((1, 6, 8, 5), (1, 1), "same", "relu", -100, 3000, "double"),
                             ("DW3_VP", "DWVP_TWO_RELU")),
    "ring_pairs_signed_odd": (((2, 7, 7, 3), (1, 1), "same", "none", 5, 3000, "double"),
                              ("DW3_VP", "DWVP_TWO_SIGNED_SAT", "DWVP_ONE_SIGNED_SAT")),
    "ring_pairs_generic_one_line": (((1, 1, 9, 6), (1, 1), "same", "relu", -128, HUGE_BIAS, "double"),
                                    ("DW3_VP", "DWVP_ONE_ANY")),
    "ring_pairs_single_rounding": (((1, 8, 6, 4), (1, 1), "same", "relu", -128, 3000, "single"),
                                   ("DW3_VP", "DWVP_TWO_RELU_SAT")),
    "ring_pairs_signed_clamp": (((1, 6, 8, 6), (1, 1), "same", "relu_n1_to_1", 5, 3000, "double"),
                                ("DW3_VP", "DWVP_TWO_SIGNED")),
    "ring_pairs_generic_two_lines": (((1, 6, 8, 5), (1, 1), "same", "relu", -128, HUGE_BIAS, "double"),
                                     ("DW3_VP", "DWVP_TWO_ANY")),
    "ring_pairs_signed_one_line": (((1, 1, 9, 6), (1, 1), "same", "relu_n1_to_1", 5, 3000, "double"),
                                   ("DW3_VP", "DWVP_ONE_SIGNED")),
    "ring_pairs_relu_one_line": (((1, 1, 9, 6), (1, 1), "same", "relu", -100, 3000, "double"),
                                 ("DW3_VP", "DWVP_ONE_RELU")),
    "ring_s2_single_rounding": (((1, 9, 8, 4), (2, 2), "same", "relu", -100, 3000, "single"),
                                ("DW3_G2_TWO_RELU_CLAMP",)),
    # tg_depthwise_3x3_s8, ring: line copies by along-line stride and requantization mode
    "ring_s1_sat": (((1, 5, 5, 3), (1, 1), "same", "relu", -128, 3000, "double"), ("DW3_RING", "DW3_S1_SAT")),
    "ring_s1_clamp": (((1, 4, 5, 6), (1, 1), "same", "relu", -100, 3000, "double"), ("DW3_RING", "DW3_S1_CLAMP")),
    "ring_s1_generic": (((1, 5, 4, 3), (1, 1), "valid", "none", 5, HUGE_BIAS, "double"),
                        ("DW3_RING", "DW3_S1_GENERIC")),
    "ring_s2_sat_cols": (((1, 9, 8, 4), (2, 2), "same", "relu", -128, 3000, "double"), ("DW3_G2_TWO_RELU_SAT",)),
    "ring_s2_clamp_cols": (((1, 11, 4, 3), (2, 1), "valid", "relu", -100, 3000, "double"),
                           ("DW3_RING", "DW3_S2_CLAMP")),
    "ring_s2_generic": (((1, 8, 9, 6), (2, 2), "valid", "none", 5, HUGE_BIAS, "double"),
                        ("DW3_G2_TWO_GENERIC", "DW3_G2_ONE_GENERIC")),
    "ring_s2_generic_stride_1x2": (((1, 5, 11, 2), (1, 2), "same", "none", 5, HUGE_BIAS, "double"),
                                   ("DW3_RING", "DW3_S2_GENERIC")),
    "ring_rows_stride_1x2": (((1, 5, 11, 2), (1, 2), "same", "none", 5, 3000, "double"), ("DW3_RING", "DW3_S2_SAT")),
    "ring_stride3_portable": (((1, 10, 10, 2), (3, 3), "same", "none", 5, 3000, "double"), ("DW3_RING",)),
    # tg_depthwise_3x3_s8, the stride-2 path (stride 2x2): two output lines, or the last of an odd count, per mode
    "g2_signed_sat_odd": (((2, 9, 9, 6), (2, 2), "same", "none", 5, 3000, "double"),
                          ("DW3_G2_TWO_SAT", "DW3_G2_ONE_SAT")),
    "g2_signed_clamp_cols_odd": (((1, 10, 6, 5), (2, 2), "same", "relu_n1_to_1", 5, 3000, "double"),
                                 ("DW3_G2_TWO_CLAMP", "DW3_G2_ONE_CLAMP")),
    "g2_relu_sat_one_line": (((1, 2, 9, 4), (2, 2), "same", "relu", -128, 3000, "double"), ("DW3_G2_ONE_RELU_SAT",)),
    "g2_relu_clamp_one_line_single_rounding": (((1, 3, 12, 8), (2, 2), "valid", "relu", -100, 3000, "single"),
                                               ("DW3_G2_ONE_RELU_CLAMP",)),
    # tg_depthwise_3x3_ch_s8 (channels a multiple of 4, >= 16, lines < 8): its channel function per requantization mode
    "ch_pairs_relu_sat": (((1, 6, 6, 16), (1, 1), "same", "relu", -128, 3000, "double"), ("DW3C_RELU_SAT",)),
    "ch_pairs_signed_cols_odd": (((1, 7, 5, 20), (1, 1), "same", "none", 5, 3000, "double"), ("DW3C_SIGNED_SAT",)),
    "ch_pairs_signed_single_rounding": (((1, 6, 7, 16), (1, 1), "same", "relu_n1_to_1", 5, 3000, "single"),
                                        ("DW3C_SIGNED",)),
    "ch_pairs_relu_one_line": (((1, 1, 6, 16), (1, 1), "same", "relu", -100, 3000, "double"), ("DW3C_RELU",)),
    "ch_four_channels_stride2": (((2, 7, 5, 20), (2, 2), "same", "relu", -100, 3000, "double"), ("DW3C_RELU",)),
    "ch_four_channels_one_pixel_generic": (((1, 3, 3, 32), (1, 1), "valid", "relu", -128, HUGE_BIAS, "double"),
                                           ("DW3C_ANY",)),
    "ch_four_channels_single_rounding": (((1, 5, 4, 16), (2, 1), "valid", "relu", -128, 3000, "single"),
                                         ("DW3C_RELU_SAT",)),
}


def _graph(case: str) -> tuple[Graph, str]:
    from test_kernels_depthwise import dw_graph

    (shape, stride, padding, act, zp, bias_range, rounding), _ = CASES[case]
    # a large output scale: right shifts, which the fast requantization needs
    graph = dw_graph(sorted(CASES).index(case), *shape, stride, padding, act, out_zp=zp, bias_range=bias_range,
                     out_scale=16.0)
    if bias_range == HUGE_BIAS:  # past the fast form's bounds whatever the seed draws
        graph.tensor("b").data[0] = HUGE_BIAS
    return graph, rounding


def _ours(names: list[str] | set[str]) -> set[str]:
    return {v for v in names if v.startswith(FAMILIES)}


def taken_variants(lib: codegen.Library, graph: Graph, work: Path, rounding: str, x: np.ndarray,
                   dsp: bool) -> set[str]:
    """hostbuild.traced_run, requiring the reference's outputs; returns the specialisations the run took."""
    out, taken = hostbuild.traced_run(lib.out_dir, lib.manifest, work, x, dsp_emulate=dsp)
    for v in range(x.shape[0]):
        np.testing.assert_array_equal(out[v], reference.run(graph, x[v], rounding=rounding)["y"].reshape(-1))
    return taken


@pytest.mark.parametrize("case", sorted(CASES))
def test_mirror_names_exactly_the_specialisations_taken(case: str, tmp_path: Path) -> None:
    from test_codegen import check_library, random_inputs

    graph, rounding = _graph(case)
    expected = set(CASES[case][1])
    index = sorted(CASES).index(case)
    # (ASan/UBSan on every other case, clang on the others: the suite stays fast)
    lib = check_library(graph, tmp_path / "gcc", rounding=rounding, vectors=2, dsp=(False, True),
                        sanitize=index % 2 == 0)
    assert _ours(lib.manifest["variants"]) == expected
    if index % 2 == 1:
        check_library(graph, tmp_path / "clang", rounding=rounding, vectors=1, compilers=("clang",), dsp=(False, True))
    x = random_inputs(graph, 2, 5)
    assert _ours(taken_variants(lib, graph, tmp_path, rounding, x, dsp=True)) == expected
    if index % 3 == 0:  # (a third of the cases: the same #if TG_DSP for all)
        # the portable path is the compiler's choice (no TG_DSP): no specialisation runs there
        assert _ours(taken_variants(lib, graph, tmp_path, rounding, x, dsp=False)) == set()


def test_cases_reach_every_specialisation() -> None:
    """The cases above cover every specialisation the kernels define, and the mirrors name nothing else."""
    from tinygen.lowering.depthwise_ops import dw3_variants, dw3c_variants

    defined: set[str] = set()
    for kernel in DW_KERNELS:
        defined |= _ours(set(re.findall(r"TG_VARIANT\((\w+)\)", (KERNELS / f"{kernel}.c").read_text())))
    named: set[str] = set()
    for oh in range(1, 10):
        for ow in range(1, 10):
            for sh in (1, 2, 3):
                for sw in (1, 2, 3):
                    for fast, offset, lo, hi in ((False, 0, -128, 127), (True, 5, -128, 127), (True, -128, -128, 127),
                                                 (True, -100, -100, 127), (True, -100, -100, 20), (True, 5, -100, 20)):
                        args = (oh, ow, sh, sw, fast, offset, lo, hi)
                        named |= set(dw3_variants(*args)) | set(dw3c_variants(*args))
    assert named == defined
    assert set().union(*(set(v) for _, v in CASES.values())) == defined


def test_missing_specialisation_stops_loudly(tmp_path: Path) -> None:
    """A library lacking the copy its call runs (a mirror bug) does not return unchanged memory: it traps."""
    graph, rounding = _graph("ring_pairs_relu_sat_cols_odd")
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True)
    broken = hostbuild.config_copy(lib.out_dir, lib.name, tmp_path / "broken", "#define TG_VARIANT_DWVP_TWO_RELU_SAT 1", "")
    hb = hostbuild.build(broken, lib.manifest, tmp_path / "build", dsp_emulate=True)
    x = np.zeros((1, *graph.tensor("x").shape), dtype=np.int8)
    proc = subprocess.run([str(hb.exe), "1"], input=x.tobytes(), capture_output=True)
    assert proc.returncode != 0
