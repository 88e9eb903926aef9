"""The 3x3 and 1-D depthwise kernels' specialisations (TG_VARIANT) are selected exactly: the lowering's mirrors in
tinygen/lowering/depthwise_ops.py (dw3_variants, dw3c_variants, vp_variants, dw1d_variants) name the paths and
line copies the C dispatch of tg_depthwise_3x3_s8 / tg_depthwise_3x3_ch_s8 / tg_depthwise_3x3_vp_s8 /
tg_depthwise_1d_s8 really takes, on every dispatch case (pair path or ring or four-channel loop; requantization
mode; along-line stride; one/two lines; the 1-D kernel's tap pairs and direct forms, through chains of layers).

Proof, per case: the manifest's variants equal the case's expected set (the C conditions, spelled out below);
the library as emitted (only those copies compiled) equals the reference bit for bit with gcc (under ASan/UBSan
on every other case) or clang, on the portable and the emulated-DSP paths; and the same library built with every copy
compiled and the kernels' TG_TRACE_VARIANT hook recording, run on the DSP path, takes exactly those
specialisations (none on the portable path, which the compiler picks without selection). A call whose copy
is missing stops loudly (TG_UNREACHABLE) instead of computing nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hostbuild
from tinygen import codegen, reference
from tinygen.ir import Graph, Op, Tensor
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
DW_KERNELS = ("tg_depthwise_3x3_s8", "tg_depthwise_3x3_ch_s8", "tg_depthwise_3x3_vp_s8", "tg_depthwise_1d_s8")
#: the variant families these kernels own (other kernels' variants are not traced here)
FAMILIES = ("DW3_", "DW3C_", "DWVP_", "DW1D_")
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


def _emitted_library(graph: Graph, rounding: str, index: int, expected: set[str], tmp_path: Path) -> codegen.Library:
    """The library as emitted (only the named copies compiled) equals the reference on the portable and the emulated
    DSP path, under ASan/UBSan on every other case; its manifest names exactly ``expected`` of these kernels."""
    from test_codegen import check_library

    lib = check_library(graph, tmp_path / "gcc", rounding=rounding, vectors=2, dsp=(False, True),
                        sanitize=index % 2 == 0)
    assert _ours(lib.manifest["variants"]) == expected
    return lib


@pytest.mark.parametrize("case", sorted(CASES))
def test_mirror_names_exactly_the_specialisations_taken(case: str, tmp_path: Path) -> None:
    from test_codegen import check_library, random_inputs

    graph, rounding = _graph(case)
    expected = set(CASES[case][1])
    index = sorted(CASES).index(case)
    lib = _emitted_library(graph, rounding, index, expected, tmp_path)
    if index % 2 == 1:
        check_library(graph, tmp_path / "clang", rounding=rounding, vectors=1, compilers=("clang",), dsp=(False, True))
    x = random_inputs(graph, 2, 5)
    assert _ours(taken_variants(lib, graph, tmp_path, rounding, x, dsp=True)) == expected
    if index % 3 == 0:  # (a third of the cases: the same #if TG_DSP for all)
        # the portable path is the compiler's choice (no TG_DSP): no specialisation runs there
        assert _ours(taken_variants(lib, graph, tmp_path, rounding, x, dsp=False)) == set()


#: tg_depthwise_1d_s8: chain -> ((n, h, w, c), lines along w, activation, output zero point, bias range, rounding,
#: the layers' tap counts; the forms expected on the DSP path). Stride 1, same padding: even tap counts take the line
#: copy of their tap pairs (P1..P5, N past 5), 3 and 5 taps the direct forms (D3, D5; 5 taps: the line copy P3 on
#: the portable path). The modes as for the 3x3 cases: RELU (relu at zero point -100), RELU_SAT (relu at -128),
#: SIGNED (relu_n1_to_1 at 5), SIGNED_SAT (none at 5); beyond the fast form's bounds, DW1D_ANY.
TAPS_1D = (2, 4, 6, 8, 10, 12, 3, 5)
CHAINS_1D: dict[str, tuple[tuple, tuple[str, ...]]] = {
    f"dw1d_{mode.lower()}": ((shape, along_w, act, zp, 3000, rounding, TAPS_1D),
                             tuple(f"DW1D_{form}_{mode}" for form in ("P1", "P2", "P3", "P4", "P5", "PN", "D3", "D5")))
    for mode, shape, along_w, act, zp, rounding in (
        ("RELU", (1, 1, 20, 8), True, "relu", -100, "double"),
        ("RELU_SAT", (1, 17, 3, 5), False, "relu", -128, "single"),
        ("SIGNED", (2, 1, 13, 4), True, "relu_n1_to_1", 5, "double"),
        ("SIGNED_SAT", (1, 12, 1, 6), False, "none", 5, "double"),
    )
}
#: the chains' activation scale: ReLU-n1-to-1 clamps at the zero point -+20
ACT_SCALE_1D = 0.05
CHAINS_1D["dw1d_any"] = (((1, 1, 16, 5), True, "relu", -128, HUGE_BIAS, "double", (3, 9)), ("DW1D_ANY",))


def _chain_1d(chain: str, taps: tuple[int, ...] | None = None) -> tuple[Graph, str]:
    """A chain of 1-D depthwise layers (one per tap count: the chain's, or ``taps``), each layer's input quantized as
    the previous output."""
    from test_kernels_depthwise import dw_graph

    (shape, along_w, act, zp, bias_range, rounding, chain_taps), _ = CHAINS_1D[chain]
    taps = chain_taps if taps is None else taps
    graph = Graph("dw1d")
    src = "x"
    for i, k in enumerate(taps):
        layer = dw_graph(900 + 10 * sorted(CHAINS_1D).index(chain) + i, *shape, (1, 1), "same", act, out_zp=zp,
                         bias_range=bias_range, k=(1, k) if along_w else (k, 1))
        x, w, b, y = (layer.tensor(t) for t in ("x", "w", "b", "y"))
        if bias_range == HUGE_BIAS:  # past the fast form's bounds whatever the seed draws
            b.data[0] = HUGE_BIAS
        # every activation at one scale: right shifts (the fast form needs them), ReLU-n1-to-1 within int8
        y.quant.scale = np.array([ACT_SCALE_1D], dtype=np.float32)
        if i == 0:
            x.quant.scale = y.quant.scale
            graph.add_tensor(x)
        last = i == len(taps) - 1
        out = "y" if last else f"t{i}"
        graph.add_tensor(Tensor(f"w{i}", w.shape, w.dtype, w.quant, w.data))
        graph.add_tensor(Tensor(f"b{i}", b.shape, b.dtype, b.quant, b.data))
        graph.add_tensor(Tensor(out, y.shape, y.dtype, y.quant))
        op = layer.ops[0]
        graph.add_op(Op(op.kind, f"dw{i}", [src, f"w{i}", f"b{i}"], [out], dict(op.attrs)))
        src = out
    graph.inputs, graph.outputs = ["x"], ["y"]
    return graph, rounding


@pytest.mark.parametrize("chain", sorted(CHAINS_1D))
def test_1d_mirror_names_exactly_the_forms_taken(chain: str, tmp_path: Path) -> None:
    """tg_depthwise_1d_s8: the manifest names exactly the forms the run takes on the DSP path, and on the portable
    path those less D5 (its five taps take the line copy P3 there); the library as emitted equals the reference."""
    from test_codegen import random_inputs

    graph, rounding = _chain_1d(chain)
    expected = set(CHAINS_1D[chain][1])
    lib = _emitted_library(graph, rounding, sorted(CHAINS_1D).index(chain), expected, tmp_path)
    x = random_inputs(graph, 2, 5)
    assert _ours(taken_variants(lib, graph, tmp_path, rounding, x, dsp=True)) == expected
    portable = {v for v in expected if not v.startswith("DW1D_D5_")}
    assert _ours(taken_variants(lib, graph, tmp_path / "portable", rounding, x, dsp=False)) == portable


def test_1d_library_object_holds_only_its_forms(tmp_path: Path) -> None:
    """A library's tg_depthwise_1d_s8 object (Cortex-M4, its config header) holds the code of exactly the forms its
    calls name: each form's trace hook left as an assembler comment shows which copies were compiled."""
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.fail("arm-none-eabi-gcc is not installed (see README: toolchain)")
    graph, rounding = _chain_1d("dw1d_signed", taps=(2,))
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True)
    assert _ours(lib.manifest["variants"]) == {"DW1D_P1_SIGNED"}
    hook = "-DTG_TRACE_VARIANT(name)=__asm__ volatile(\"@ form \" #name)"
    compiled: dict[bool, set[str]] = {}
    # the library's copy (its config header first: only its forms), and the template alone (every form)
    for selected, source in ((True, next(lib.out_dir.glob("*tg_depthwise_1d_s8.c"))),
                             (False, KERNELS / "tg_depthwise_1d_s8.c")):
        cmd = [gcc, "-mcpu=cortex-m4", "-mthumb", "-std=gnu99", "-O2", "-S", hook, f"-I{lib.out_dir}",
               f"-I{KERNELS}", str(source), "-o", "-"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        compiled[selected] = set(re.findall(r"@ form (DW1D_\w+)", proc.stdout))
    assert compiled[True] == {"DW1D_P1_SIGNED"}
    assert len(compiled[False]) == 33  # every form when nothing is selected: the selection is what removed them


def test_cases_reach_every_specialisation() -> None:
    """The cases above cover every specialisation the kernels define, and the mirrors name nothing else."""
    from tinygen.lowering.depthwise_ops import (DW1D_FAST_RELU, DW1D_FAST_SIGNED, dw1d_variants, dw3_variants,
                                                dw3c_variants)
    from tinygen.lowering.mac_common import RQ_GENERAL, RQ_MIXED

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
    for taps in range(1, 17):
        for mode in (DW1D_FAST_RELU, DW1D_FAST_SIGNED, RQ_GENERAL, RQ_MIXED):
            for lo, hi in ((-128, 127), (-100, 127)):
                for direct in (False, True):
                    named |= set(dw1d_variants(taps, mode, lo, hi, direct))
    assert named == defined
    assert set().union(*(set(v) for _, v in (*CASES.values(), *CHAINS_1D.values()))) == defined


@pytest.mark.parametrize(("kernel", "dsp"), [("3x3", True), ("1d", False)])
def test_missing_specialisation_stops_loudly(kernel: str, dsp: bool, tmp_path: Path) -> None:
    """A library lacking the copy its call runs (a mirror bug) does not return unchanged memory: it traps (the 3x3
    pair path's line function on the DSP path; a 1-D line form, on the portable path too)."""
    if kernel == "3x3":
        graph, rounding = _graph("ring_pairs_relu_sat_cols_odd")
        form = "DWVP_TWO_RELU_SAT"
    else:
        graph, rounding = _chain_1d("dw1d_signed", taps=(2,))
        form = "DW1D_P1_SIGNED"
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True)
    broken = hostbuild.config_copy(lib.out_dir, lib.name, tmp_path / "broken", f"#define TG_VARIANT_{form} 1", "")
    hb = hostbuild.build(broken, lib.manifest, tmp_path / "build", dsp_emulate=dsp)
    x = np.zeros((1, *graph.tensor("x").shape), dtype=np.int8)
    proc = subprocess.run([str(hb.exe), "1"], input=x.tobytes(), capture_output=True)
    assert proc.returncode != 0


@pytest.mark.parametrize("emulate", [False, True], ids=["portable", "dsp-emulated"])
def test_each_1d_form_alone_compiles_warning_free(emulate: bool, tmp_path: Path) -> None:
    """A library may select any one of tg_depthwise_1d_s8's forms: each alone compiles with clang's -Werror (which,
    unlike gcc, reports a static inline helper that the selection leaves uncalled)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    source = KERNELS / "tg_depthwise_1d_s8.c"
    forms = sorted(set(re.findall(r"TG_VARIANT\((DW1D_\w+)\)", source.read_text())))
    assert len(forms) > 30
    for form in forms:
        cmd = ["clang", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-DTG_SELECTED_VARIANTS=1",
               f"-DTG_VARIANT_{form}=1", *(["-DTG_DSP_EMULATE"] if emulate else []), f"-I{KERNELS}", "-c",
               str(source), "-o", str(tmp_path / "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"{form}:\n{proc.stderr}"
