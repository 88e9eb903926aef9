"""MLPerf Tiny benchmark: tinygen against TFLite Micro + CMSIS-NN, measured in QEMU.

    python benchmarks/mlperf_tiny.py [--boards B ...] [--models M ...] [--quick] [--out DIR]

Builds the four MLPerf Tiny reference architectures (tinygen.zoo, fixed seeds, random weights) and
quantizes each two ways: tinygen's own quantizer ("tinygen" flow) and TensorFlow's converter followed by
tinygen's .tflite importer ("tflite" flow). The real trained int8 models of ../shared/models ("import"
flow) form a second table when that folder exists. Every model runs through ``tinygen bench``'s library
functions on each board's QEMU stand-in (exact instruction counts from the TCG plugin), and its output is
checked bit for bit against tinygen's numpy reference and, for a .tflite, TFLite Micro's interpreter.
On the Cortex-M4 and M7 stand-ins the same run also gives estimated cycles (tinygen.cycles) for the
boards of the best published MLPerf Tiny figures (issue 17): an STM32L4R5 (M4, 120 MHz) and an STM32H7
(M7). The script writes RESULTS.md (tables, ratios to the TFLite Micro figures, targets) and results.json.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_BOARDS = ("mps2_an500", "mps2_an386", "mps2_an505", "mps3_an547")
#: the board the TFLite Micro figures were measured on (Cortex-M7, QEMU mps2-an500)
M7 = "mps2_an500"
ZOO_MODELS = ("kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder")
ZOO_FLOWS = ("tinygen", "tflite")
SHARED_MODELS = Path(os.environ.get("TINYGEN_SHARED_MODELS", REPO.parent / "shared" / "models"))
#: the real models with TFLite Micro figures (shared/models/README.md); others may be named with --models
SHARED_DEFAULT = (
    "mlperf_kws_dscnn_int8",
    "mlperf_ic_resnet8_int8",
    "mlperf_ad01_int8",
    "person_detect",
    "micro_speech_quantized",
)
#: physical floor: two int8 MACs per instruction (SMLAD)
FLOOR_MACS_PER_INSTRUCTION = 2.0
INSTRUCTION_TARGET = 0.5
CODE_TARGET = 0.25
#: the input vector's seed (bench and the bit-exactness check run the same vector)
SEED = 0
#: stand-in -> the board whose core and clock the estimated cycles are for (same core: the run is the same)
CYCLE_BOARDS = {"mps2_an386": "nucleo_l4r5zi", "mps2_an500": "nucleo_h743zi"}
#: the best published MLPerf Tiny closed-division figures (issue 17), Mcycles per inference by core:
#: Cortex-M4: STM32L4R5 at 120 MHz, ST X-CUBE-AI 9.0 (AD: Plumerai); Cortex-M7: STM32H7A3 at 280 MHz,
#: X-CUBE-AI 9.0 (AD: Bosch HALE)
PUBLISHED_MCYCLES: dict[str, dict[str, float]] = {
    "cortex-m4": {"kws_dscnn": 5.18, "vww_mobilenet": 10.67, "ic_resnet8": 19.8, "ad_autoencoder": 0.49},
    "cortex-m7": {"kws_dscnn": 3.17, "vww_mobilenet": 6.66, "ic_resnet8": 11.44, "ad_autoencoder": 0.30},
}


@dataclass(frozen=True)
class Bar:
    """TFLite Micro's figures for one model on Cortex-M7 (QEMU mps2-an500, exact plugin counts)."""

    title: str
    instructions: int  # TFLM + CMSIS-NN, one Invoke()
    arena: int  # arena_used_bytes()
    text: int  # firmware .text including the model flatbuffer
    reference_instructions: int | None = None  # TFLM reference kernels
    macs: int | None = None
    #: target ratios to TFLM (None: compare only, no target)
    instruction_target: float | None = None
    arena_target: float | None = None
    code_target: float | None = None


ZOO_BAR: dict[str, Bar] = {
    "kws_dscnn": Bar("KWS DS-CNN 49x10x1", 7_645_421, 22_820, 153_220, 43_580_274, 2_660_000,
                     INSTRUCTION_TARGET, 0.6, CODE_TARGET),
    "vww_mobilenet": Bar("VWW MobileNetV1-0.25 96x96x3", 24_026_052, 100_644, 426_628, 101_166_952, 7_490_000,
                         INSTRUCTION_TARGET, 0.6, CODE_TARGET),
    "ic_resnet8": Bar("IC ResNet-8 32x32x3", 30_011_284, 54_996, 197_988, 108_621_042, 12_500_000,
                      INSTRUCTION_TARGET, 0.8, CODE_TARGET),
    "ad_autoencoder": Bar("AD FC autoencoder 640", 596_278, 15_956, 391_760, 1_687_452, 260_000,
                          INSTRUCTION_TARGET, 0.6, CODE_TARGET),
}  # fmt: skip

#: shared/models/README.md: figures to beat (no explicit targets: ratio < 1 beats TFLite Micro)
SHARED_BAR: dict[str, Bar] = {
    "mlperf_kws_dscnn_int8": Bar("MLPerf KWS DS-CNN (trained)", 7_644_010, 22_820, 189_620),
    "mlperf_ic_resnet8_int8": Bar("MLPerf IC ResNet-8 (trained)", 30_024_140, 54_996, 232_028),
    "mlperf_ad01_int8": Bar("MLPerf AD autoencoder (trained)", 583_508, 2_580, 354_536),
    "person_detect": Bar("person detection MobileNetV1-0.25 96x96x1", 22_716_702, 82_308, 420_116),
    "micro_speech_quantized": Bar("micro speech 1960 -> 4", 1_489_518, 6_836, 126_228),
}


