"""Several inputs and outputs, and uint8/float32 edges (tinygen/ports.py, the library's API, ``tinygen test``).

One hand-built model exercises every kind of port: an int8 input, a float32 input (QUANTIZE), a uint8 input
(QUANTIZE uint8 -> int8, scales equal: the sign-flip fast path), and outputs int8, float32 (DEQUANTIZE) and uint8
(QUANTIZE int8 -> uint8 with a rescale: the general requantization). Its generated C is compared through all
three entry points (``NAME_invoke`` on the int8 core, ``NAME_invoke_f32``, ``NAME_invoke_model`` on the declared
types) with tinygen's reference and TFLite Micro, on the host under the sanitizers and in QEMU.
"""

from __future__ import annotations

from pathlib import Path

import hostbuild
import numpy as np
import opcheck
import pytest
from test_reference_ops import FbOp, FbTensor, build_tflite

from tinygen import codegen, ports, reference
from tinygen.errors import UnsupportedError
from tinygen.frontend.tflite import import_tflite
from tinygen.oracle import tflm_run

SHAPE = (1, 4, 6)


def mixed_model() -> bytes:
    """a (int8), b (float32 -> QUANTIZE), c (uint8 -> QUANTIZE); s = ADD(a, b'), d = SUB(s, c');
    outputs: s (int8), DEQUANTIZE(d) (float32), QUANTIZE(d) to uint8 with another scale."""
    t = [
        FbTensor("a", SHAPE, "int8", 0.05, 3),
        FbTensor("b", SHAPE, "float32"),
        FbTensor("bq", SHAPE, "int8", 0.04, -5),
        FbTensor("c", SHAPE, "uint8", 0.03, 128),
        FbTensor("cq", SHAPE, "int8", 0.03, 0),
        FbTensor("s", SHAPE, "int8", 0.09, -2),
        FbTensor("d", SHAPE, "int8", 0.1, 4),
        FbTensor("df", SHAPE, "float32"),
        FbTensor("du", SHAPE, "uint8", 0.07, 120),
    ]
    ops = [
        FbOp("QUANTIZE", [1], [2]),
        FbOp("QUANTIZE", [3], [4]),
        FbOp("ADD", [0, 2], [5], "AddOptions"),
        FbOp("SUB", [5, 4], [6], "SubOptions"),
        FbOp("DEQUANTIZE", [6], [7]),
        FbOp("QUANTIZE", [6], [8]),
    ]
    return build_tflite(t, ops, [0, 1, 3], [5, 7, 8])


def test_ports_of_the_mixed_model() -> None:
    graph = import_tflite(mixed_model(), name="mixed")
    core, ins, outs = ports.split(graph)
    assert [(p.declared, p.core, p.has_edge) for p in ins] == [("a", "a", False), ("b", "bq", True), ("c", "cq", True)]
    assert [(p.declared, p.core, p.has_edge) for p in outs] == [("s", "s", False), ("df", "d", True), ("du", "d", True)]
    assert [op.kind for op in core.ops] == ["add", "sub"] and core.inputs == ["a", "bq", "cq"]
    assert "d" in core.outputs and len(graph.ops) == 6  # the model's own graph is untouched


def test_header_describes_every_port(tmp_path: Path) -> None:
    lib = codegen.generate(import_tflite(mixed_model(), name="mixed"), tmp_path / "lib")
    header = (lib.out_dir / "mixed.h").read_text()
    for text in ("#define mixed_NUM_INPUTS 3", "#define mixed_NUM_OUTPUTS 3", "#define mixed_INPUT2_BYTES 24",
                 "#define mixed_OUTPUT1_ZERO_POINT (4)",
                 "int mixed_invoke(const int8_t *input0, const int8_t *input1, const int8_t *input2, int8_t *output0, "
                 "int8_t *output1, int8_t *output2);",
                 "int mixed_invoke_model(const int8_t *input0, const float *input1, const uint8_t *input2, "
                 "int8_t *output0, float *output1, uint8_t *output2);",
                 "void *mixed_input_at(int index);", "the model declares uint8"):
        assert text in header, text
    m = lib.manifest
    assert [p["declared_dtype"] for p in m["inputs"]] == ["int8", "float32", "uint8"] and m["edges"] and m["invoke_f32"]
    assert {"tg_quantize_u8_s8", "tg_quantize_s8_u8", "tg_quantize_f32_s8", "tg_dequantize_s8"} <= set(m["kernels"])


