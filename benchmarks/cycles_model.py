"""The cycle model's validation and MLPerf Tiny estimates: writes benchmarks/cycles_model.md.

    python benchmarks/cycles_model.py [--no-mlperf] [--out FILE]

1. Micro-benchmarks (tinygen.cycles.micro): each loop's cycles per iteration by the technical
   reference manuals against the table model, LLVM's Cortex-M4 scheduling model (llvm-mca, as a
   check on how far LLVM's models are from the manuals) and llvm-mca's M7/M55 figures (no
   published tables to compare with).
2. The MLPerf Tiny models of ../shared/models (person_detect stands in for VWW: the same
   MobileNetV1-0.25 96x96 family), built for the QEMU stand-ins, profiled, and estimated on the
   issue's boards' cores: Cortex-M4 (nucleo_l4r5zi, 120 MHz) and Cortex-M7 (nucleo_h743zi), against
   the best published MLPerf Tiny closed-division figures (issue 17). Every figure is an estimate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
SHARED_MODELS = Path(os.environ.get("TINYGEN_SHARED_MODELS", REPO.parent / "shared" / "models"))

MODELS = ("mlperf_kws_dscnn_int8", "person_detect", "mlperf_ic_resnet8_int8", "mlperf_ad01_int8")
LABELS = {"mlperf_kws_dscnn_int8": "KWS", "person_detect": "VWW (person_detect)",
          "mlperf_ic_resnet8_int8": "IC", "mlperf_ad01_int8": "AD"}  # fmt: skip
#: (stand-in QEMU board that runs the build, board estimated, published best Mcycles per model)
TARGETS = (
    ("mps2_an386", "nucleo_l4r5zi", {"mlperf_kws_dscnn_int8": 5.18, "person_detect": 10.67,
                                     "mlperf_ic_resnet8_int8": 19.8, "mlperf_ad01_int8": 0.49}),
    ("mps2_an500", "nucleo_h743zi", {"mlperf_kws_dscnn_int8": 3.17, "person_detect": 6.66,
                                     "mlperf_ic_resnet8_int8": 11.44, "mlperf_ad01_int8": 0.30}),
)  # fmt: skip
MICRO_CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4")
MCA_CORES = ("cortex-m4", "cortex-m7", "cortex-m55")


def micro_rows() -> tuple[list[str], dict[str, float]]:
    """The micro-benchmark table and the largest relative error of each model against the manuals."""
    from tinygen.cycles import micro

    head = [f"manual / table {c[7:]}" for c in MICRO_CORES] + [f"llvm-mca {c[7:]}" for c in MCA_CORES]
    lines = ["| kernel | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    worst: dict[str, float] = {}
    for kernel in micro.KERNELS:
        cells = []
        for core in MICRO_CORES:
            if core not in kernel.expected:
                cells.append("-")
                continue
            got = micro.loop_cycles(kernel, core)
            worst[core] = max(worst.get(core, 0.0), abs(got - kernel.expected[core]) / kernel.expected[core])
            cells.append(f"{kernel.expected[core]} / {got:g}")
        for core in MCA_CORES:
            got = micro.loop_cycles(kernel, core, use_mca=True)
            if core == "cortex-m4" and core in kernel.expected:
                error = abs(got - kernel.expected[core]) / kernel.expected[core]
                worst["llvm-mca cortex-m4"] = max(worst.get("llvm-mca cortex-m4", 0.0), error)
            cells.append(f"{got:.2f}")
        lines.append(f"| {kernel.name} | " + " | ".join(cells) + " |")
    return lines, worst


def mlperf_rows(work: Path) -> list[str]:
    from tinygen.commands.test import build_firmware, make_vectors, prepare
    from tinygen.cycles.estimate import estimate_firmware

    lines = ["| model | board (core, clock) | instructions | estimated Mcycles | estimated CPI | estimated ms | "
             "best published Mcycles | estimate / published | all-loads-miss bound (+Mcycles) | LLVM's model |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for stand_in, board, published in TARGETS:
        for model in MODELS:
            prep = prepare(SHARED_MODELS / f"{model}.tflite", stand_in, work / stand_in / model)
            built = build_firmware(prep, make_vectors(prep, 1))
            result = estimate_firmware(built.elf, board, prep.num_layers)
            # the M4 cross-check: LLVM's Cortex-M4 scheduling model on the same blocks
            llvm = estimate_firmware(built.elf, board, prep.num_layers, use_mca=True)["inference"]["estimated_cycles"]
            inf = result["inference"]
            mcycles = inf["estimated_cycles"] / 1e6
            bound = result["memory"]["all_loads_miss_extra_cycles"] / 1e6
            lines.append(
                f"| {LABELS[model]} | {board} ({result['core']}, {result['clock_hz'] / 1e6:g} MHz) | "
                f"{inf['instructions']:,} | {mcycles:.2f} | {inf['cycles_per_instruction']:.2f} | "
                f"{inf['estimated_ms']:.1f} | {published[model]:.2f} | {mcycles / published[model]:.2f} | {bound:.2f} | {llvm / 1e6:.2f} |"
            )
            print(lines[-1], flush=True)
    return lines


def report(mlperf: bool) -> str:
    micro_lines, worst = micro_rows()
    bands = ", ".join(f"{core}: {error:.1%}" for core, error in worst.items())
    text = [
        "# Estimated cycles: model validation and MLPerf Tiny estimates",
        "",
        "Generated by `benchmarks/cycles_model.py`. All cycle figures are **estimated** (QEMU's exact block",
        "counts x per-block cycles from a timing model), never measured on hardware.",
        "",
        "## Micro-benchmarks (cycles per loop iteration)",
        "",
        "Each kernel is `loop: BODY; subs r4, r4, #1; bne loop` (tinygen/cycles/micro.py). \"manual\" is the",
        "figure from the TRM tables (Cortex-M0+ DDI 0484C Table 3-1, M3 DDI 0337H Table 18-1, M4 DDI 0439B",
        "Table 3-1 and 3.3.2, with P = 1 for the word-aligned 16-bit loop head); \"table\" is tinygen's table",
        "model. The llvm-mca columns are LLVM 19's scheduling models (+1 taken-branch cycle on M4/M55, 0 on",
        "M7, whose branch predictor is assumed to predict loop branches). Arm publishes no cycle tables for",
        "Cortex-M7 or M55: their columns are the model's, not checked against a manual.",
        "",
        *micro_lines,
        "",
        f"Largest error against the manual: {bands}.",
        "",
        "Error band per core, as measured above: Cortex-M0+, M3, M4 table model exact on every",
        "micro-benchmark (the model encodes the same tables; the remaining error on real code comes from",
        "what the tables leave open: P of 1-3 cycles per taken branch, divide and M3 long-multiply",
        "early termination, and memory wait states). Cortex-M33 uses the M4 table (no published table).",
        "Cortex-M7 and M55: llvm-mca's models, unvalidated against hardware or manuals; LLVM's own",
        "Cortex-M4 model differs from the M4 manual by the llvm-mca cortex-m4 figure above.",
    ]
    if mlperf:
        with tempfile.TemporaryDirectory(prefix="tinygen-cycles-") as tmp:
            rows = mlperf_rows(Path(tmp))
        text += [
            "",
            "## MLPerf Tiny, estimated cycles per inference",
            "",
            "tinygen's firmware for the QEMU stand-in (same core) profiled in QEMU; cycles on the named board's",
            "core with every fetch and load hitting (ART accelerator / L1 caches); the last column bounds what",
            "flash wait states could add if every load missed. Published figures: MLPerf Tiny closed",
            "division (issue 17): L4R5 (M4, 120 MHz) and H7A3 (M7, 280 MHz) with ST X-CUBE-AI 9.0 (AD: Plumerai",
            "on M4, Bosch HALE on M7). VWW is estimated on `person_detect`, the same MobileNetV1-0.25 96x96",
            "family but 1 input channel (MLPerf's VWW has 3), so its figure is slightly low. \"LLVM's model\" is",
            "llvm-mca's scheduling model for the same core on the same blocks: on Cortex-M4 it is the",
            "cross-check of the TRM table model on real code (LLVM charges LDRD 2 cycles where the TRM's",
            "1+N gives 3, and LDRD is about 12% of the instructions of these kernels).",
            "",
            *rows,
        ]
    return "\n".join(text) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-mlperf", action="store_true", help="only the micro-benchmarks")
    parser.add_argument("--out", type=Path, default=HERE / "cycles_model.md")
    args = parser.parse_args()
    text = report(mlperf=not args.no_mlperf)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".md")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
