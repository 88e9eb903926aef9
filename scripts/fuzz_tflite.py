#!/usr/bin/env python3
"""Fuzz tinygen with structural mutants of every shared ``.tflite`` model, and report what happens.

    python3 scripts/fuzz_tflite.py                    # 3000 mutants, 2 workers
    python3 scripts/fuzz_tflite.py --count 200        # a quick look
    python3 scripts/fuzz_tflite.py --replay person_detect#17   # one mutant again, in full
    python3 scripts/fuzz_tflite.py ../shared/models/real/*.tflite --count 500   # other models

The mutants are those of tests/test_fuzz.py (tests/fuzzing.py), spread round-robin over the models, each
run in a worker process with a time limit. Every mutant must be refused with a TinygenError or be
accepted with C bit-exact with the reference executor (and with TFLite Micro where it runs the model).
Accepted mutants run on the reference and TFLite Micro; every distinct generated library (or the first
``--max-compiles``) is compiled with gcc -O1 -fsanitize=address,undefined and run on 2 input vectors.

The summary counts each outcome (refused with TinygenError, accepted and bit-exact, accepted and
different from the reference or TFLite Micro, sanitizer failures, tracebacks, hangs...) and lists each
failure class (status, stage, exception type, where it was raised) with one example mutation.
Nothing is cached or written in the repository (``--json FILE`` saves every outcome). Exit status 1
when any mutant breaks the contract.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fuzzing  # noqa: E402

DEFAULT_MODELS = Path(os.environ.get("TINYGEN_SHARED_MODELS", REPO.parent / "shared" / "models"))


def _models(args: argparse.Namespace) -> dict[str, bytes]:
    paths = [Path(p) for p in args.models] if args.models else sorted(DEFAULT_MODELS.glob("*.tflite"))
    if not paths:
        sys.exit(f"no .tflite models (looked in {DEFAULT_MODELS}; give paths or set TINYGEN_SHARED_MODELS)")
    return {p.stem: p.read_bytes() for p in paths}


def _refused(data: bytes) -> bool:
    from tinygen.errors import TinygenError
    from tinygen.frontend.tflite import import_tflite

    try:
        import_tflite(data)
    except TinygenError:
        return True
    except Exception:  # a traceback: the unmutated run reports it
        return False
    return False


def _mutants(models: dict[str, bytes], count: int, seed: int):
    """The unmutated models, then ``count`` mutants round-robin over the models; a model tinygen refuses
    as it is (the error-path ones) gets a quarter share: its mutants are nearly all refused."""
    for name, data in models.items():
        yield next(fuzzing.mutants(name, data, 0, seed))
    share = {name: 1 if _refused(data) else 4 for name, data in models.items()}
    per_model = {name: fuzzing.mutants(name, data, count, seed, include_seed=False) for name, data in models.items()}
    produced, round_ = 0, 0
    while produced < count and per_model:
        round_ += 1
        for name in list(per_model):
            if round_ % 4 >= share[name]:
                continue
            m = next(per_model[name], None)
            if m is None:
                del per_model[name]
                continue
            yield m
            produced += 1
            if produced >= count:
                return


def _line(m: fuzzing.Mutant, o: dict) -> str:
    what = f"{o['status']} in {o.get('stage', '?')}"
    if o.get("error"):
        what += f": {o['error']} at {o.get('where', '?')}"
    text = o.get("message") or o.get("detail") or ""
    if o.get("tflm") not in (None, "equal", "not run"):
        text += f" [TFLite Micro: {o['tflm']}: {o.get('tflm_message', '')[:160]}]"
    return f"{m.describe()}\n    -> {what}\n       {text[:500]}"


def replay(models: dict[str, bytes], label: str, args: argparse.Namespace, work: Path) -> int:
    """Check one mutant again (in a worker: TFLite Micro may crash on it) and print the whole outcome."""
    name, _, index = label.partition("#")
    if name not in models or not index.isdigit():
        sys.exit(f"--replay wants MODEL#INDEX with MODEL one of {', '.join(models)}")
    i = int(index)
    if i == 0:
        m = next(fuzzing.mutants(name, models[name], 0, args.seed))
    else:
        data, what = fuzzing.mutate(models[name], f"{args.seed}:{name}:{i}")
        m = fuzzing.Mutant(name, i, f"{args.seed}:{name}:{i}", data, what)
    print(m.describe())
    pool = fuzzing.WorkerPool(1, work, timeout=args.timeout, tflm=not args.no_tflm)
    _, outcome = next(iter(pool.run([m], lambda m: True, lambda m: m.index)))
    print(json.dumps(outcome, indent=2, default=str))
    return 0 if outcome["status"] in fuzzing.OK_STATUSES else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=3000, help="mutants in all (default 3000)")
    ap.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    ap.add_argument("--workers", type=int, default=2, choices=(1, 2), help="worker processes (at most 2)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant before it counts as a hang")
    ap.add_argument("--max-compiles", type=int, default=None,
                    help="compile at most this many distinct accepted libraries (default: every distinct one)")
    ap.add_argument("--no-tflm", action="store_true", help="do not compare with TFLite Micro")
    ap.add_argument("--json", type=Path, help="write every outcome (mutation, status, messages) to this file")
    ap.add_argument("--replay", metavar="MODEL#INDEX", help="check one mutant in this process and print its outcome")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each failure as it happens")
    ap.add_argument("models", nargs="*", help=f".tflite files (default: every model in {DEFAULT_MODELS})")
    args = ap.parse_args(argv)

    models = _models(args)
    work = Path(tempfile.mkdtemp(prefix="tinygen-fuzz-"))
    try:
        if args.replay:
            return replay(models, args.replay, args, work)
        return _run(args, models, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, models: dict[str, bytes], work: Path) -> int:
    seen: set[str] = set()
    compiles = [0]

    def compile_for(m: fuzzing.Mutant) -> object:
        if m.index == 0:
            return True
        if args.max_compiles is not None and compiles[0] >= args.max_compiles:
            return False
        return fuzzing.CompileUnseen(frozenset(seen))

    print(f"fuzzing {len(models)} models ({', '.join(models)}) with {args.count} mutants, "
          f"{args.workers} workers, {args.timeout:.0f} s per mutant")
    pool = fuzzing.WorkerPool(args.workers, work, timeout=args.timeout, tflm=not args.no_tflm)
    results: list[tuple[fuzzing.Mutant, dict]] = []
    counts: Counter[str] = Counter()
    start = last = time.monotonic()
    total = len(models) + args.count
    for m, o in pool.run(_mutants(models, args.count, args.seed), compile_for, lambda m: m.index):
        if o.get("compiled") and o.get("c_hash"):
            seen.add(o["c_hash"])
            compiles[0] += 1
        results.append((m, o))
        counts[o["status"]] += 1
        if m.index == 0 and o["status"] in fuzzing.FAIL_STATUSES:
            print(f"! the unmutated model {m.model} itself fails: {_line(m, o)}")
        elif args.verbose and o["status"] in fuzzing.FAIL_STATUSES:
            print(_line(m, o))
        now = time.monotonic()
        if now - last > 30 or len(results) == total:
            last = now
            print(f"  {len(results)}/{total} in {now - start:.0f} s: " + ", ".join(f"{k} {n}" for k, n in counts.most_common()), flush=True)

    elapsed = time.monotonic() - start
    print()
    print(f"{len(results)} models in {elapsed:.0f} s ({len(results) / max(elapsed, 1e-9):.1f}/s), "
          f"{pool.restarts} worker restarts")
    seeds = [(m, o) for m, o in results if m.index == 0]
    print("unmutated models: " + ", ".join(f"{m.model} {o['status']}" for m, o in seeds))
    mutated = [(m, o) for m, o in results if m.index > 0]
    print(_figures(mutated))
    print(fuzzing.summarize(mutated))
    per_model = Counter((m.model, o["status"]) for m, o in mutated)
    print("per model:")
    for name in models:
        row = {s: per_model[(name, s)] for s in (*fuzzing.OK_STATUSES, *fuzzing.FAIL_STATUSES) if per_model[(name, s)]}
        print(f"  {name:32} " + ", ".join(f"{k} {n}" for k, n in row.items()))
    if args.json:
        args.json.write_text(json.dumps([{"mutant": m.label, "seed": m.seed, "mutations": m.mutations, **o}
                                         for m, o in results], indent=1, default=str))
        print(f"outcomes written to {args.json}")
    failing = [(m, o) for m, o in mutated if o["status"] in fuzzing.FAIL_STATUSES]
    return 1 if failing else 0


def _figures(results: list[tuple[fuzzing.Mutant, dict]]) -> str:
    """The headline figures the issue asks for."""
    status = Counter(o["status"] for _, o in results)
    differs = status["differs-reference"] + status["differs-tflm"]
    tflm = Counter(o.get("tflm") for _, o in results if o["status"] not in ("rejected", "unchecked"))
    rows = [
        ("mutants", len(results)),
        ("refused with TinygenError", status["rejected"]),
        ("accepted + bit-exact", status["exact"]),
        ("accepted, too big to execute", status["unchecked"]),
        ("accepted + differs (reference or TFLite Micro)", differs),
        ("  of which C vs reference", status["differs-reference"]),
        ("  of which reference/C vs TFLite Micro", status["differs-tflm"]),
        ("sanitizer failures", status["sanitizer"]),
        ("generated C does not compile", status["compile-error"]),
        ("generated program failed otherwise", status["c-crash"]),
        ("tracebacks (not TinygenError)", status["traceback"]),
        ("accepted but the reference refuses", status["reference-rejects"]),
        ("hangs", status["hang"]),
        ("worker crashes in tinygen", status["crash"]),
        ("accepted by tinygen, refused by TFLite Micro", tflm["refuses"]),
        ("accepted by tinygen, TFLite Micro crashed/hung", tflm["crash"] + tflm["hang"] + tflm["error"]),
    ]
    return "\n".join(f"{label:48} {n:6}" for label, n in rows)


if __name__ == "__main__":
    sys.exit(main())