def _vectors(count: int, seed: int) -> tuple[list[np.ndarray], ...]:
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (count, *SHAPE), dtype=np.int8)
    b = (rng.standard_normal((count, *SHAPE)) * 3).astype(np.float32)
    b[0].flat[:6] = [0.02, -0.02, 0.06, -0.06, 1e9, -1e9]  # ties of round half away from zero, saturation
    c = rng.integers(0, 256, (count, *SHAPE), dtype=np.uint8)
    return a, b, c


def test_reference_equals_tflite_micro() -> None:
    model = mixed_model()
    graph = import_tflite(model, name="mixed")
    a, b, c = _vectors(6, 1)
    for v in range(6):
        ref = reference.run(graph, [a[v], b[v], c[v]])
        tflm = tflm_run(model, [a[v], b[v], c[v]])
        for name in ("bq", "cq", "s", "d", "df", "du"):
            assert ref[name].dtype == tflm[name].dtype and np.array_equal(ref[name], tflm[name]), name


def _row_bytes(*arrays: np.ndarray) -> np.ndarray:
    return np.stack([np.concatenate([np.ascontiguousarray(x[v]).view(np.uint8).reshape(-1) for x in arrays])
                     for v in range(len(arrays[0]))])


def test_c_equals_the_reference_through_every_entry_point(tmp_path: Path) -> None:
    graph = import_tflite(mixed_model(), name="mixed")
    lib = codegen.generate(graph, tmp_path / "lib")
    a, b, c = _vectors(4, 2)
    refs = [reference.run(graph, [a[v], b[v], c[v]]) for v in range(4)]
    for compiler, sanitize in opcheck.builds():
        work = tmp_path / f"{compiler}{int(sanitize)}"
        # the int8 core: invoke and the zero-copy pointers (odd vectors)
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / "int8", compiler=compiler, sanitize=sanitize)
        core_in = _row_bytes(*[np.stack([r[n] for r in refs]) for n in ("a", "bq", "cq")])
        out, _ = hostbuild.run(hb, core_in)
        assert np.array_equal(out, _row_bytes(*[np.stack([r[n] for r in refs]) for n in ("s", "d", "d")]))
        # the declared types, the model's own edge ops included
        hb = hostbuild.build(lib.out_dir, lib.manifest, work / "model", compiler=compiler, sanitize=sanitize, mode="model")
        out, _ = hostbuild.run(hb, _row_bytes(a, b, c))
        assert np.array_equal(out, _row_bytes(*[np.stack([r[n] for r in refs]) for n in ("s", "df", "du")]))
    # float32 everywhere: the float32 input's QUANTIZE is the model's, the others use their int8 quantization
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "f32", sanitize=True, mode="f32")
    fa = (a.astype(np.float32) - 3) * np.float32(0.05)
    fc = (c.astype(np.float32) - 128) * np.float32(0.03)
    out, _ = hostbuild.run(hb, np.concatenate([fa.reshape(4, -1), b.reshape(4, -1), fc.reshape(4, -1)], axis=1))
    deq = [(np.stack([r[n] for r in refs]).astype(np.float64) - zp) * float(np.float32(s)) for n, s, zp in (("s", 0.09, -2), ("d", 0.1, 4))]
    want = np.concatenate([deq[0].astype(np.float32).reshape(4, -1), np.stack([r["df"] for r in refs]).reshape(4, -1),
                           deq[1].astype(np.float32).reshape(4, -1)], axis=1)
    assert np.array_equal(out.view(np.uint32), want.view(np.uint32))


def test_outputs_of_int32_and_inputs_of_other_types_are_refused() -> None:
    graph = import_tflite(mixed_model(), name="mixed")
    graph.tensors["b"].dtype = "int32"
    with pytest.raises(UnsupportedError, match=r"input 'b' is int32 \[1, 4, 6\]; tinygen needs an int8 input"):
        ports.split(graph)


@pytest.mark.emulator
@pytest.mark.parametrize("board", opcheck.QEMU_BOARDS)
def test_bit_exact_in_qemu(board: str, tmp_path: Path) -> None:
    model = tmp_path / "mixed.tflite"
    model.write_bytes(mixed_model())
    report = opcheck.check_qemu(model, board, tmp_path / "work")
    assert "all 216 values equal" in report  # 3 vectors x 3 outputs x 24 values
