"""The Helium (MVE) kernels: conv (im2col/1x1), fully connected, depthwise and add for Cortex-M55.

Host tests compile the generated MVE library with the kernels' C stand-ins for the MVE intrinsics
(``TG_MVE_EMULATE``, gcc with ASan/UBSan and clang) and require every layer to equal tinygen's reference
bit for bit; targeted shapes reach every branch: channel and depth tails, padding, strides, dilation,
per-tensor FC, batches, the in-place depthwise ring. Cross-compilation checks the real intrinsics with
-Werror -pedantic, that an MVE library refuses to compile for a core without MVE, and a QEMU run on
mps3_an547 checks the same library on the real instruction set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hostbuild
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_codegen import _act, _bias, _out_scale, _weights, conv_configs, mac_chain, conv_graph, fc_configs, fc_graph, random_inputs
from tinygen import codegen, reference
from tinygen.ir import Graph, Op
from tinygen.lowering.mve_ops import quad_layout, quad_params
from tinygen.resources import resource_dir

KERNELS = resource_dir("templates") / "kernels"
MVE_SOURCES = ("tg_conv_mve_s8.c", "tg_fully_connected_mve_s8.c", "tg_depthwise_mve_s8.c", "tg_add_mve_s8.c")
M55 = ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]
HAVE_ARM_GCC = shutil.which("arm-none-eabi-gcc") is not None


def _mve_kernels(lib: codegen.Library) -> set[str]:
    return {layer["kernel"] for layer in lib.manifest["layers"] if layer["kernel"] and "_mve_" in layer["kernel"]}


def check_mve(graph: Graph, work: Path, rounding: str = "double", vectors: int = 3, seed: int = 0,
              compilers: tuple[tuple[str, bool], ...] = (("gcc", True),)) -> codegen.Library:
    """Generate for MVE, compile with the C stand-ins, require every layer == the reference."""
    lib = codegen.generate(graph, work / "lib", rounding=rounding, force=True, mve=True)
    assert lib.manifest["mve"] is True
    x = random_inputs(graph, vectors, seed)
    refs = [reference.run(graph, x[v], rounding=rounding) for v in range(vectors)]
    for compiler, sanitize in compilers:
        if shutil.which(compiler) is None:
            continue
        # hostbuild has no MVE switch: its `opt` slot carries the define (then at -O0, fine for a test)
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / compiler, compiler=compiler, sanitize=sanitize,
                             dump=True, opt="-DTG_MVE_EMULATE")
        out, dumps = hostbuild.run(hb, x.reshape(vectors, -1))
        for v in range(vectors):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = refs[v][layer["output_tensor"]].reshape(-1)
                bad = np.flatnonzero(want != got)
                assert bad.size == 0, (
                    f"{compiler} vector {v} layer {layer['index']} {layer['op']} ({layer['kernel']}): {bad.size} of "
                    f"{want.size} differ, first at {bad[0]}: C {got[bad[0]]} reference {want[bad[0]]}"
                )
            np.testing.assert_array_equal(out[v], refs[v][lib.manifest["output_tensor"]].reshape(-1))
    return lib


# --------------------------------------------------------------------------- offline layouts


def test_quad_layout_interleaves_four_rows_per_step_of_sixteen() -> None:
    w = np.arange(6 * 20, dtype=np.int64).reshape(6, 20).astype(np.int8)
    got = quad_layout(w).reshape(2, 2, 4, 16)  # [quad][step][row][16]
    padded = np.zeros((8, 32), dtype=np.int8)
    padded[:6, :20] = w
    for q in range(2):
        for s in range(2):
            for r in range(4):
                np.testing.assert_array_equal(got[q, s, r], padded[4 * q + r, 16 * s : 16 * s + 16])


def test_quad_params_split_shifts_and_pad_the_last_quad() -> None:
    bias = np.array([1, -2, 3, 4, 5], dtype=np.int32)
    params, has_left = quad_params(bias, np.full(5, 1 << 30), np.array([-3, 0, 2, -31, -1]))
    blocks = params.reshape(2, 4, 4)  # [quad][bias, mult, left, -right][4]
    np.testing.assert_array_equal(blocks[0, 0], [1, -2, 3, 4])
    np.testing.assert_array_equal(blocks[0, 2], [0, 0, 2, 0])
    np.testing.assert_array_equal(blocks[0, 3], [-3, 0, 0, -31])
    np.testing.assert_array_equal(blocks[1, :, 1:], np.zeros((4, 3)))  # padding channels
    assert has_left
    assert not quad_params(bias, np.full(5, 1 << 30), np.full(5, -4))[1]


# --------------------------------------------------------------------------- host bit-exactness

_CONV = {"kind": "conv2d", "batch": 1, "h": 5, "w": 5, "c": 8, "out_c": 6, "mult": 1, "k": (1, 1), "stride": (1, 1),
         "dilation": (1, 1), "padding": "valid", "activation": "none", "per_channel": True, "bias": True}
#: (compiler, sanitizers): gcc with ASan/UBSan always, clang (no ASan runtime here) for double rounding
BOTH = (("gcc", True), ("clang", False))


def _compilers(rounding: str) -> tuple[tuple[str, bool], ...]:
    return BOTH if rounding == "double" else (("gcc", True),)


#: odd channel counts (partial last quad), depths not multiples of 16, padding, strides, dilation, batches
CONV_CASES = {
    "1x1_depth64_quads": {"c": 64, "out_c": 16, "h": 3, "w": 4, "activation": "relu"},
    "1x1_odd_channels": {"c": 7, "out_c": 5, "h": 3, "w": 3, "activation": "relu6"},
    "1x1_stride2_depth17": {"c": 17, "out_c": 9, "h": 6, "w": 7, "stride": (2, 2)},
    "1x1_per_tensor_batch2": {"c": 12, "out_c": 3, "per_channel": False, "batch": 2, "activation": "relu_n1_to_1"},
    "3x3_same_depth27": {"k": (3, 3), "padding": "same", "c": 3, "out_c": 8, "h": 7, "w": 6, "activation": "relu"},
    "3x3_stride2_batch2": {"k": (3, 3), "padding": "same", "c": 16, "out_c": 7, "stride": (2, 2), "batch": 2},
    "kws_first_10x4": {"k": (10, 4), "padding": "same", "c": 1, "out_c": 8, "h": 13, "w": 10, "stride": (2, 2)},
    "dilated_no_bias": {"k": (2, 3), "padding": "same", "c": 5, "out_c": 3, "dilation": (2, 2), "h": 7, "w": 7,
                        "bias": False},
}


@pytest.mark.parametrize(("case", "rounding"), [(c, "double") for c in CONV_CASES]
                         + [(c, "single") for c in ("1x1_odd_channels", "3x3_same_depth27", "dilated_no_bias")])
def test_conv_mve_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    lib = check_mve(conv_graph(5, {**_CONV, **CONV_CASES[case]}), tmp_path, rounding, compilers=_compilers(rounding))
    assert _mve_kernels(lib) == {"tg_conv_mve_s8"}


FC_CASES = {"depth640": (1, 640, 12), "tails": (1, 37, 7), "batch3": (3, 9, 5), "one_in": (1, 1, 6),
            "one_out_batch2": (2, 20, 1)}


@pytest.mark.parametrize(("case", "rounding"), [(c, "double") for c in FC_CASES] + [("tails", "single")])
def test_fully_connected_mve_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    batch, n_in, n_out = FC_CASES[case]
    for i, (act, per_channel) in enumerate([("none", True), ("relu", False)]):  # per-channel and per-tensor
        cfg = {"batch": batch, "in": n_in, "out": n_out, "activation": act, "per_channel": per_channel, "bias": True}
        lib = check_mve(fc_graph(i, cfg), tmp_path / str(i), rounding, compilers=_compilers(rounding))
        assert _mve_kernels(lib) == {"tg_fully_connected_mve_s8"}


_DW = {**_CONV, "kind": "depthwise_conv2d", "k": (3, 3), "padding": "same", "c": 8, "h": 6, "w": 5}
DW_CASES = {
    "3x3_same": {"activation": "relu6"},
    "3x3_stride2_batch2": {"stride": (2, 2), "batch": 2, "h": 7, "w": 8, "c": 12},
    "3x3_valid_stride_2x1": {"padding": "valid", "stride": (2, 1), "c": 4},
    "5x2_general_dilated": {"k": (5, 2), "dilation": (1, 2), "c": 4, "h": 7, "w": 6},
    "3x3_wide_rows_ring": {"h": 4, "w": 90, "c": 4},  # tap offsets past a byte: the four-lane ring
    "3x3_wide_stride2": {"h": 5, "w": 87, "c": 8, "stride": (2, 2), "padding": "valid"},
    "one_channel_mult8_as_conv": {"c": 1, "mult": 8, "k": (4, 3), "stride": (2, 2), "h": 9, "w": 8},
}


@pytest.mark.parametrize(("case", "rounding"), [(c, "double") for c in DW_CASES]
                         + [(c, "single") for c in ("3x3_stride2_batch2", "3x3_wide_rows_ring", "5x2_general_dilated")])
def test_depthwise_mve_equals_reference(case: str, rounding: str, tmp_path: Path) -> None:
    cfg = {**_DW, **DW_CASES[case]}
    lib = check_mve(conv_graph(7, cfg), tmp_path, rounding, compilers=_compilers(rounding))
    assert _mve_kernels(lib) == ({"tg_conv_mve_s8"} if cfg["c"] == 1 else {"tg_depthwise_mve_s8"})


_HC = [HealthCheck.function_scoped_fixture]


@settings(max_examples=6, deadline=None, suppress_health_check=_HC)
@given(cfg=conv_configs(), seed=st.integers(0, 2**31))
def test_random_conv_and_depthwise_mve_equal_reference(tmp_path_factory: pytest.TempPathFactory, cfg: dict,
                                                       seed: int) -> None:
    """Random shapes, strides, dilations, paddings, activations, roundings (MVE kernels or fallbacks)."""
    check_mve(conv_graph(seed, cfg), tmp_path_factory.mktemp("conv"), cfg["rounding"], vectors=2, seed=seed,
              compilers=(("gcc", True),))


@settings(max_examples=5, deadline=None, suppress_health_check=_HC)
@given(cfg=fc_configs(), seed=st.integers(0, 2**31))
def test_random_fully_connected_mve_equals_reference(tmp_path_factory: pytest.TempPathFactory, cfg: dict,
                                                     seed: int) -> None:
    check_mve(fc_graph(seed, cfg), tmp_path_factory.mktemp("fc"), cfg["rounding"], vectors=2, seed=seed,
              compilers=(("gcc", True),))


def test_depthwise_channel_tail_falls_back_to_the_normal_kernels(tmp_path: Path) -> None:
    lib = check_mve(conv_graph(3, {**_DW, "c": 6}), tmp_path)
    assert _mve_kernels(lib) == set() and lib.manifest["layers"][0]["kernel"].startswith("tg_depthwise")


def _mobilenet_block(seed: int, width: int = 6) -> Graph:
    """1x1 conv -> 3x3 depthwise (stride 1, same: the planner lets it run over its input) -> 1x1 conv -> fc."""
    specs = [
        ("conv2d", (12, 1, 1, 5), 0, {"stride": (1, 1), "dilation": (1, 1), "padding": "valid"}, (1, 7, width, 12)),
        ("depthwise_conv2d", (1, 3, 3, 12), 3, {"stride": (1, 1), "dilation": (1, 1), "padding": "same",
                                                "depth_multiplier": 1}, (1, 7, width, 12)),
        ("conv2d", (6, 1, 1, 12), 0, {"stride": (1, 1), "dilation": (1, 1), "padding": "valid"}, (1, 7, width, 6)),
    ]
    return mac_chain("mve_chain", seed, (1, 7, width, 5), specs, 3)


@pytest.mark.parametrize("width", [6, 90])  # the gather ring, the four-lane ring
def test_chain_with_in_place_depthwise(width: int, tmp_path: Path) -> None:
    lib = check_mve(_mobilenet_block(2, width), tmp_path, vectors=4, compilers=BOTH)
    assert _mve_kernels(lib) == {"tg_conv_mve_s8", "tg_depthwise_mve_s8", "tg_fully_connected_mve_s8"}
    dw = lib.manifest["layers"][1]
    assert dw["kernel"] == "tg_depthwise_mve_s8" and dw["in_place"] is not None, "the ring path must run in place"


def _residual(seed: int, shape: tuple[int, ...], activation: str) -> Graph:
    """x -> 1x1 conv -> add(x, conv) (the add may run over the conv output: the planner's in-place rule)."""
    rng = np.random.default_rng(seed)
    g = Graph("mve_residual")
    x = g.add_tensor(_act(rng, "x", shape))
    c = shape[-1]
    w = g.add_tensor(_weights(rng, (c, 1, 1, c), 0, True))
    g.add_tensor(_bias(rng, c))
    g.add_tensor(_act(rng, "y", shape, _out_scale(rng, x, w, c)))
    g.add_op(Op("conv2d", "conv", ["x", "w", "b"], ["y"], {"stride": (1, 1), "dilation": (1, 1), "padding": "valid",
                                                           "activation": "none"}))
    g.add_tensor(_act(rng, "out", shape, float(rng.uniform(0.02, 0.2))))
    g.add_op(Op("add", "add", ["x", "y"], ["out"], {"activation": activation}))
    g.inputs, g.outputs = ["x"], ["out"]
    return g


@pytest.mark.parametrize(("shape", "activation"), [((1, 5, 3, 7), "none"), ((2, 4, 4, 8), "relu"), ((1, 1, 1, 3), "relu6")])
def test_add_mve_equals_reference(shape: tuple[int, ...], activation: str, tmp_path: Path) -> None:
    """Element counts with and without a tail of 1..3, batches, activations."""
    for seed in range(3):
        lib = check_mve(_residual(seed, shape, activation), tmp_path / str(seed), compilers=BOTH if seed == 0 else BOTH[:1])
        assert _mve_kernels(lib) == {"tg_conv_mve_s8", "tg_add_mve_s8"}


def test_add_with_single_rounding_falls_back(tmp_path: Path) -> None:
    lib = check_mve(_residual(1, (1, 3, 3, 4), "none"), tmp_path, rounding="single")
    assert lib.manifest["layers"][1]["kernel"] != "tg_add_mve_s8"


def test_default_library_has_no_mve_kernels(tmp_path: Path) -> None:
    lib = codegen.generate(_mobilenet_block(2), tmp_path / "lib")
    assert lib.manifest["mve"] is False and _mve_kernels(lib) == set()


# --------------------------------------------------------------------------- cross-compilation


def _arm_compile(source: Path, flags: list[str], out: Path, include: Path = KERNELS) -> subprocess.CompletedProcess:
    cmd = ["arm-none-eabi-gcc", *flags, *hostbuild.WARNINGS, "-O2", f"-I{include}", "-c", str(source), "-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.mark.skipif(not HAVE_ARM_GCC, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("source", MVE_SOURCES)
def test_mve_kernel_cross_compiles_for_m55(source: str, tmp_path: Path) -> None:
    for single in (0, 1):
        proc = _arm_compile(KERNELS / source, [*M55, f"-DTG_SINGLE_ROUNDING={single}", "-S"], tmp_path / "k.s")
        assert proc.returncode == 0, proc.stderr
        asm = (tmp_path / "k.s").read_text()  # (objdump 2.40 cannot decode MVE: read the compiler's assembly)
        assert "vldrb" in asm and any(op in asm for op in ("vmladava.s8", "vmul.i32", "vqrdmulh.s32")), asm[:2000]


@pytest.mark.skipif(not HAVE_ARM_GCC, reason="arm-none-eabi-gcc is not installed")
@pytest.mark.parametrize("core", [["-mcpu=cortex-m7", "-mthumb"], ["-mcpu=cortex-m33", "-mthumb"]])
def test_mve_library_refuses_a_core_without_mve(core: list[str], tmp_path: Path) -> None:
    proc = _arm_compile(KERNELS / "tg_conv_mve_s8.c", core, tmp_path / "k.o")
    assert proc.returncode != 0
    assert "#error" in proc.stderr and "Helium (MVE" in proc.stderr and "regenerate the library" in proc.stderr


# --------------------------------------------------------------------------- QEMU (Cortex-M55)


def test_mve_chain_is_bit_exact_on_mps3_an547(tmp_path: Path) -> None:
    """The generated MVE library on the real instruction set (QEMU mps3-an547) == the reference."""
    from tinygen import emulator
    from tinygen.boards import get_board
    from tinygen.commands.test import Prepared, build_firmware, make_vectors

    if shutil.which("qemu-system-arm") is None or not HAVE_ARM_GCC:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc is not installed")
    graph = _mobilenet_block(4)
    board = get_board("mps3_an547")
    assert board.has_mve
    lib = codegen.generate(graph, tmp_path / "lib", force=True, mve=board.has_mve)
    prep = Prepared(graph, lib, board, None, "double", tmp_path)
    vectors = make_vectors(prep, 3)
    built = build_firmware(prep, vectors)
    result = emulator.run_firmware(built.elf, board.machine, timeout=120, num_layers=prep.num_layers)
    assert result.status == "ok", result
    for v in range(len(vectors)):
        want = reference.run(graph, vectors[v].reshape(graph.tensor("x").shape))["out"].reshape(-1)
        np.testing.assert_array_equal(np.frombuffer(result.outputs[v], dtype=np.int8), want)
