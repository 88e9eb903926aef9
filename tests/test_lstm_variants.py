"""UNIDIRECTIONAL_SEQUENCE_LSTM variants: peephole, projection (weights, bias, proj_clip), layer norm and CIFG, int8
activations (8x8_16) as TFLite defines them (tinygen/ops/lstm.py, VARIANT_KIND).

TFLite Micro refuses these LSTMs, so the oracle is TensorFlow Lite's own interpreter (its reference kernels, and
its default resolver, which computes the same): the reference against it over consecutive invocations on
hand-built single-op models of every variant and their combinations, laid out as TFLite's quantizer writes them
(24 inputs, the two states VARIABLE, five intermediates carrying the gates' and the hidden state's
quantization); gemmlowp's int16 logistic and tanh against gemmlowp itself (every int16 input); the refusals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_op_lstm import _with_variables
from test_reference_ops import FbOp, FbTensor

from tinygen import oracle, reference
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.ops import lstm

OPTIONS = "UnidirectionalSequenceLSTMOptions"
#: every variant TFLite allows: (cifg, peephole, layer_norm, projection, projection_bias)
VARIANTS = [(cifg, peep, ln, proj, bias) for cifg in (False, True) for peep in (False, True) for ln in (False, True)
            for proj, bias in ((False, False), (True, False), (True, True))]


def variant_model(b: int, t: int, f: int, cells: int, seed: int, *, cifg: bool = False, peephole: bool = False,
                  layer_norm: bool = False, outputs: int | None = None, projection_bias: bool = False,
                  cell_clip: float = 0.0, proj_clip: float = 0.0, cell_power: int = -11, hidden_zp: int | None = None,
                  hidden_scale: float | None = None                  ) -> bytes:
    """A .tflite of one int8 LSTM variant with the quantization TFLite's quantizer gives it: weights int8 and
    peephole weights and layer-norm coefficients int16, all symmetric per tensor; gate biases int32 on
    ``x_scale * w_scale`` (on ``layer_norm_scale * 2^-10`` with layer norm); the cell state int16 on a power of
    two; intermediates 0-3 (int16 symmetric) the gates' scales before the layer norm, 4 the hidden state (int8;
    without projection the output state's quantization). ``outputs``: the projection's size (None: no
    projection)."""
    rng = np.random.default_rng(seed)
    n_out = cells if outputs is None else outputs
    sx, zx = float(np.float32(rng.uniform(0.005, 0.05))), int(rng.integers(-20, 20))
    sh, zh = float(np.float32(rng.uniform(0.004, 0.02))), int(rng.integers(-10, 10))
    tensors = [FbTensor("x", (b, t, f), "int8", sx, zx)]
    inputs = [0] + [-1] * 23

    def add(position: int, tensor: FbTensor) -> None:
        tensors.append(tensor)
        inputs[position] = len(tensors) - 1

    gates = (1, 2, 3) if cifg else (0, 1, 2, 3)
    ln_scales = {g: float(np.float32(rng.uniform(1.0, 3.0) / 32767)) for g in gates}
    for g in gates:
        ws, rs = (float(np.float32(rng.uniform(0.003, 0.02))) for _ in range(2))
        add(1 + g, FbTensor(f"w{g}", (cells, f), "int8", ws, 0,
                            data=rng.integers(-127, 128, (cells, f)).astype(np.int8)))
        add(5 + g, FbTensor(f"r{g}", (cells, n_out), "int8", rs, 0,
                            data=rng.integers(-127, 128, (cells, n_out)).astype(np.int8)))
        bscale = ln_scales[g] * 2.0**-10 if layer_norm else sx * ws
        add(12 + g, FbTensor(f"b{g}", (cells,), "int32", bscale, 0,
                             data=rng.integers(-3000, 3000, cells).astype(np.int32)))
        if peephole and g != 2:
            add((9, 10, -1, 11)[g], FbTensor(f"p{g}", (cells,), "int16", float(np.float32(rng.uniform(1e-5, 1e-4))), 0,
                                             data=rng.integers(-32767, 32768, cells).astype(np.int16)))
        if layer_norm:
            add(20 + g, FbTensor(f"ln{g}", (cells,), "int16", ln_scales[g], 0,
                                 data=rng.integers(8000, 32767, cells).astype(np.int16)))
    sp = float(np.float32(rng.uniform(0.004, 0.01)))  # the hidden state (projection input) scale
    hzp = (int(rng.integers(-10, 10)) if outputs is not None else zh) if hidden_zp is None else hidden_zp
    if outputs is not None:
        ps = float(np.float32(rng.uniform(0.005, 0.02)))
        add(16, FbTensor("proj", (n_out, cells), "int8", ps, 0,
                         data=rng.integers(-127, 128, (n_out, cells)).astype(np.int8)))
        if projection_bias:
            add(17, FbTensor("proj_b", (n_out,), "int32", sp * ps, 0,
                             data=rng.integers(-2000, 2000, n_out).astype(np.int32)))
    add(18, FbTensor("h", (b, n_out), "int8", sh, zh))
    add(19, FbTensor("c", (b, cells), "int16", 2.0**cell_power, 0))
    gate_scales = [float(np.float32(rng.uniform(0.5, 4.0) * 2.0**-12)) if layer_norm else 2.0**-12 for _ in range(4)]
    intermediates = [FbTensor(f"inter{k}", (0,), "int16", s, 0) for k, s in enumerate(gate_scales)]
    hs = (sp if outputs is not None else sh) if hidden_scale is None else hidden_scale
    intermediates.append(FbTensor("hidden", (0,), "int8", hs, hzp))
    first = len(tensors)
    tensors += intermediates
    tensors.append(FbTensor("y", (b, t, n_out), "int8", sh, zh))
    op = FbOp("UNIDIRECTIONAL_SEQUENCE_LSTM", inputs, [len(tensors) - 1], OPTIONS,
              {"FusedActivationFunction": 4, "CellClip": cell_clip, "ProjClip": proj_clip, "TimeMajor": False})
    model = _with_variables(tensors, [op], {i for i, t_ in enumerate(tensors) if t_.name in ("h", "c")})
    return with_intermediates(model, list(range(first, first + 5)))


def with_intermediates(model: bytes, intermediates: list[int]) -> bytes:
    """``model`` with its first operator's intermediates set (build_tflite writes none)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    m.subgraphs[0].operators[0].intermediates = intermediates
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def tflite_run(model: bytes, vectors: Any, builtin_ref: bool = True) -> list[np.ndarray]:
    """TFLite's interpreter over consecutive invocations (tinygen.oracle.tflite_run): each one's output."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    output = import_tflite(model).outputs[0]
    return [out[output] for out in oracle.tflite_run(model, vectors, reference_kernels=builtin_ref)]


def random_inputs(model: bytes, count: int, seed: int) -> np.ndarray:
    g = import_tflite(model)
    return np.random.default_rng(seed).integers(-128, 128, (count, *g.tensor(g.inputs[0]).shape)).astype(np.int8)


def reference_run(model: bytes, vectors: np.ndarray) -> list[np.ndarray]:
    g = import_tflite(model)
    outs, state = [], None
    for x in vectors:
        ref = reference.run(g, [x], state=state)
        state = reference.next_state(g, ref, state)
        outs.append(ref[g.outputs[0]])
    return outs


def assert_matches_tflite(model: bytes, count: int = 3, seed: int = 0) -> None:
    vectors = random_inputs(model, count, seed)
    got = reference_run(model, vectors)
    for v, want in enumerate(tflite_run(model, vectors)):
        np.testing.assert_array_equal(got[v].reshape(-1), want.reshape(-1), err_msg=f"invocation {v}")


def _sizes(peephole: bool, projection: bool) -> int | None:
    """The projection's output size for a variant (a peephole LSTM's projection keeps the size: _variant_check)."""
    return (6 if peephole else 4) if projection else None


# --------------------------------------------------------------------------- against TFLite's interpreter


@pytest.mark.parametrize("cifg,peephole,layer_norm,projection,projection_bias", VARIANTS[1:])
def test_variants_match_tflite(cifg: bool, peephole: bool, layer_norm: bool, projection: bool,
                               projection_bias: bool) -> None:
    seed = VARIANTS.index((cifg, peephole, layer_norm, projection, projection_bias))
    model = variant_model(2, 4, 5, 6, seed, cifg=cifg, peephole=peephole, layer_norm=layer_norm,
                          outputs=_sizes(peephole, projection), projection_bias=projection_bias)
    assert [op.kind for op in import_tflite(model).ops] == [lstm.VARIANT_KIND]
    assert_matches_tflite(model, seed=seed)


@pytest.mark.parametrize("seed", range(16))
def test_random_variants_match_tflite(seed: int) -> None:
    """Random sizes, clips, cell scales (2^-15..2^-9) and hidden-state quantization: the int8 clamps and the
    clips bite, the state is carried over invocations."""
    rng = np.random.default_rng(1000 + seed)
    cifg, peephole, layer_norm, projection, bias = VARIANTS[1 + int(rng.integers(0, len(VARIANTS) - 1))]
    cells = int(rng.integers(1, 9))
    outputs = (cells if peephole else int(rng.integers(1, 9))) if projection else None
    model = variant_model(int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 9)), cells, seed,
                          cifg=cifg, peephole=peephole, layer_norm=layer_norm, outputs=outputs, projection_bias=bias,
                          hidden_zp=int(rng.integers(-30, 30)), hidden_scale=float(rng.uniform(0.002, 0.02)),
                          cell_clip=float(rng.choice([0, 0.5, 3])), proj_clip=float(rng.choice([0, 0.3, 5])),
                          cell_power=int(rng.integers(-15, -8)))
    assert_matches_tflite(model, seed=seed)


def test_default_resolver_computes_the_same() -> None:
    model = variant_model(1, 5, 7, 8, 3, peephole=True, layer_norm=True, outputs=8, projection_bias=True,
                          cell_clip=1.0, proj_clip=0.5)
    vectors = random_inputs(model, 3, 3)
    for ref, default in zip(tflite_run(model, vectors), tflite_run(model, vectors, builtin_ref=False)):
        np.testing.assert_array_equal(ref, default)


def test_plain_lstm_follows_tflite_micro_which_differs_from_tflite() -> None:
    """A plain LSTM stays TFLite Micro's op (tests/test_op_lstm.py): TFLite computes it otherwise (gemmlowp's
    logistic/tanh, single-rounding cell products, the hidden intermediate's quantization): outputs off by a few
    units."""
    from tinygen.oracle import tflm_run

    model = variant_model(1, 6, 6, 7, 5)
    g = import_tflite(model)
    assert [op.kind for op in g.ops] == [lstm.KIND]
    vectors = random_inputs(model, 4, 5)
    ours = reference_run(model, vectors)
    tflm = [tflm_run(model, [x], reset=v == 0)[g.outputs[0]] for v, x in enumerate(vectors)]
    for a, b in zip(ours, tflm):
        np.testing.assert_array_equal(a.reshape(-1), b.reshape(-1))
    # the root of the difference: the two int16 sigmoids (TFLite Micro's interpolated table, gemmlowp's)
    v = np.arange(-32768, 32768)
    table, fixed = lstm.sigmoid16(v), lstm.gemmlowp_logistic16(v)
    assert 0 < np.count_nonzero(table != fixed) and np.abs(table - fixed).max() <= 8


# --------------------------------------------------------------------------- gemmlowp's int16 functions


def _gemmlowp_include() -> Path | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    path = Path(tf.__file__).parent / "include" / "external" / "gemmlowp"
    return path if (path / "fixedpoint" / "fixedpoint.h").is_file() else None


_GEMMLOWP_TABLES = r"""
#include <cstdint>
#include <cstdio>
#include "fixedpoint/fixedpoint.h"
template <int IB> void tanh_table() {
  for (int v = -32768; v < 32768; ++v) {
    int16_t o = gemmlowp::tanh(gemmlowp::FixedPoint<int16_t, IB>::FromRaw((int16_t)v)).raw();
    fwrite(&o, 2, 1, stdout);
  }
}
int main() {
  for (int v = -32768; v < 32768; ++v) {
    int16_t o = gemmlowp::logistic(gemmlowp::FixedPoint<int16_t, 3>::FromRaw((int16_t)v)).raw();
    fwrite(&o, 2, 1, stdout);
  }
  tanh_table<0>(); tanh_table<1>(); tanh_table<2>(); tanh_table<3>(); tanh_table<4>(); tanh_table<5>(); tanh_table<6>();
  return 0;
}
"""

_KERNEL_TABLES = r"""
#include <stdio.h>
#include "tg_lstm_s8_variant.c"
int main(void) {
  int32_t v; int ib;
  for (v = -32768; v < 32768; ++v) { int16_t o = (int16_t)tg_lstmv_logistic(v); fwrite(&o, 2, 1, stdout); }
  for (ib = 0; ib <= 6; ++ib)
    for (v = -32768; v < 32768; ++v) { int16_t o = (int16_t)tg_lstmv_tanh(v, ib); fwrite(&o, 2, 1, stdout); }
  return 0;
}
"""


def _tables(tmp_path: Path, name: str, source: str, compiler: list[str]) -> np.ndarray:
    src = tmp_path / name
    src.write_text(source)
    exe = tmp_path / (name + ".exe")
    subprocess.run([*compiler, str(src), "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    return np.frombuffer(out, np.int16).reshape(8, 65536)


def test_gemmlowp_logistic_and_tanh_on_every_int16(tmp_path: Path) -> None:
    """The reference's and the kernel's int16 logistic (3 integer bits) and tanh (0..6 integer bits) equal
    gemmlowp's own (compiled from the fixedpoint.h TensorFlow ships) on all 65536 inputs."""
    include = _gemmlowp_include()
    if include is None or shutil.which("g++") is None:
        pytest.skip("TensorFlow's gemmlowp headers or g++ are missing")
    want = _tables(tmp_path, "gemmlowp.cc", _GEMMLOWP_TABLES, ["g++", "-O1", f"-I{include}"])
    from opcheck import KERNELS

    kernel = _tables(tmp_path, "kernel.c", _KERNEL_TABLES, ["gcc", "-std=c99", "-O1", f"-I{KERNELS}"])
    v = np.arange(-32768, 32768)
    ours = np.stack([lstm.gemmlowp_logistic16(v)] + [lstm.gemmlowp_tanh16(v, ib) for ib in range(7)])
    np.testing.assert_array_equal(ours, want)
    np.testing.assert_array_equal(kernel, want)


