"""The C99 backend: emitted libraries compile cleanly and compute exactly what tinygen.reference does.

* property-based single-op graphs (conv2d, depthwise_conv2d, fully_connected with random shapes,
  strides, padding, dilation, multipliers, activations, zero points, rounding): C == reference, on
  the portable path and on the DSP path (emulated on the host with TG_DSP_EMULATE);
* every corpus model and the real models of ../shared/models, every layer compared;
* gcc and clang, ASan/UBSan, two libraries linked into one program;
* determinism, atomic output, and the error cases.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostbuild
from tinygen import codegen, reference
from tinygen.errors import TinygenError
from tinygen.ir import ACTIVATIONS, Graph, Op, Quantization, Tensor, conv_output_size

# --------------------------------------------------------------------------- graph builders


def _act(rng: np.random.Generator, name: str, shape: tuple[int, ...], scale: float | None = None) -> Tensor:
    scale = float(rng.uniform(0.005, 0.1)) if scale is None else scale
    return Tensor(name, shape, "int8", Quantization([scale], [int(rng.integers(-128, 128))]))


def _weights(rng: np.random.Generator, shape: tuple[int, ...], axis: int, per_channel: bool) -> Tensor:
    n = shape[axis] if per_channel else 1
    scales = rng.uniform(0.002, 0.02, n).astype(np.float32)
    quant = Quantization(scales, np.zeros(n, dtype=np.int64), axis=axis if per_channel else None)
    return Tensor("w", shape, "int8", quant, rng.integers(-127, 128, shape).astype(np.int8))


def _bias(rng: np.random.Generator, n: int) -> Tensor:
    return Tensor("b", (n,), "int32", None, rng.integers(-3000, 3000, n).astype(np.int32))


def _out_scale(rng: np.random.Generator, x: Tensor, w: Tensor, depth: int) -> float:
    """An output scale that keeps most results inside int8 without saturating everything."""
    typical = float(x.quant.scale[0]) * float(np.mean(w.quant.scale)) * 64.0 * np.sqrt(depth)
    return float(np.float32(typical / 127.0 * rng.uniform(0.5, 4.0)))


def conv_graph(seed: int, cfg: dict) -> Graph:
    rng = np.random.default_rng(seed)
    n, h, w_, c = cfg["batch"], cfg["h"], cfg["w"], cfg["c"]
    kh, kw = cfg["k"]
    sh, sw = cfg["stride"]
    dh, dw = cfg["dilation"]
    depthwise = cfg["kind"] == "depthwise_conv2d"
    out_c = c * cfg["mult"] if depthwise else cfg["out_c"]
    oh, _ = conv_output_size(h, kh, sh, dh, cfg["padding"])
    ow, _ = conv_output_size(w_, kw, sw, dw, cfg["padding"])
    g = Graph(f"t_{cfg['kind']}")
    x = g.add_tensor(_act(rng, "x", (n, h, w_, c)))
    wshape = (1, kh, kw, out_c) if depthwise else (out_c, kh, kw, c)
    wt = g.add_tensor(_weights(rng, wshape, 3 if depthwise else 0, cfg["per_channel"]))
    inputs = ["x", "w"]
    if cfg["bias"]:
        g.add_tensor(_bias(rng, out_c))
        inputs.append("b")
    depth = kh * kw * (1 if depthwise else c)
    g.add_tensor(_act(rng, "y", (n, oh, ow, out_c), _out_scale(rng, x, wt, depth)))
    attrs = {"stride": (sh, sw), "dilation": (dh, dw), "padding": cfg["padding"], "activation": cfg["activation"]}
    if depthwise:
        attrs["depth_multiplier"] = cfg["mult"]
    g.add_op(Op(cfg["kind"], "op0", inputs, ["y"], attrs))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def fc_graph(seed: int, cfg: dict) -> Graph:
    rng = np.random.default_rng(seed)
    b, i, o = cfg["batch"], cfg["in"], cfg["out"]
    g = Graph("t_fc")
    x = g.add_tensor(_act(rng, "x", (b, i)))
    wt = g.add_tensor(_weights(rng, (o, i), 0, cfg["per_channel"]))
    inputs = ["x", "w"]
    if cfg["bias"]:
        g.add_tensor(_bias(rng, o))
        inputs.append("b")
    g.add_tensor(_act(rng, "y", (b, o), _out_scale(rng, x, wt, i)))
    g.add_op(Op("fully_connected", "fc0", inputs, ["y"], {"activation": cfg["activation"], "keep_num_dims": False}))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


@st.composite
def conv_configs(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["conv2d", "depthwise_conv2d"]))
    fast3x3 = kind == "depthwise_conv2d" and draw(st.booleans())
    k = (3, 3) if fast3x3 else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (1, 1) if fast3x3 or draw(st.booleans()) else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.sampled_from(["same", "valid"]))
    h = draw(st.integers(max(1, (k[0] - 1) * dilation[0] + 1), 11))
    w = draw(st.integers(max(1, (k[1] - 1) * dilation[1] + 1), 11))
    return {
        "kind": kind,
        "batch": draw(st.sampled_from([1, 1, 2])),
        "h": h,
        "w": w,
        "c": draw(st.integers(1, 9)),
        "out_c": draw(st.integers(1, 9)),
        "mult": 1 if fast3x3 else draw(st.integers(1, 3)),
        "k": k,
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": dilation,
        "padding": padding,
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "per_channel": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "rounding": draw(st.sampled_from(["double", "single"])),
    }


@st.composite
def fc_configs(draw: st.DrawFn) -> dict:
    return {
        "batch": draw(st.integers(1, 3)),
        "in": draw(st.integers(1, 40)),
        "out": draw(st.integers(1, 20)),
        "activation": draw(st.sampled_from(ACTIVATIONS)),
        "per_channel": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "rounding": draw(st.sampled_from(["double", "single"])),
    }


# --------------------------------------------------------------------------- checking


def random_inputs(graph: Graph, count: int, seed: int) -> np.ndarray:
    t = graph.tensor(graph.inputs[0])
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return rng.normal(0.0, 1.0, (count, *t.shape)).astype(np.float32)
    return rng.integers(-128, 128, (count, *t.shape)).astype(np.int8)


def check_library(
    graph: Graph,
    work: Path,
    rounding: str = "double",
    vectors: int = 3,
    compilers: tuple[str, ...] = ("gcc",),
    dsp: tuple[bool, ...] = (False,),
    sanitize: bool = False,
    seed: int = 0,
) -> codegen.Library:
    """Generate, compile, run ``vectors`` random inputs, and require every layer to equal the reference."""
    lib = codegen.generate(graph, work / "lib", rounding=rounding, force=True)
    x = random_inputs(graph, vectors, seed)
    refs = [reference.run(graph, x[v], rounding=rounding) for v in range(vectors)]
    core_in = lib.manifest["input_tensor"]
    f32 = lib.manifest["f32_io"]
    inputs = np.stack([refs[v][core_in] for v in range(vectors)]) if f32 else x
    for compiler in compilers:
        for dsp_emulate in dsp:
            hb = hostbuild.build(lib.out_dir, lib.manifest, work / f"{compiler}{int(dsp_emulate)}", compiler=compiler,
                                 sanitize=sanitize, dsp_emulate=dsp_emulate, dump=True)
            out, dumps = hostbuild.run(hb, inputs.reshape(vectors, -1))
            for v in range(vectors):
                for layer, got in zip(lib.manifest["layers"], dumps[v]):
                    want = refs[v][layer["output_tensor"]].reshape(-1)
                    bad = np.flatnonzero(want != got)
                    assert bad.size == 0, (
                        f"{compiler} dsp={dsp_emulate} vector {v} layer {layer['index']} {layer['op']} "
                        f"({layer['kernel']}): {bad.size} of {want.size} differ, first at {bad[0]}: "
                        f"C {got[bad[0]]} reference {want[bad[0]]}"
                    )
                np.testing.assert_array_equal(out[v], refs[v][lib.manifest["output_tensor"]].reshape(-1))
    if f32:
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / "f32", f32=True)
        out, _ = hostbuild.run(hb, x.reshape(vectors, -1))
        for v in range(vectors):
            want = refs[v][graph.outputs[0]].reshape(-1)
            assert out[v].dtype == np.float32 and np.array_equal(out[v].view(np.uint32), want.view(np.uint32))
    return lib


_HC = [HealthCheck.function_scoped_fixture]


@settings(max_examples=12, deadline=None, suppress_health_check=_HC)
@given(cfg=conv_configs(), seed=st.integers(0, 2**31))
def test_random_conv_and_depthwise_equal_reference(tmp_path_factory: pytest.TempPathFactory, cfg: dict, seed: int) -> None:
    graph = conv_graph(seed, cfg)
    check_library(graph, tmp_path_factory.mktemp("conv"), rounding=cfg["rounding"], dsp=(False, True), seed=seed)


@settings(max_examples=8, deadline=None, suppress_health_check=_HC)
@given(cfg=fc_configs(), seed=st.integers(0, 2**31))
def test_random_fully_connected_equals_reference(tmp_path_factory: pytest.TempPathFactory, cfg: dict, seed: int) -> None:
    graph = fc_graph(seed, cfg)
    check_library(graph, tmp_path_factory.mktemp("fc"), rounding=cfg["rounding"], dsp=(False, True), seed=seed)


def test_kernel_selection(tmp_path: Path) -> None:
    """The fast paths are chosen where they apply, the general kernels elsewhere."""
    base = {"kind": "conv2d", "batch": 1, "h": 6, "w": 5, "c": 4, "out_c": 3, "mult": 1, "stride": (1, 1),
            "dilation": (1, 1), "padding": "same", "activation": "none", "per_channel": True, "bias": True}
    cases = [
        ({"k": (1, 1)}, "tg_conv_1x1_s8"),
        ({"k": (3, 3)}, "tg_conv_s8"),
        ({"kind": "depthwise_conv2d", "k": (3, 3)}, "tg_depthwise_3x3_s8"),
        ({"kind": "depthwise_conv2d", "k": (3, 3), "mult": 2}, "tg_depthwise_mult_s8"),
        ({"kind": "depthwise_conv2d", "k": (5, 5), "mult": 2}, "tg_depthwise_s8"),
        ({"kind": "depthwise_conv2d", "k": (3, 3), "dilation": (2, 2)}, "tg_depthwise_s8"),
    ]
    for i, (change, kernel) in enumerate(cases):
        lib = codegen.generate(conv_graph(i, {**base, **change}), tmp_path / str(i))
        assert lib.manifest["layers"][0]["kernel"] == kernel
        assert (tmp_path / str(i) / f"{lib.name}_{kernel}.c").is_file()


# --------------------------------------------------------------------------- whole models


def _corpus_names() -> list[str]:
    try:
        from corpus import CORPUS_NAMES
    except ImportError:
        return []
    return list(CORPUS_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", _corpus_names())
def test_corpus_model_equals_reference(name: str, tmp_path: Path) -> None:
    from corpus import corpus_model

    from tinygen.frontend.tflite import import_tflite

    graph = import_tflite(corpus_model(name), name=name)
    check_library(graph, tmp_path, vectors=3)


SHARED = ["mlperf_kws_dscnn_int8", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8", "person_detect",
          "micro_speech_quantized", "hello_world_int8"]


@pytest.mark.parametrize("name", SHARED)
def test_shared_model_equals_reference(name: str, shared_models: Path, tmp_path: Path) -> None:
    from tinygen.frontend.tflite import import_tflite

    graph = import_tflite(shared_models / f"{name}.tflite")
    # the DSP path (emulated) on the real models too: it is the one that runs on Cortex-M4/M7
    lib = check_library(graph, tmp_path, vectors=3, dsp=(False, True))
    print(f"\n{name}: arena {lib.manifest['arena_bytes']} B, weights {lib.manifest['weight_bytes']} B, "
          f"{lib.manifest['total_macs']} MACs")


def test_shared_models_with_clang_and_sanitizers(shared_models: Path, tmp_path: Path) -> None:
    """One build per compiler flavour of a model that uses every MAC kernel variant."""
    from tinygen.frontend.tflite import import_tflite

    graph = import_tflite(shared_models / "mlperf_kws_dscnn_int8.tflite")
    compilers = tuple(hostbuild.compilers())
    assert "gcc" in compilers
    check_library(graph, tmp_path / "plain", vectors=2, compilers=compilers)
    check_library(graph, tmp_path / "asan", vectors=2, compilers=("gcc",), dsp=(False, True), sanitize=True)


def mac_chain(name: str, seed: int, input_shape: tuple[int, ...], specs: list[tuple], fc_out: int) -> Graph:
    """A chain of per-channel conv/depthwise ops (kind, weight shape, channel axis, attrs, output shape),
    each with bias and relu, then a per-tensor fully connected layer with ``fc_out`` outputs."""
    rng = np.random.default_rng(seed)
    g = Graph(name)
    prev = g.add_tensor(_act(rng, "x", input_shape))
    for i, (kind, wshape, axis, attrs, out_shape) in enumerate(specs):
        w = _weights(rng, wshape, axis, True)
        w.name = f"w{i}"
        g.add_tensor(w)
        b = _bias(rng, wshape[axis])
        b.name = f"b{i}"
        g.add_tensor(b)
        depth = int(np.prod(wshape)) // wshape[axis]
        y = g.add_tensor(_act(rng, f"y{i}", out_shape, _out_scale(rng, prev, w, depth)))
        g.add_op(Op(kind, f"op{i}", [prev.name, w.name, b.name], [y.name], {**attrs, "activation": "relu"}))
        prev = y
    features = prev.size
    w = _weights(rng, (fc_out, features), 0, False)
    w.name = "wf"
    g.add_tensor(w)
    g.add_tensor(_act(rng, "out", (1, fc_out), _out_scale(rng, prev, w, features)))
    g.add_op(Op("fully_connected", "fc", [prev.name, "wf"], ["out"], {"activation": "none", "keep_num_dims": False}))
    g.inputs, g.outputs = ["x"], ["out"]
    return g


def chain_graph(seed: int) -> Graph:
    """conv (dilated, same) -> depthwise x2 (general kernel, strided) -> depthwise 3x3 -> 1x1 conv -> fc."""
    specs = [
        ("conv2d", (5, 3, 3, 3), 0, {"stride": (1, 1), "dilation": (2, 1), "padding": "same"}, (1, 11, 9, 5)),
        ("depthwise_conv2d", (1, 3, 2, 10), 3, {"stride": (2, 2), "dilation": (1, 1), "padding": "same",
                                                "depth_multiplier": 2}, (1, 6, 5, 10)),
        ("depthwise_conv2d", (1, 3, 3, 10), 3, {"stride": (1, 1), "dilation": (1, 1), "padding": "same",
                                                "depth_multiplier": 1}, (1, 6, 5, 10)),
        ("conv2d", (7, 1, 1, 10), 0, {"stride": (1, 1), "dilation": (1, 1), "padding": "valid"}, (1, 6, 5, 7)),
    ]
    return mac_chain("chain", seed, (1, 11, 9, 3), specs, 4)


def test_every_mac_kernel_under_sanitizers(tmp_path: Path) -> None:
    """All MAC kernels (general conv, general depthwise, 3x3 depthwise, 1x1, fc with row quads: the chain's few
    fc MACs stay below fc_ops.DUAL_MIN_MACS; tests/test_kernels_fc.py runs the dual kernel under sanitizers),
    ASan+UBSan, both paths."""
    graph = chain_graph(11)
    lib = check_library(graph, tmp_path, vectors=3, dsp=(False, True), sanitize=True)
    kernels = {layer["kernel"] for layer in lib.manifest["layers"]}
    assert kernels == {"tg_conv_s8", "tg_depthwise_s8", "tg_depthwise_3x3_s8", "tg_conv_1x1_s8",
                       "tg_fully_connected_s8"}


def test_single_rounding_changes_the_library(tmp_path: Path) -> None:
    cfg = {"kind": "conv2d", "batch": 1, "h": 5, "w": 5, "c": 3, "out_c": 4, "mult": 1, "k": (3, 3), "stride": (1, 1),
           "dilation": (1, 1), "padding": "same", "activation": "none", "per_channel": True, "bias": True}
    graph = conv_graph(7, cfg)
    lib = check_library(graph, tmp_path / "single", rounding="single", vectors=4)
    config = (lib.out_dir / f"{lib.name}_config.h").read_text()
    assert "#define TG_SINGLE_ROUNDING 1" in config
    assert lib.manifest["rounding"] == "single"
    double = codegen.generate(graph, tmp_path / "double")
    assert "#define TG_SINGLE_ROUNDING 0" in (double.out_dir / f"{double.name}_config.h").read_text()


def test_two_libraries_link_into_one_program(tmp_path: Path) -> None:
    """Prefixed kernels: two models (different rounding, same kernels) in one executable."""
    cfg = {"kind": "conv2d", "batch": 1, "h": 6, "w": 6, "c": 3, "out_c": 5, "mult": 1, "k": (3, 3), "stride": (2, 2),
           "dilation": (1, 1), "padding": "same", "activation": "relu", "per_channel": True, "bias": True}
    ga, gb = conv_graph(1, cfg), conv_graph(2, cfg)
    a = codegen.generate(ga, tmp_path / "a", name="model_a")
    b = codegen.generate(gb, tmp_path / "b", name="model_b", rounding="single")
    main = tmp_path / "main.c"
    main.write_text(
        '#include <stdio.h>\n#include "model_a.h"\n#include "model_b.h"\n'
        "int main(void) {\n"
        "    static int8_t in[model_a_INPUT_SIZE], oa[model_a_OUTPUT_SIZE], ob[model_b_OUTPUT_SIZE];\n"
        "    if (fread(in, sizeof in, 1, stdin) != 1) return 2;\n"
        "    if (model_a_invoke(in, oa) || model_b_invoke(in, ob)) return 3;\n"
        "    fwrite(oa, sizeof oa, 1, stdout); fwrite(ob, sizeof ob, 1, stdout); return 0;\n}\n"
    )
    exe = tmp_path / "both"
    sources = [str(p) for p in sorted(a.out_dir.glob("*.c")) + sorted(b.out_dir.glob("*.c"))]
    cmd = ["gcc", *hostbuild.WARNINGS, "-O2", f"-I{a.out_dir}", f"-I{b.out_dir}", *sources, str(main), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    x = random_inputs(ga, 1, 5)[0]
    run = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True)
    out = np.frombuffer(run.stdout, dtype=np.int8)
    size = ga.tensor("y").size
    np.testing.assert_array_equal(out[:size], reference.run(ga, x)["y"].reshape(-1))
    np.testing.assert_array_equal(out[size:], reference.run(gb, x, rounding="single")["y"].reshape(-1))


# --------------------------------------------------------------------------- files, determinism, errors


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_builds_installs_and_finds_the_library(tmp_path: Path) -> None:
    """add_subdirectory with the tinygen::NAME alias, then cmake --install and find_package from an application."""
    lib = codegen.generate(chain_graph(3), tmp_path / "lib")
    app_c = (f'#include "{lib.name}.h"\n'
             f"int main(void) {{ static int8_t in[{lib.name}_INPUT_SIZE], out[{lib.name}_OUTPUT_SIZE];\n"
             f"  return {lib.name}_invoke(in, out); }}\n")

    def cmake(*args: str) -> None:
        proc = subprocess.run(["cmake", *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    for mode, find in (("subdir", f"add_subdirectory({lib.out_dir} lib)"), ("installed", f"find_package({lib.name} CONFIG REQUIRED)")):
        app = tmp_path / f"app_{mode}"
        app.mkdir()
        (app / "main.c").write_text(app_c)
        (app / "CMakeLists.txt").write_text(f"cmake_minimum_required(VERSION 3.13)\nproject(app C)\n{find}\n"
                                            f"add_executable(app main.c)\ntarget_link_libraries(app PRIVATE tinygen::{lib.name})\n")
        if mode == "installed":
            cmake("-S", str(lib.out_dir), "-B", str(tmp_path / "libbuild"))
            cmake("--build", str(tmp_path / "libbuild"))
            cmake("--install", str(tmp_path / "libbuild"), "--prefix", str(tmp_path / "prefix"))
            assert (tmp_path / "prefix" / "include" / lib.name / f"{lib.name}.h").is_file()
            cmake("-S", str(app), "-B", str(app / "build"), f"-DCMAKE_PREFIX_PATH={tmp_path / 'prefix'}")
        else:
            cmake("-S", str(app), "-B", str(app / "build"))
        cmake("--build", str(app / "build"))
        assert subprocess.run([str(app / "build" / "app")]).returncode == 0


def test_generation_is_deterministic(shared_models: Path, tmp_path: Path) -> None:
    from tinygen.frontend.tflite import import_tflite

    path = shared_models / "mlperf_kws_dscnn_int8.tflite"
    first = codegen.generate(import_tflite(path), tmp_path / "one")
    second = codegen.generate(import_tflite(path), tmp_path / "two")
    names = sorted(p.name for p in first.out_dir.iterdir())
    assert names == sorted(p.name for p in second.out_dir.iterdir())
    for fname in names:
        assert (first.out_dir / fname).read_bytes() == (second.out_dir / fname).read_bytes(), fname


def test_library_layout_and_manifest(tmp_path: Path) -> None:
    graph = fc_graph(3, {"batch": 1, "in": 10, "out": 4, "activation": "relu", "per_channel": False, "bias": True})
    lib = codegen.generate(graph, tmp_path / "lib", name="9 bad-name")
    assert lib.name == "m_9_bad_name"
    files = sorted(p.name for p in lib.out_dir.iterdir())
    for fname in ("m_9_bad_name.h", "m_9_bad_name.c", "m_9_bad_name_weights.c", "m_9_bad_name_config.h",
                  "m_9_bad_name_tg_fully_connected_s8.c", "manifest.json", "library.json", "CMakeLists.txt"):
        assert fname in files
    unused = ("tg_conv_s8", "tg_conv_1x1_s8", "tg_conv_gemm_s8", "tg_depthwise", "softmax", "pool")
    assert not any(u in f for f in files for u in unused), "only the kernels the model uses are copied"
    manifest = json.loads((lib.out_dir / "manifest.json").read_text())
    assert manifest == lib.manifest
    assert manifest["files"] == files
    assert manifest["layers"][0]["macs"] == 40 and manifest["total_macs"] == 40
    assert manifest["weight_bytes"] > 40 and manifest["arena_bytes"] >= 16
    header = (lib.out_dir / "m_9_bad_name.h").read_text()
    for macro in ("ARENA_SIZE", "INPUT_SIZE 10", "OUTPUT_SIZE 4", "INPUT_SCALE", "INPUT_ZERO_POINT", "OUTPUT_SCALE",
                  "OUTPUT_ZERO_POINT", "NUM_LAYERS 1"):
        assert f"#define m_9_bad_name_{macro}" in header
    json.loads((lib.out_dir / "library.json").read_text())
    weights = (lib.out_dir / "m_9_bad_name_weights.c").read_text()
    assert "const int8_t m_9_bad_name_" in weights and "static" not in weights


def test_existing_foreign_directory_needs_force(tmp_path: Path) -> None:
    graph = fc_graph(4, {"batch": 1, "in": 6, "out": 3, "activation": "none", "per_channel": True, "bias": False})
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(TinygenError, match=r"(?s)out.*--force"):
        codegen.generate(graph, out)
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1
    codegen.generate(graph, out, force=True)
    assert not (out / "notes.txt").exists() and (out / "manifest.json").is_file()
    codegen.generate(graph, out)  # regenerating over our own output needs no force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no temporary folders are left behind"


def test_failed_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = fc_graph(5, {"batch": 1, "in": 6, "out": 3, "activation": "none", "per_channel": True, "bias": True})
    from tinygen import outdir

    calls = {"n": 0}
    real = outdir._write_file

    def failing(path: Path, text: str) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(outdir, "_write_file", failing)
    with pytest.raises(TinygenError, match="disk full"):
        codegen.generate(graph, tmp_path / "fresh")
    assert list(tmp_path.iterdir()) == []
    # a failure while replacing an earlier generation keeps the earlier one intact
    monkeypatch.setattr(outdir, "_write_file", real)
    before = codegen.generate(graph, tmp_path / "kept")
    snapshot = {p.name: p.read_bytes() for p in before.out_dir.iterdir()}
    calls["n"] = 0
    monkeypatch.setattr(outdir, "_write_file", failing)
    with pytest.raises(TinygenError, match="disk full"):
        codegen.generate(graph, tmp_path / "kept", rounding="single")
    assert {p.name: p.read_bytes() for p in (tmp_path / "kept").iterdir()} == snapshot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


def test_op_without_lowering_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from tinygen import ops

    graph = fc_graph(6, {"batch": 1, "in": 6, "out": 3, "activation": "none", "per_channel": True, "bias": True})
    bare = dataclasses.replace(ops.get("fully_connected"), lowerings=(), mve_lowerings=())
    monkeypatch.setitem(ops.registry(), "fully_connected", bare)
    with pytest.raises(TinygenError, match=r"op 0 'fc0' of kind 'fully_connected'"):
        codegen.generate(graph, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_rounding_and_an_input_that_is_an_output(tmp_path: Path) -> None:
    graph = fc_graph(7, {"batch": 1, "in": 6, "out": 3, "activation": "none", "per_channel": True, "bias": True})
    with pytest.raises(TinygenError, match="rounding"):
        codegen.generate(graph, tmp_path / "a", rounding="triple")
    graph.outputs = ["y", "x"]
    with pytest.raises(TinygenError, match="'x' is both an input and an output; nothing computes it"):
        codegen.generate(graph, tmp_path / "b")
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- the convert command


def test_convert_command(shared_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen.cli import main

    out = tmp_path / "kws"
    model = str(shared_models / "mlperf_kws_dscnn_int8.tflite")
    assert main(["convert", model, "-o", str(out), "--rounding", "single", "--name", "kws"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "kws" and manifest["rounding"] == "single"
    assert f"arena   {manifest['arena_bytes']:,} bytes" in printed and "weights" in printed and "kws.h" in printed
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.c").write_text("int x;\n")
    assert main(["convert", model, "-o", str(tmp_path / "other")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--force" in err and "Traceback" not in err
    assert main(["convert", model, "-o", str(tmp_path / "other"), "--force"]) == 0


def test_convert_reports_unsupported_models_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from corpus import corpus_path

    from tinygen.cli import main

    assert main(["convert", str(corpus_path("gelu")), "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "GELU" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