#: where the per-core TFLite Micro figures come from (issue 17; measured the same way as the M7 figures)
CORE_TFLM_PROVENANCE = (
    "tflite-micro 90b983c + CMSIS-NN 4ab83cc, arm-none-eabi-gcc 12.2 -O2 for the core, QEMU, instructions in one"
    " Invoke()"
)


@dataclass(frozen=True)
class CoreBar:
    """TFLite Micro + CMSIS-NN built for one core: instructions (and arena bytes where measured) per model
    (zoo name or shared file stem), on the core's QEMU stand-in board."""

    core: str
    board: str
    kernels: str
    instructions: dict[str, int]
    arena: dict[str, int]


#: each core against TFLite Micro built for that core; the M7 figures are ZOO_BAR's and SHARED_BAR's
CORE_BARS: tuple[CoreBar, ...] = (
    CoreBar("Cortex-M7", M7, "CMSIS-NN (DSP)", {name: bar.instructions for name, bar in {**ZOO_BAR, **SHARED_BAR}.items()},
            {name: bar.arena for name, bar in {**ZOO_BAR, **SHARED_BAR}.items()}),
    CoreBar("Cortex-M33", "mps2_an505", "CMSIS-NN (DSP)", {
        "kws_dscnn": 7_681_861, "vww_mobilenet": 24_047_230, "ic_resnet8": 29_953_794, "ad_autoencoder": 596_099,
        "mlperf_kws_dscnn_int8": 7_680_526, "mlperf_ic_resnet8_int8": 29_960_858, "mlperf_ad01_int8": 583_675,
        "person_detect": 22_841_576, "micro_speech_quantized": 1_481_597,
    }, {}),
    CoreBar("Cortex-M55", "mps3_an547", "CMSIS-NN (MVE, Helium)", {
        "kws_dscnn": 1_817_033, "vww_mobilenet": 6_558_793, "ic_resnet8": 4_914_000, "ad_autoencoder": 156_138,
        "mlperf_kws_dscnn_int8": 1_814_027, "mlperf_ic_resnet8_int8": 4_910_530, "mlperf_ad01_int8": 150_286,
        "person_detect": 6_508_900, "micro_speech_quantized": 1_008_285,
    }, {
        "kws_dscnn": 27_348, "vww_mobilenet": 100_708, "ic_resnet8": 55_028, "ad_autoencoder": 22_644,
        "mlperf_kws_dscnn_int8": 27_348, "mlperf_ic_resnet8_int8": 55_028, "mlperf_ad01_int8": 9_268,
        "person_detect": 82_356, "micro_speech_quantized": 7_812,
    }),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The .tflite side of the comparison


def tflite_weight_bytes(model_bytes: bytes) -> int:
    """Bytes of the constant tensor data (weights, biases, shape constants) in a .tflite flatbuffer.

    Only buffers that tensors refer to: metadata buffers (the runtime version string, conversion
    metadata) are not weights.
    """
    import tflite

    model = tflite.Model.GetRootAsModel(model_bytes, 0)
    used: set[int] = set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        used.update(subgraph.Tensors(t).Buffer() for t in range(subgraph.TensorsLength()))
    total = 0
    for index in sorted(used):
        buffer = model.Buffers(index)
        # Models over 2 GB keep buffers past the flatbuffer, as offset/size instead of inline data.
        total += buffer.DataLength() if buffer.Offset() <= 1 else int(buffer.Size())
    return total


def tflite_quant_bytes(model_bytes: bytes) -> int:
    """Bytes of the quantization tables in a .tflite flatbuffer: every tensor's scales (float32, 4 bytes each)
    and zero points (int64, 8 bytes each), i.e. 12 bytes per channel of a per-channel tensor.

    What TFLite Micro derives its requantization constants from at run time (into its arena); tinygen
    precomputes them into flash instead, so these are the like-for-like figure for its "quant" constants.
    """
    import tflite

    model = tflite.Model.GetRootAsModel(model_bytes, 0)
    total = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            quantization = subgraph.Tensors(t).Quantization()
            if quantization is not None:
                total += 4 * quantization.ScaleLength() + 8 * quantization.ZeroPointLength()
    return total


def tflite_sizes(model_bytes: bytes) -> dict[str, int]:
    """The .tflite side of the flash comparison: the whole file, its weight buffers, its quantization tables."""
    return {"tflite_bytes": len(model_bytes), "tflite_weight_bytes": tflite_weight_bytes(model_bytes),
            "tflite_quant_bytes": tflite_quant_bytes(model_bytes)}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Ratios and targets (pure functions of a run record: the tests exercise them on fake reports)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or not theirs:
        return None
    return ours / theirs


def target_status(value: float | None, target: float | None) -> str:
    """"met" / "missed, needs N.NNx less" / "" (no target) / "n/a" (nothing measured)."""
    if target is None:
        return ""
    if value is None:
        return "n/a"
    if value <= target:
        return "met"
    return f"missed, needs {value / target:.2f}x less"


def beat_status(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "beats TFLM" if value < 1.0 else f"{value:.2f}x TFLM"


def deployed_code_bytes(report: dict[str, Any], input_bytes: int) -> int:
    """Flash besides all constants (weights, requantization constants, tables), less the benchmark's own
    input vector (a const array the firmware embeds: it is test data, not part of a deployed model)."""
    return int(report["code_bytes"]) - input_bytes


def bytes_status(ours: int | None, theirs: int | None) -> str:
    """A size compared with no target: "no larger" / "larger by N bytes" / "n/a" (a side not measured)."""
    if ours is None or theirs is None:
        return "n/a"
    return "no larger" if ours <= theirs else f"larger by {ours - theirs:,} bytes"


def constants_assessment(record: dict[str, Any]) -> dict[str, Any]:
    """tinygen's flash constants against the .tflite's, like with like (manifest const_bytes, see
    tinygen.lowering.base.CONST_KINDS):

    - weights (int8 weights, folded int32 biases, constant tensors) vs the .tflite weight buffers: the target;
    - requantization constants + lookup tables vs the .tflite quantization tables (scales, zero points);
    - all constants vs the whole .tflite flatbuffer (what TFLM's code figure has subtracted).
    """
    report = record["report"]
    kinds = report.get("const_bytes") or {}
    weights = kinds.get("weights")
    quant_table = kinds["quant"] + kinds["table"] if "quant" in kinds and "table" in kinds else None
    tflite_weights, tflite_quant = record.get("tflite_weight_bytes"), record.get("tflite_quant_bytes")
    return {
        "weights_bytes": weights,
        "weights_ratio": ratio(weights, tflite_weights),
        "weights_status": (
            "n/a" if weights is None or tflite_weights is None else "met" if weights <= tflite_weights
            else f"missed by {weights - tflite_weights:,} bytes"
        ),  # fmt: skip
        "quant_table_bytes": quant_table,
        "quant_table_ratio": ratio(quant_table, tflite_quant),
        "quant_table_status": bytes_status(quant_table, tflite_quant),
        "constants_bytes": int(report["weight_bytes"]),
        "constants_ratio": ratio(int(report["weight_bytes"]), record.get("tflite_bytes")),
        "constants_status": bytes_status(int(report["weight_bytes"]), record.get("tflite_bytes")),
    }


def assess(record: dict[str, Any], bar: Bar | None) -> dict[str, Any]:
    """Ratios of one run to TFLite Micro's figures and whether each target is met."""
    report = record.get("report")
    if report is None:
        return {}
    instructions = report["instructions_per_inference"]
    macs = report["macs"]
    code = deployed_code_bytes(report, record.get("input_bytes", 0))
    out: dict[str, Any] = {
        "macs_per_instruction": macs / instructions if instructions else None,
        "fraction_of_floor": macs / FLOOR_MACS_PER_INSTRUCTION / instructions if instructions else None,
        "code_bytes_deployed": code,
        "peak_ram_bytes": report["arena_bytes"] + (report["stack_bytes"] or 0),
    }
    out |= constants_assessment(record)
    if bar is None:
        return out
    # TFLM's code: its firmware .text less the whole model flatbuffer (stricter than less the weights only)
    tflm_code = bar.text - record["tflite_bytes"] if record.get("tflite_bytes") else None
    out["tflm_code_bytes"] = tflm_code
    out["instructions_ratio"] = ratio(instructions, bar.instructions)
    out["reference_kernels_ratio"] = ratio(instructions, bar.reference_instructions)
    out["arena_ratio"] = ratio(report["arena_bytes"], bar.arena)
    out["code_ratio"] = ratio(code, tflm_code)
    for key, target in (("instructions", bar.instruction_target), ("arena", bar.arena_target), ("code", bar.code_target)):
        value = out[f"{key}_ratio"]
        out[f"{key}_status"] = target_status(value, target) if target is not None else beat_status(value)
    return out


# ---------------------------------------------------------------------------------------------
# Running the benchmarks


@dataclass
class Job:
    suite: str  # "zoo" | "shared"
    model: str  # zoo name or shared file stem
    flow: str  # "tinygen" | "tflite" | "import"
    board: str


def _new_record(job: Job) -> dict[str, Any]:
    return {**asdict(job), "report": None, "error": None, "bit_exact": None, "checked_against": [],
            "tflite_bytes": None, "tflite_weight_bytes": None, "tflite_quant_bytes": None, "input_bytes": 0,
            "seconds": None}  # fmt: skip


def bench_prepared(prep: Any, record: dict[str, Any], verify: bool, timeout: float, cycles: bool = True) -> None:
    """``tinygen bench`` on a prepared model (with estimated cycles for the board of CYCLE_BOARDS, when
    ``cycles``), then the bit-exactness check on the same input vector."""
    from tinygen.boards import get_board
    from tinygen.commands.bench import bench
    from tinygen.commands.test import make_vectors, run_test

    record["input_bytes"] = int(prep.input_tensor.size)
    estimate_for = CYCLE_BOARDS.get(record["board"]) if cycles else None
    record["report"] = bench(prep, timeout=timeout, seed=SEED, cycles=estimate_for is not None,
                             cycles_board=get_board(estimate_for) if estimate_for else None)  # fmt: skip
    if verify:
        outcome = run_test(prep, make_vectors(prep, 1, SEED), timeout=timeout, locate=False)
        record["bit_exact"] = outcome.ok
        record["checked_against"] = ["tinygen reference"] + (["TFLite Micro"] if prep.model_bytes else [])
        if not outcome.ok:
            record["error"] = "not bit-exact: " + " | ".join(outcome.lines[1:])


def _guarded(record: dict[str, Any], make_prep: Callable[[], Any], verify: bool, timeout: float,
             cycles: bool = True) -> None:  # fmt: skip
    """Prepare and bench one job; a failure is recorded (and reported in RESULTS.md), never hidden."""
    from tinygen.errors import TinygenError

    start = time.perf_counter()
    try:
        bench_prepared(make_prep(), record, verify, timeout, cycles)
    except TinygenError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a crash in another module must not lose the other runs
        where = traceback.format_exc(limit=-1).splitlines()[1].strip()
        record["error"] = f"{type(exc).__name__}: {exc} ({where})"
    record["seconds"] = round(time.perf_counter() - start, 2)


def _prepare_graph(graph: Any, board: str, out: Path) -> Any:
    """A Prepared for an in-memory graph (what ``tinygen.commands.test.prepare`` does for a file)."""
    from tinygen.boards import get_board
    from tinygen.codegen import generate
    from tinygen.commands.test import Prepared

    target = get_board(board)
    library = generate(graph, out / "lib", force=True, mve=target.has_mve)  # MVE kernels where the core has them
    return Prepared(graph, library, target, None, "double", out)


def _prepare_file(path: Path, board: str, out: Path) -> Any:
    from tinygen.commands.test import prepare

    return prepare(path, board, out)


def _failure(what: str, exc: Exception) -> str:
    return f"{what} failed: {type(exc).__name__}: {exc}"


def run_zoo_model(name: str, boards: Iterable[str], flows: Iterable[str], work: Path, verify: bool,
                  timeout: float, log: Callable[[dict[str, Any]], None], cycles: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Build zoo model ``name``, quantize it each way, bench it on each board."""
    from tinygen import api, zoo
    from tinygen.tfconvert import keras_to_int8_tflite

    model = zoo.MODELS[name]()
    calibration = zoo.representative_data(name)
    # The TF conversion serves both flows: it is the yardstick for weight size and TFLM's code size.
    tflite_path = work / name / f"{name}_tflite.tflite"
    tflite_path.parent.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, Any] = {}
    conversion_error = None
    try:
        model_bytes = keras_to_int8_tflite(model, calibration)
        tflite_path.write_bytes(model_bytes)
        sizes = tflite_sizes(model_bytes)
    except Exception as exc:  # noqa: BLE001 - recorded against every run of the flow
        conversion_error = _failure("TensorFlow's converter", exc)

    records: list[dict[str, Any]] = []
    for flow in flows:
        graph, flow_error = None, conversion_error if flow == "tflite" else None
        if flow == "tinygen":
            try:
                graph = api.quantize(model, calibration=calibration)
            except Exception as exc:  # noqa: BLE001
                flow_error = _failure("tinygen's quantizer", exc)
        for board in boards:
            record = _new_record(Job("zoo", name, flow, board)) | sizes
            records.append(record)
            out = work / name / flow / board
            if flow_error:
                record["error"] = flow_error
            elif flow == "tinygen":
                _guarded(record, functools.partial(_prepare_graph, graph, board, out), verify, timeout, cycles)
            else:
                _guarded(record, functools.partial(_prepare_file, tflite_path, board, out), verify, timeout, cycles)
            log(record)
    return records


def run_shared_model(path: Path, boards: Iterable[str], work: Path, verify: bool, timeout: float,
                     log: Callable[[dict[str, Any]], None], cycles: bool = True) -> list[dict[str, Any]]:  # fmt: skip
    """Import a real .tflite and bench it on each board."""
    sizes = tflite_sizes(path.read_bytes())
    records = []
    for board in boards:
        record = _new_record(Job("shared", path.stem, "import", board)) | sizes
        records.append(record)
        _guarded(record, functools.partial(_prepare_file, path, board, work / path.stem / board), verify, timeout,
                 cycles)  # fmt: skip
        log(record)
    return records


def environment() -> dict[str, Any]:
    """What produced the figures: versions of tinygen, the compiler, QEMU; the checkout's commit."""
    import tinygen

    def first_line(cmd: list[str]) -> str | None:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else None

    # --no-optional-locks: only read the repository (plain "git status" may rewrite the index)
    dirty = first_line(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
    commit = first_line(["git", "rev-parse", "--short", "HEAD"])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "tinygen": tinygen.__version__,
        "commit": f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else None,
        "compiler": first_line(["arm-none-eabi-gcc", "--version"]),
        "qemu": first_line(["qemu-system-arm", "--version"]),
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def _int(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _x(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _f(value: float | None, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if value is not None else "-"


def _pct(value: float | None) -> str:
    return f"{100 * value:.1f}%" if value is not None else "-"


def _exact(record: dict[str, Any]) -> str:
    if record["bit_exact"] is None:
        return "not checked"
    return ("yes (" + ", ".join(record["checked_against"]) + ")") if record["bit_exact"] else "**NO**"


def table(header: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> list[str]:
    """A GitHub markdown table; columns in ``right`` are right-aligned."""
    right = set(right)
    align = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _bar_of(record: dict[str, Any]) -> Bar | None:
    return (ZOO_BAR if record["suite"] == "zoo" else SHARED_BAR).get(record["model"])


def _label(record: dict[str, Any]) -> str:
    return f"{record['model']} ({record['flow']})" if record["suite"] == "zoo" else record["model"]


def m7_tables(records: list[dict[str, Any]]) -> list[str]:
    """Speed, RAM and code, and flash constants on the M7, each with its ratio to TFLite Micro and the target."""
    ok = [r for r in records if r["board"] == M7 and r["report"] is not None]
    speed, memory, constants = [], [], []
    for record in ok:
        report, a, bar = record["report"], assess(record, _bar_of(record)), _bar_of(record)
        kinds = report.get("const_bytes") or {}
        speed.append([
            _label(record), _int(report["macs"]), _int(report["instructions_per_inference"]),
            _int(bar.instructions) if bar else "-", _x(a.get("instructions_ratio")), a.get("instructions_status", ""),
            _x(a.get("reference_kernels_ratio")), _f(a["macs_per_instruction"]), _pct(a["fraction_of_floor"]),
            _exact(record),
        ])  # fmt: skip
        memory.append([
            _label(record), _int(report["arena_bytes"]), _int(bar.arena) if bar else "-", _x(a.get("arena_ratio")),
            a.get("arena_status", ""), _int(report["stack_bytes"]), _int(a["code_bytes_deployed"]),
            _int(a.get("tflm_code_bytes")), _x(a.get("code_ratio")), a.get("code_status", ""),
        ])  # fmt: skip
        constants.append([
            _label(record), _int(a["weights_bytes"]), _int(record.get("tflite_weight_bytes")), _x(a["weights_ratio"]),
            a["weights_status"], _int(kinds.get("quant")), _int(kinds.get("table")), _int(a["quant_table_bytes"]),
            _int(record.get("tflite_quant_bytes")), _x(a["quant_table_ratio"]), a["quant_table_status"],
            _int(a["constants_bytes"]), _int(record.get("tflite_bytes")), _x(a["constants_ratio"]),
            a["constants_status"],
        ])  # fmt: skip
    out = table(
        ["model (flow)", "MACs", "instructions", "TFLM+CMSIS-NN", "ratio", "target / status", "vs TFLM ref. kernels",
         "MACs/instr", "of floor (2 MACs/instr)", "bit-exact"],
        speed, right=(1, 2, 3, 4, 6, 7, 8),
    )  # fmt: skip
    out += [""]
    out += table(
        ["model (flow)", "arena", "TFLM arena", "ratio", "target / status", "stack HWM", "code", "TFLM code",
         "ratio", "target / status"],
        memory, right=(1, 2, 3, 5, 6, 7, 8),
    )  # fmt: skip
    out += [""]
    out += table(
        ["model (flow)", "weights", ".tflite weights", "ratio", "target: weights <= .tflite", "quant. constants",
         "tables", "quant. + tables", ".tflite quant. tables", "ratio", "vs .tflite", "all constants", ".tflite file",
         "ratio", "vs .tflite"],
        constants, right=(1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13),
    )  # fmt: skip
    return out


def boards_table(records: list[dict[str, Any]], boards: list[str]) -> list[str]:
    """Instructions per inference (and MACs/instruction) for every model on every board."""
    rows: dict[str, list[str]] = {}
    for record in records:
        row = rows.setdefault(_label(record), ["-"] * len(boards))
        if record["board"] not in boards:
            continue
        report = record["report"]
        if report is None:
            row[boards.index(record["board"])] = "failed"
            continue
        count = report["instructions_per_inference"]
        mpi = report["macs"] / count if count else None
        flag = " NOT BIT-EXACT" if record["bit_exact"] is False else ""
        row[boards.index(record["board"])] = f"{_int(count)} ({_f(mpi, 2)}){flag}"
    return table(["model (flow)"] + boards, [[label] + cells for label, cells in rows.items()],
                 right=range(1, len(boards) + 1))  # fmt: skip


def layer_table(record: dict[str, Any]) -> list[str]:
    """One row per layer: MACs, instructions, MACs/instruction, fraction of the floor and of the inference."""
    total = record["report"]["instructions_per_inference"]
    estimated = record["report"].get("estimated_cycles") is not None
    rows = []
    for layer in record["report"]["layers"]:
        count, macs = layer["instructions"], layer["macs"]
        rows.append([
            str(layer["index"]), layer["op"], "x".join(map(str, layer["output_shape"])), _int(macs), _int(count),
            _f(macs / count) if count and macs else "-", _pct(macs / 2 / count) if count and macs else "-",
            _pct(count / total) if count and total else "-",
        ] + ([_int(layer.get("estimated_cycles"))] if estimated else []))  # fmt: skip
    return table(["#", "op", "output shape", "MACs", "instructions", "MACs/instr", "of floor", "of inference"]
                 + (["est. cycles"] if estimated else []), rows, right=(0, 3, 4, 5, 6, 7, 8))  # fmt: skip


def op_breakdown(records: list[dict[str, Any]]) -> list[str]:
    """Per op kind and model: share of the inference's instructions and MACs/instruction (where to optimise)."""
    runs = [r for r in records if r["board"] == M7 and r["report"] is not None]
    totals: dict[str, dict[str, tuple[int, int]]] = {}  # op -> label -> (instructions, MACs)
    for record in runs:
        for layer in record["report"]["layers"]:
            count, macs = totals.setdefault(layer["op"], {}).get(_label(record), (0, 0))
            totals[layer["op"]][_label(record)] = (count + (layer["instructions"] or 0), macs + layer["macs"])
    ops = sorted(totals)
    rows = []
    for record in runs:
        row = [_label(record)]
        for op in ops:
            count, macs = totals[op].get(_label(record), (0, 0))
            share = _pct(count / record["report"]["instructions_per_inference"]) if count else "-"
            row.append(f"{share} ({_f(macs / count, 2)})" if count and macs else share)
        rows.append(row)
    return table(["model (flow)"] + ops, rows, right=range(1, len(ops) + 1))


def cycle_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The zoo runs with a cycle estimate, each against the best published figure for its core."""
    rows = []
    for record in records:
        report = record["report"]
        if record["suite"] != "zoo" or report is None or report.get("estimated_cycles") is None:
            continue
        model = report["cycle_model"]
        published = PUBLISHED_MCYCLES.get(model["core"], {}).get(record["model"])
        mcycles = report["estimated_cycles"] / 1e6
        rows.append({
            "label": _label(record), "model": record["model"], "flow": record["flow"], "core": model["core"], "board": model["board"],
            "clock_hz": model["clock_hz"], "cycle_model": model["name"], "instructions": report["instructions_per_inference"],
            "mcycles": mcycles, "ms": report["estimated_ms"], "published": published,
            "ratio": ratio(mcycles, published), "status": _cycles_status(mcycles, published),
            "bound_mcycles": model["memory"]["all_loads_miss_extra_cycles"] / 1e6,
        })  # fmt: skip
    cores = sorted(PUBLISHED_MCYCLES)
    return sorted(rows, key=lambda r: (cores.index(r["core"]) if r["core"] in cores else len(cores),
                                       ZOO_MODELS.index(r["model"]), ZOO_FLOWS.index(r["flow"])))  # fmt: skip


def _cycles_status(mcycles: float, published: float | None) -> str:
    """"met" / "missed by N cycles (R.RRRx)" / "" (no published figure): in cycles, so a near miss shows."""
    if published is None:
        return ""
    if mcycles <= published:
        return "met"
    return f"missed by {round((mcycles - published) * 1e6):,} cycles ({mcycles / published:.3f}x)"


def cycles_section(records: list[dict[str, Any]]) -> list[str]:
    """Estimated cycles of the reference architectures on M4 and M7 against the best published figures."""
    rows = cycle_rows(records)
    if not rows:
        return []
    models = sorted({r["cycle_model"] for r in rows})
    lines = [
        "## Estimated cycles against the best published MLPerf Tiny figures (issue 17)",
        "",
        "**Estimated, never measured**: QEMU's exact block execution counts of the run above (the stand-in"
        " board) x cycles per block from a timing model of the named board's core (" + "; ".join(models) + "),"
        " with every instruction fetch and load assumed to hit the ART accelerator / L1 caches (the last column"
        " bounds what flash wait states could add if every load missed). Published: MLPerf Tiny closed division,"
        " Cortex-M4 = STM32L4R5 at 120 MHz (ST X-CUBE-AI 9.0; AD: Plumerai), Cortex-M7 = STM32H7A3 at 280 MHz"
        " (X-CUBE-AI 9.0; AD: Bosch HALE); target: estimated cycles <= published. The model's error band on the"
        " micro-benchmarks is in benchmarks/cycles_model.md (README: Estimated cycles).",
        "",
    ]
    cells = [[r["label"], f"{r['core']} ({r['board']}, {r['clock_hz'] / 1e6:g} MHz)", _int(r["instructions"]),
              f"{r['mcycles']:.3f}", f"{r['ms']:.2f}", _f(r["published"], 2), _x(r["ratio"]), r["status"] or "-",
              f"+{r['bound_mcycles']:.2f}"] for r in rows]  # fmt: skip
    lines += table(["model (flow)", "core (board estimated, clock)", "instructions", "est. Mcycles", "est. ms",
                    "best published Mcycles", "est. / published", "target <= published", "all loads miss (Mcycles)"],
                   cells, right=(2, 3, 4, 5, 6, 8))  # fmt: skip
    return lines + ["", "Every figure, met or not, is in the closing note at the end.", ""]


def core_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run on a core of CORE_BARS with a TFLite Micro figure for its model, against that figure and the
    instruction target, in CORE_BARS order (then the records' order)."""
    rows = []
    for bar in CORE_BARS:
        for record in records:
            report = record["report"]
            if record["board"] != bar.board or report is None or record["model"] not in bar.instructions:
                continue
            instructions, tflm = report["instructions_per_inference"], bar.instructions[record["model"]]
            value = ratio(instructions, tflm)
            rows.append({
                "label": _label(record), "core": bar.core, "board": bar.board, "kernels": bar.kernels,
                "instructions": instructions, "tflm_instructions": tflm, "ratio": value,
                "status": target_status(value, INSTRUCTION_TARGET), "arena": report["arena_bytes"],
                "tflm_arena": bar.arena.get(record["model"]), "arena_ratio": ratio(report["arena_bytes"], bar.arena.get(record["model"])),
                "bit_exact": record["bit_exact"],
            })  # fmt: skip
    return rows


def cores_section(records: list[dict[str, Any]]) -> list[str]:
    """Instructions on each core against TFLite Micro + CMSIS-NN built for that core (issue 17, item 4)."""
    rows = core_rows(records)
    if not rows:
        return []
    lines = [
        "## Each core against TFLite Micro built for that core",
        "",
        f"TFLite Micro + CMSIS-NN compiled for each core ({CORE_TFLM_PROVENANCE}); on the Cortex-M55 with CMSIS-NN's"
        f" own MVE (Helium) kernels, against tinygen's Helium kernels. Target: instructions <= {INSTRUCTION_TARGET}x"
        " TFLM+CMSIS-NN on every core. The Cortex-M4 stand-in has no TFLM figures of its own (they are within 1 % of"
        " the M7's, issue 17).",
        "",
    ]
    cells = [[r["label"], f"{r['core']} ({r['board']})", r["kernels"], _int(r["instructions"]), _int(r["tflm_instructions"]),
              _x(r["ratio"]), r["status"], _int(r["arena"]), _int(r["tflm_arena"]), _x(r["arena_ratio"]),
              "yes" if r["bit_exact"] else "not checked" if r["bit_exact"] is None else "NO"] for r in rows]  # fmt: skip
    lines += table(["model (flow)", "core (stand-in)", "TFLM kernels", "instructions", "TFLM+CMSIS-NN", "ratio",
                    f"target <= {INSTRUCTION_TARGET}x", "arena", "TFLM arena", "ratio", "bit-exact"],
                   cells, right=(3, 4, 5, 7, 8, 9))  # fmt: skip
    return lines + [""]


def _note(title: str, rows: list[dict[str, Any]], summary: Callable[[int, int], str],
          item: Callable[[dict[str, Any]], str]) -> list[str]:
    """A closing-note section: its title, a summary of how many rows met their target, one list item per row
    (nothing without rows)."""
    if not rows:
        return []
    met = sum(r["status"] == "met" for r in rows)
    return [f"## {title}", "", summary(met, len(rows)), ""] + [f"- {item(r)}" for r in rows] + [""]


def cores_note(records: list[dict[str, Any]]) -> list[str]:
    """Every per-core instruction figure against TFLite Micro for that core, met or not."""
    return _note(
        "Closing note: instructions against TFLite Micro on each core", core_rows(records),
        lambda met, total: f"{met} of {total} runs at or below {INSTRUCTION_TARGET}x the instructions of TFLite Micro"
        " + CMSIS-NN built for the same core:",
        lambda r: f"{r['label']} on {r['core']} ({r['board']}): {_int(r['instructions'])} instructions vs"
        f" {_int(r['tflm_instructions'])} ({_x(r['ratio'])}): {r['status']}",
    )  # fmt: skip


def closing_note(records: list[dict[str, Any]]) -> list[str]:
    """Every estimated-cycle figure against its published figure, met or not."""
    return _note(
        "Closing note: estimated cycles against the best published figures", cycle_rows(records),
        lambda met, total: f"{met} of {total} estimated figures at or below the best published Mcycles (estimates,"
        " not measurements; see the estimated-cycles section for the model and its assumptions):",
        lambda r: f"{r['label']} on {r['core']}: {r['mcycles']:.3f} estimated Mcycles vs {_f(r['published'], 2)}"
        f" published ({_x(r['ratio'])}): {r['status'] or 'no published figure'}",
    )  # fmt: skip


def targets_summary(records: list[dict[str, Any]]) -> list[str]:
    """One line per M7 zoo run: each target met, or the remaining ratio."""
    lines = []
    for record in records:
        if record["suite"] != "zoo" or record["board"] != M7:
            continue
        if record["report"] is None:
            lines.append(f"- {_label(record)}: no measurement ({one_line(record['error'])})")
            continue
        a = assess(record, _bar_of(record))
        parts = [
            f"instructions {_x(a['instructions_ratio'])} of TFLM ({a['instructions_status']})",
            f"arena {_x(a['arena_ratio'])} ({a['arena_status']})",
            f"code {_x(a['code_ratio'])} ({a['code_status']})",
            f"weights {_x(a['weights_ratio'])} of the .tflite weight buffers ({a['weights_status']})",
            f"quantization constants + tables {_x(a['quant_table_ratio'])} of the .tflite quantization tables"
            f" ({a['quant_table_status']})",
            f"all constants {_x(a['constants_ratio'])} of the .tflite file ({a['constants_status']})",
        ]
        if not record["bit_exact"]:
            parts.append("bit-exact: " + ("not checked" if record["bit_exact"] is None else "NO"))
        lines.append(f"- {_label(record)}: " + "; ".join(parts))
    return lines


def one_line(text: str, limit: int = 400) -> str:
    """A multi-line error (e.g. compiler output) as one markdown list line: the first lines, truncated."""
    joined = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."


def render_markdown(results: dict[str, Any]) -> str:
    env, records, boards = results["environment"], results["records"], results["boards"]
    zoo = [r for r in records if r["suite"] == "zoo"]
    shared = [r for r in records if r["suite"] == "shared"]
    lines = [
        "# MLPerf Tiny benchmark results",
        "",
        "Generated by `python benchmarks/mlperf_tiny.py` (see README.md): do not edit by hand.",
        "",
        f"- date: {env.get('date')}; tinygen {env.get('tinygen')} at {env.get('commit')}",
        f"- compiler: {env.get('compiler')}; emulator: {env.get('qemu')}",
        f"- command: `{results.get('command', '')}`",
        "- instructions: executed per inference in QEMU, counted exactly by tinygen's TCG plugin (not cycles);"
        f" floor = MACs / {FLOOR_MACS_PER_INSTRUCTION:g} instructions (SMLAD does two MACs)",
        "- TFLM figures: TFLite Micro + CMSIS-NN, -O2, arm-none-eabi-gcc 12.2, -mcpu=cortex-m7, QEMU mps2-an500,"
        " same architectures with random weights converted by TensorFlow; TFLM code = its firmware .text"
        " minus the whole .tflite flatbuffer; tinygen code = firmware flash minus all constants minus the"
        " benchmark's embedded input vector",
        "- flash constants, like with like: tinygen's weights (int8 weights, int32 biases with the input offset"
        " folded in, constant tensors) vs the .tflite weight buffers (weights, biases, shape constants);"
        " tinygen's requantization constants (multipliers, shifts) + lookup tables vs the .tflite quantization"
        " tables (float32 scales + int64 zero points: 12 bytes per channel, from which TFLM computes its"
        " constants into its arena at start-up); all of tinygen's constants vs the whole .tflite file (what TFLM's code"
        " figure has subtracted, so both code figures exclude all constants)",
        "- flows: `tinygen` = tinygen's quantizer on the Keras model; `tflite` = TensorFlow's converter, then"
        " tinygen's .tflite importer",
        "",
    ]
    methods = sorted({r["report"]["method"] for r in records if r["report"] is not None})
    if methods and methods != ["plugin"]:
        lines += [f"**Warning**: counting methods used: {', '.join(methods)} (not all exact plugin counts).", ""]
    if zoo:
        lines += ["## MLPerf Tiny reference architectures on Cortex-M7 (mps2_an500) vs TFLite Micro", ""]
        lines += ["### Targets", ""]
        lines += [
            f"Targets: instructions <= {INSTRUCTION_TARGET}x TFLM+CMSIS-NN; arena <= 0.6x TFLM (0.8x for IC);"
            f" code <= {CODE_TARGET}x TFLM's code; weights <= the .tflite weight buffers. The other constants are"
            " figures, not targets: quantization constants + tables against the .tflite quantization tables,"
            " all constants against the .tflite file.",
            "",
        ]
        lines += targets_summary(zoo) + [""]
        lines += ["### Speed, memory and flash", ""] + m7_tables(zoo) + [""]
        lines += ["### Every board: instructions per inference (MACs/instruction)", ""] + boards_table(zoo, boards) + [""]
        lines += cycles_section(zoo)
    lines += cores_section(records)
    if shared:
        lines += ["## Real trained models (shared/models) on Cortex-M7 vs TFLite Micro", ""]
        lines += ["No explicit targets: the ratio to TFLite Micro + CMSIS-NN's figures (README.md there).", ""]
        lines += m7_tables(shared) + [""]
        lines += ["### Every board: instructions per inference (MACs/instruction)", ""] + boards_table(shared, boards) + [""]
    if any(r["board"] == M7 and r["report"] is not None for r in records):
        lines += ["## Where the instructions go on Cortex-M7: share of the inference per op (MACs/instruction)", ""]
        lines += op_breakdown(records) + [""]
    failures = [r for r in records if r["error"]]
    if failures:
        lines += ["## Failures", ""]
        lines += [f"- {_label(r)} on {r['board']}: {one_line(r['error'])}" for r in failures] + [""]
    per_layer = [r for r in records if r["board"] == M7 and r["report"] is not None]
    if per_layer:
        lines += ["## Per-layer instructions on Cortex-M7 (mps2_an500)", ""]
        lines += ["A layer's count includes its profiling hook (a few instructions). est. cycles: estimated (not"
                  f" measured) for the Cortex-M7 of {CYCLE_BOARDS[M7]}, as in the estimated-cycles section.", ""]
        for record in per_layer:
            lines += [f"### {_label(record)}", ""] + layer_table(record) + [""]
    lines += closing_note(records)
    lines += cores_note(records)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--boards", nargs="+", default=list(DEFAULT_BOARDS), help="board ids (default: %(default)s)")
    parser.add_argument("--models", nargs="+", default=None,
                        help=f"zoo models ({', '.join(ZOO_MODELS)}) and/or shared model file stems "
                             f"(default: all zoo models and {', '.join(SHARED_DEFAULT)})")  # fmt: skip
    parser.add_argument("--flows", nargs="+", default=list(ZOO_FLOWS), choices=ZOO_FLOWS,
                        help="quantization flows for the zoo models (default: both)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help=f"only the Cortex-M7 board ({M7})")
    parser.add_argument("--no-verify", action="store_true", help="skip the bit-exactness check of each run")
    parser.add_argument("--no-cycles", action="store_true",
                        help=f"skip the cycle estimates (made on {', '.join(CYCLE_BOARDS)} for {', '.join(CYCLE_BOARDS.values())})")
    parser.add_argument("--out", type=Path, default=HERE, help="where RESULTS.md and results.json go")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep generated libraries and firmware here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per QEMU run")
    args = parser.parse_args(argv)
    if args.quick:
        args.boards = [M7]
    args.command = "python benchmarks/mlperf_tiny.py " + " ".join(sys.argv[1:] if argv is None else argv)
    return args


def select_models(names: list[str] | None, shared_dir: Path) -> tuple[list[str], list[Path]]:
    """Zoo names and shared model paths to run; unknown names are an error naming the choices."""
    shared_available = sorted(p.stem for p in shared_dir.glob("*.tflite")) if shared_dir.is_dir() else []
    if names is None:
        return list(ZOO_MODELS), [shared_dir / f"{n}.tflite" for n in SHARED_DEFAULT if n in shared_available]
    zoo, shared = [], []
    for name in names:
        if name in ZOO_MODELS:
            zoo.append(name)
        elif name in shared_available:
            shared.append(shared_dir / f"{name}.tflite")
        else:
            raise SystemExit(f"error: unknown model {name!r}; choose from the zoo ({', '.join(ZOO_MODELS)}) or "
                             f"{shared_dir} ({', '.join(shared_available) or 'folder absent'})")  # fmt: skip
    return zoo, shared


def log_record(record: dict[str, Any]) -> None:
    report = record["report"]
    what = f"{_label(record):40s} {record['board']:12s}"
    if report is None:
        print(f"{what} FAILED: {one_line(record['error'])}", flush=True)
        return
    exact = {True: "bit-exact", False: "NOT BIT-EXACT", None: "unchecked"}[record["bit_exact"]]
    error = f"  FAILED: {one_line(record['error'])}" if record["error"] else ""
    print(f"{what} {_int(report['instructions_per_inference']):>12s} instr  arena {_int(report['arena_bytes']):>8s}"
          f"  {exact}  ({record['seconds']} s){error}", flush=True)  # fmt: skip


def run(args: argparse.Namespace, shared_dir: Path = SHARED_MODELS) -> dict[str, Any]:
    from tinygen.boards import get_board

    for board in args.boards:
        get_board(board)  # an unknown board fails before any conversion
    zoo, shared = select_models(args.models, shared_dir)
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tinygen-mlperf-") as tmp:
        work = args.work_dir or Path(tmp)
        verify = not args.no_verify
        for name in zoo:
            records += run_zoo_model(name, args.boards, args.flows, work / "zoo", verify, args.timeout, log_record,
                                     not args.no_cycles)  # fmt: skip
        for path in shared:
            records += run_shared_model(path, args.boards, work / "shared", verify, args.timeout, log_record,
                                        not args.no_cycles)  # fmt: skip
    for record in records:
        record["assessment"] = assess(record, _bar_of(record))
    return {
        "environment": environment(),
        "command": args.command.strip(),
        "boards": list(args.boards),
        "bar": {"zoo": {k: asdict(v) for k, v in ZOO_BAR.items()}, "shared": {k: asdict(v) for k, v in SHARED_BAR.items()},
                "cores": {"provenance": CORE_TFLM_PROVENANCE, "bars": [asdict(bar) for bar in CORE_BARS]}},
        "records": records,
    }


def write_results(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    (out / "RESULTS.md").write_text(render_markdown(results))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    from tinygen.errors import TinygenError

    try:
        results = run(args)
    except TinygenError as exc:  # e.g. an unknown board: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_results(results, args.out)
    print(f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results.json'}")
    failed = [r for r in results["records"] if r["error"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
