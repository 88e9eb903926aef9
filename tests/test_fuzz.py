"""Structural fuzzing (issue 13): every mutant of a real model is either refused with a TinygenError or
accepted with C that is bit-exact.

For a few small models of ../shared/models, seeded structural mutants (tests/fuzzing.py: op options,
shapes, types, quantization, buffers, operator inputs/outputs, opcodes, op order, options tables, graph
inputs/outputs, constant values, a few raw bytes) each go through ``import_tflite`` + ``codegen.generate``:

* a ``TinygenError`` is a clean refusal; any other exception fails the test (the mutation is printed);
* an accepted mutant runs on the reference executor and TFLite Micro (every op output equal where
  TFLite Micro runs it; a refusal by TFLite Micro is recorded and reported as a warning, not a failure);
* a bounded sample of the accepted mutants (distinct generated libraries, the unmutated model first) is
  compiled on the host with gcc -O1 -fsanitize=address,undefined and run on 2 input vectors: every
  layer must equal the reference bit for bit.

Each mutant runs in a worker process with a time limit, so a hang or a crash is a reported failure.
``scripts/fuzz_tflite.py`` runs the same checks on thousands of mutants of every shared model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import fuzzing

#: seed model -> mutants (a few hundred in all); small models, so a mutant takes milliseconds to refuse
SEEDS = {
    "hello_world_int8": 60,
    "micro_speech_quantized": 80,
    "mlperf_kws_dscnn_int8": 90,
    "mlperf_ic_resnet8_int8": 70,
}
#: compiled + run with the sanitizers per seed model, the unmutated model included
COMPILES = 4
TIMEOUT = 30.0  # seconds per mutant (a compile takes about one)


def _run(name: str, data: bytes, work: Path) -> list[tuple[fuzzing.Mutant, dict]]:
    seen: set[str] = set()
    budget = [COMPILES]

    def compile_for(m: fuzzing.Mutant) -> object:
        if m.index == 0:
            return True
        return fuzzing.CompileUnseen(frozenset(seen)) if budget[0] > 0 else False

    results = []
    pool = fuzzing.WorkerPool(1, work, timeout=TIMEOUT, tflm=True)
    for m, outcome in pool.run(fuzzing.mutants(name, data, SEEDS[name], seed=13), compile_for, lambda m: m.index):
        if outcome.get("compiled") and outcome.get("c_hash"):
            seen.add(outcome["c_hash"])
            budget[0] -= 1
        results.append((m, outcome))
    return results


def _describe(m: fuzzing.Mutant, o: dict) -> str:
    what = f"{o['status']} in {o.get('stage', '?')}"
    if o.get("error"):
        what += f": {o['error']} at {o.get('where', '?')}"
    text = o.get("message") or o.get("detail") or ""
    return f"{m.describe()}\n    -> {what}\n       {text}"


@pytest.mark.slow
@pytest.mark.parametrize("name", SEEDS)
def test_mutants_are_refused_or_bit_exact(name: str, shared_models: Path, tmp_path: Path) -> None:
    pytest.importorskip("tflite_micro", reason="TFLite Micro's interpreter (the test extra) is the oracle")
    data = (shared_models / f"{name}.tflite").read_bytes()
    results = _run(name, data, tmp_path)
    print(f"\n{name}: " + fuzzing.summarize(results))

    seed_model, seed_outcome = results[0]
    assert seed_model.index == 0 and seed_outcome["status"] == "exact" and seed_outcome["compiled"] \
        and seed_outcome["tflm"] == "equal", f"the unmutated model must be accepted and bit-exact:\n{_describe(seed_model, seed_outcome)}"
    assert len(results) > SEEDS[name] * 0.9, "the mutator produced too few mutants"
    accepted = [o for _, o in results[1:] if o["status"] != "rejected"]
    assert accepted, "no mutant was accepted: the fuzz test checks nothing but refusals"

    refused = [(m, o) for m, o in results if o.get("tflm") in ("refuses", "crash", "error", "hang")]
    if refused:
        m, o = refused[0]
        warnings.warn(f"{name}: TFLite Micro refused or crashed on {len(refused)} mutant(s) that tinygen accepted, e.g. "
                      f"{m.describe()}: {o.get('tflm_message', '')[:200]}", stacklevel=1)

    failures = [(m, o) for m, o in results if o["status"] in fuzzing.FAIL_STATUSES]
    assert not failures, f"{len(failures)} of {len(results)} mutants of {name} fail:\n" + "\n".join(
        _describe(m, o) for m, o in failures[:25])


def test_mutator_is_deterministic_and_structural(shared_models: Path) -> None:
    """Same seed, same bytes; a mutant differs only where its mutations say; absent fields get added."""
    import tflite

    data = (shared_models / "mlperf_kws_dscnn_int8.tflite").read_bytes()
    for i in range(40):
        a, what_a = fuzzing.mutate(data, f"det:{i}")
        b, what_b = fuzzing.mutate(data, f"det:{i}")
        assert a == b and what_a == what_b and what_a and a != data
    # SAME padding and dilation 1 are schema defaults, absent from the file: the mutator adds them
    flat = fuzzing.Flat(data)
    op = flat.model().Subgraphs(0).Operators(0)
    slot, table = flat.target(op._tab.Pos, fuzzing.field(tflite.Operator, "BuiltinOptions").vo)
    pad, dil = fuzzing.field(tflite.Conv2DOptions, "Padding"), fuzzing.field(tflite.Conv2DOptions, "DilationHFactor")
    assert flat.offset(table, pad.vo) == 0
    assert flat.set_scalar(table, pad.vo, "b", tflite.Padding.VALID) and flat.set_scalar(table, dil.vo, "i", 2)
    copy = fuzzing.Flat(flat.data())
    moved = copy.relocate(table, slot)  # the copy at the end reads the same
    for buf, pos in ((flat, table), (copy, moved)):
        opts = tflite.Conv2DOptions()
        opts.Init(buf.data(), pos)
        assert (opts.Padding(), opts.DilationHFactor(), opts.DilationWFactor(), opts.StrideH(), opts.StrideW()) == (1, 2, 1, 2, 2)
    # every other op reads as before
    before, after = tflite.Model.GetRootAs(data, 0).Subgraphs(0), flat.model().Subgraphs(0)
    for i in range(1, before.OperatorsLength()):
        was, now = before.Operators(i).BuiltinOptions(), after.Operators(i).BuiltinOptions()
        assert (was and was.Pos) == (now and now.Pos)
        assert list(before.Operators(i).InputsAsNumpy()) == list(after.Operators(i).InputsAsNumpy())
