"""State kept between invocations (tinygen.ir.State; TFLite's resource variables, tinygen/frontend/variables.py).

An accumulator model (y = x + state; state <- y) checks the reference's carried state, the generated C (state
buffer outside the arena, the first run starting from the initial value, ``NAME_reset``) on the host under the
sanitizers, and the refusals. The real streaming model (microWakeWord, resource variables with CALL_ONCE) runs
bit-exact against TFLite Micro over consecutive invocations in tests/test_real_models.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import hostbuild
import numpy as np
import pytest

from tinygen import codegen, reference
from tinygen.errors import TinygenError
from tinygen.ir import Graph, Op, Quantization, State, Tensor

INITIAL = np.array([1, 2, 3, 4, -5, 6], np.int8)


def accumulator() -> Graph:
    q = Quantization(np.array([0.1], np.float32), np.array([0]))
    g = Graph("acc")
    for name in ("x", "r", "r2", "y"):
        g.add_tensor(Tensor(name, (1, 6) if name != "r2" else (1, 2, 3), "int8", q))
    g.add_tensor(Tensor("y2", (1, 6), "int8", q))
    # the state is read through a reshape (a view of the state buffer), added to the input, and stored
    g.add_op(Op("reshape", "r2", ["r"], ["r2"]))
    g.add_op(Op("reshape", "y2", ["r2"], ["y2"]))
    g.add_op(Op("add", "y", ["x", "y2"], ["y"], {"activation": "none"}))
    g.inputs, g.outputs = ["x"], ["y"]
    g.states = [State("acc", "r", "y", INITIAL.copy())]
    return g


def expected(graph: Graph, xs: np.ndarray) -> np.ndarray:
    state, outs = None, []
    for x in xs:
        values = reference.run(graph, x.reshape(1, 6), state=state)
        state = reference.next_state(graph, values, state)
        outs.append(values["y"].reshape(-1))
    return np.stack(outs)


def test_reference_carries_the_state() -> None:
    xs = np.ones((3, 6), np.int8)
    assert np.array_equal(expected(accumulator(), xs), INITIAL + np.arange(1, 4)[:, None])


_MAIN = r"""
#include <stdio.h>
#include "acc.h"
int main(void)
{
    int8_t in[6], out[6];
    int v;
    for (v = 0; v < 6; ++v)
    {
        if (v == 3)
            acc_reset(); /* the last three runs start over */
        if (fread(in, sizeof in, 1, stdin) != 1 || acc_invoke(in, out) != 0)
            return 2;
        fwrite(out, sizeof out, 1, stdout);
    }
    return 0;
}
"""


def test_c_keeps_state_between_runs_and_resets(tmp_path: Path) -> None:
    graph = accumulator()
    lib = codegen.generate(graph, tmp_path / "lib")
    assert lib.manifest["states"] == [{"name": "acc", "bytes": 6, "read_tensor": "r", "write_tensor": "y"}]
    assert lib.manifest["state_bytes"] == 16
    header = (lib.out_dir / "acc.h").read_text()
    assert "void acc_reset(void);" in header and "#define acc_HAS_STATE 1" in header
    xs = np.random.default_rng(3).integers(-20, 20, (6, 6)).astype(np.int8)
    # through the test main: runs 0..2, reset, runs 3..5
    main = tmp_path / "main.c"
    main.write_text(_MAIN)
    exe = tmp_path / "acc"
    sources = [str(p) for p in sorted(lib.out_dir.glob("*.c"))]
    cmd = ["gcc", *hostbuild.WARNINGS, *hostbuild.SANITIZE, "-O1", f"-I{lib.out_dir}", *sources, str(main), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True)
    out = subprocess.run([str(exe)], input=xs.tobytes(), capture_output=True, check=True).stdout
    got = np.frombuffer(out, np.int8).reshape(6, 6)
    assert np.array_equal(got[:3], expected(graph, xs[:3])) and np.array_equal(got[3:], expected(graph, xs[3:]))
    # through tests/hostbuild's main (both the copying and the zero-copy API): one long stream
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "hb", sanitize=True)
    out2, _ = hostbuild.run(hb, xs)
    assert np.array_equal(out2, expected(graph, xs))


def test_a_state_that_does_not_match_its_tensor_is_refused() -> None:
    graph = accumulator()
    graph.states[0].initial = np.zeros(5, np.int8)
    with pytest.raises(TinygenError, match=r"state 'acc' \(5 int8 values\) does not match tensor 'r'"):
        graph.validate()


def test_a_model_without_state_has_no_reset(tmp_path: Path) -> None:
    graph = accumulator()
    graph.states = []
    graph.inputs = ["x", "r"]
    lib = codegen.generate(graph, tmp_path / "lib")
    header = (lib.out_dir / "acc.h").read_text()
    assert "acc_reset" not in header and "#define acc_HAS_STATE 0" in header and lib.manifest["states"] == []


def test_streaming_model_equals_tflite_micro_over_consecutive_invocations(shared_models: Path) -> None:
    """microWakeWord's streaming model: 6 resource variables initialised by CALL_ONCE, read and assigned by
    every invocation. Every tensor of 8 consecutive invocations equals TFLite Micro's, and the state matters
    (the same input gives another output once the state has moved)."""
    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    path = shared_models / "real" / "mww_okay_nabu_v2.tflite"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    model = path.read_bytes()
    graph = import_tflite(model)
    assert len(graph.states) == 6 and all(s.read and s.write for s in graph.states)
    rng = np.random.default_rng(11)
    state, firsts = None, []
    xs = [rng.integers(-128, 128, (1, 3, 40), dtype=np.int8) for _ in range(8)]
    for v, x in enumerate(xs):
        ref = reference.run(graph, x, state=state)
        tflm = tflm_run(model, x, reset=v == 0)
        for op in graph.ops:
            assert np.array_equal(ref[op.outputs[0]], tflm[op.outputs[0]]), (v, op.name)
        state = reference.next_state(graph, ref, state)
        firsts.append(reference.run(graph, xs[0], state=state)[graph.outputs[0]])
    assert any(not np.array_equal(a, firsts[0]) for a in firsts), "the state never changed the output"
    assert any(not np.array_equal(state[s.name], s.initial) for s in graph.states)