def test_inv_sqrt_multiplier_in_python_and_c(tmp_path: Path) -> None:
    """GetInvSqrtQuantizedMultiplierExp: the reference's and the kernel's agree exactly over int32's range, and
    multiplier * 2^shift / 2^31 is 1/sqrt(value) (to its Newton iterations' precision)."""
    from opcheck import KERNELS

    values = sorted({0, 1, 2, 3, 17, 1000, 123457, 2**28 - 1, 2**29, 2**31 - 1,
                     *np.random.default_rng(0).integers(2, 2**31 - 1, 300).tolist()})
    src = tmp_path / "inv_sqrt.c"
    src.write_text('#include <stdio.h>\n#include "tg_lstm_s8_variant.c"\nint main(void) {\n  long v;\n'
                   '  while (scanf("%ld", &v) == 1) { int32_t m, s; tg_lstmv_inv_sqrt((int32_t)v, &m, &s); '
                   'printf("%ld %ld\\n", (long)m, (long)s); }\n  return 0;\n}\n')
    exe = tmp_path / "inv_sqrt"
    subprocess.run(["gcc", "-std=c99", "-O1", f"-I{KERNELS}", str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(map(str, values)), check=True, capture_output=True, text=True)
    kernel = [tuple(map(int, line.split())) for line in out.stdout.splitlines()]
    assert kernel == [lstm.inv_sqrt_multiplier(v) for v in values]
    for value in values[2:]:
        m, shift = lstm.inv_sqrt_multiplier(value)
        assert abs(m * 2.0**shift / 2**31 * np.sqrt(value) - 1) < 2e-6, value
    assert lstm.inv_sqrt_multiplier(1) == (2**31 - 1, 0)


# --------------------------------------------------------------------------- refusals


def _edited(model: bytes, edit: Any) -> bytes:
    """``model`` with its flatbuffer edited by ``edit(ModelT)`` (TFLite's object API)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    edit(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _refused(model: bytes, pattern: str, error: type = UnsupportedError) -> None:
    with pytest.raises(error, match=pattern):
        import_tflite(model)


def test_refusals() -> None:
    def op(m: Any) -> Any:
        return m.subgraphs[0].operators[0]

    # a peephole LSTM whose projection changes the size: TFLite applies the peephole over the output size
    _refused(variant_model(1, 2, 3, 6, 0, peephole=True, outputs=4), "peephole LSTM whose projection changes the size")
    # without the five intermediates TFLite's integer LSTM does not run (the gates' and hidden quantization)
    _refused(_edited(variant_model(1, 2, 3, 4, 0, layer_norm=True), lambda m: setattr(op(m), "intermediates", [])),
             "0 intermediate tensors")
    # the all-or-none rules of TFLite's Prepare
    def set_input(position: int, value: Any) -> Any:
        def edit(m: Any) -> None:
            inputs = list(op(m).inputs)
            inputs[position] = value(inputs) if callable(value) else value
            op(m).inputs = inputs
        return edit

    def drop(position: int) -> Any:
        return set_input(position, -1)

    _refused(_edited(variant_model(1, 2, 3, 4, 0, peephole=True), drop(10)), "peephole operands", TinygenError)
    _refused(_edited(variant_model(1, 2, 3, 4, 0, layer_norm=True), drop(22)), "layer norm operands", TinygenError)
    _refused(_edited(variant_model(1, 2, 3, 4, 0, cifg=True), set_input(5, lambda inputs: inputs[6])),
             "all present or all absent", TinygenError)
    _refused(_edited(variant_model(1, 2, 3, 4, 0, outputs=3, projection_bias=True), drop(16)),
             "projection bias but no projection weights", TinygenError)
    # time major, a non-TANH cell activation
    def options(field: str, value: Any) -> Any:
        return lambda m: setattr(op(m).builtinOptions, field, value)

    _refused(_edited(variant_model(1, 2, 3, 4, 0, cifg=True), options("timeMajor", True)), "time major")
    _refused(_edited(variant_model(1, 2, 3, 4, 0, cifg=True), options("fusedActivationFunction", 1)), "TANH only")
    # a cell scale whose tanh TFLite cannot compute (more than 6 integer bits)
    with pytest.raises(TinygenError, match="cell_scale"):
        import_tflite(variant_model(1, 2, 3, 4, 0, cifg=True, cell_power=-8))


def test_tflite_micro_refusal_is_named() -> None:
    """tinygen.oracle says why TFLite Micro cannot check a variant (instead of its allocation failure)."""
    from tinygen.oracle import tflm_refusal, tflm_run

    model = variant_model(1, 2, 3, 4, 0, layer_norm=True)
    assert "layer norm" in str(tflm_refusal(model))
    assert tflm_refusal(variant_model(1, 2, 3, 4, 0)) is None
    with pytest.raises(TinygenError, match="TFLite Micro's integer LSTM refuses"):
        tflm_run(model, random_inputs(model, 1, 0)[0])


# --------------------------------------------------------------------------- the generated C


#: the variants the C checks build (cifg, peephole, layer_norm, projection, projection_bias)
C_VARIANTS = [(False, True, False, False, False), (True, False, True, True, True), (False, True, True, True, False),
              (True, True, True, False, False)]


@pytest.mark.parametrize("variant", C_VARIANTS)
def test_c_matches_reference(tmp_path: Path, variant: tuple[bool, ...]) -> None:
    """gcc and clang (with ASan/UBSan), and the DSP build emulated, over consecutive invocations."""
    import opcheck

    cifg, peephole, layer_norm, projection, bias = variant
    model = variant_model(2, 3, 7, 6, 7, cifg=cifg, peephole=peephole, layer_norm=layer_norm,
                          outputs=_sizes(peephole, projection), projection_bias=bias, cell_clip=0.5,
                          proj_clip=0.3 if projection else 0.0, hidden_zp=-5)
    opcheck.check_c(import_tflite(model), tmp_path, random_inputs(model, 4, 7), dsp_emulate=True)


#: QEMU boards: Cortex-M3 (portable C), M7 (DSP) and M55 (Helium core)
BOARDS = ("mps2_an385", "mps2_an500", "mps3_an547")


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_qemu_matches_tflite(tmp_path: Path, board: str) -> None:
    """``tinygen test``'s check: the firmware equals tinygen's reference and TensorFlow Lite's interpreter (TFLite
    Micro refuses the op: the report says so), vector after vector (the state carried)."""
    from test_emulator_models import cached_build

    from tinygen.commands.test import make_vectors, prepare, run_test

    for tool in ("qemu-system-arm", "arm-none-eabi-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/setup.sh installs it)")
    path = tmp_path / "lstm.tflite"
    model = variant_model(1, 5, 6, 8, 21, peephole=True, layer_norm=True, outputs=8, projection_bias=True,
                          cell_clip=1.0, proj_clip=0.4, hidden_zp=3)
    path.write_bytes(model)
    prep = prepare(path, board, tmp_path / "work")
    assert [layer["kernel"] for layer in prep.manifest["layers"]] == ["tg_lstm_s8_variant"]
    vectors = make_vectors(prep, 4)
    outcome = run_test(prep, vectors, timeout=300, builder=cached_build)
    report = "\n".join(outcome.lines)
    assert outcome.ok and "ok    tinygen reference" in report and "ok    TensorFlow Lite: all" in report, report
    assert "note: not compared with TFLite Micro: its UNIDIRECTIONAL_SEQUENCE_LSTM" in report, report
    want = tflite_run(model, [v.reshape(1, 5, 6) for v in vectors])
    for v, expected in enumerate(want):
        got = np.frombuffer(outcome.run.outputs[v], np.int8)
        np.testing.assert_array_equal(got, expected.reshape(-1), err_msg=f"vector {v}")
