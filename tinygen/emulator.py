"""Run firmware in qemu-system-arm and read back what it printed and how many instructions it ran.

Instruction counts are exact: a small TCG plugin (``firmware/qemu_plugin/tg_count.c``, built with
the host C compiler at first use and cached) records the guest instruction count every time the
firmware's ``tg_mark()`` executes. The firmware calls ``tg_mark()`` before each inference and
after each layer, so differences between marks are instructions per layer and per inference.
Where plugins are unavailable, ``-icount`` makes SysTick count instructions (128 ns each) and the
firmware's ``TG-TIME`` ticks give instructions per inference, to within one instruction.
With ``blocks=True`` the same plugin also records how often each translated block ran between
marks (:class:`BlockProfile`, for the cycle estimator ``tinygen.cycles``); the counts are unchanged.

A guest that hangs is stopped at the timeout; a guest that reaches a fault handler (from the
ELF's vector table) or prints ``TG-FAULT`` is reported as a crash, never as a pass.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tinygen.errors import TinygenError, ToolMissingError
from tinygen.resources import resource_dir

#: QEMU 7.2 exit status the plugin uses when it ends a guest spinning in a fault handler.
PLUGIN_FAULT_EXIT = 125
#: ``-icount`` shift: every instruction advances virtual time by 2**7 ns.
ICOUNT_SHIFT = 7
ICOUNT_ARGS = ["-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off"]
PLUGIN_CFLAGS = "-shared -fPIC -O2 -std=gnu11"


@dataclass(frozen=True)
class Machine:
    name: str
    cpu: str
    #: SysTick/CPU clock of QEMU's model, to turn icount ticks into instructions
    clock_hz: int
    #: where the core fetches its vector table at reset (VTOR, Secure VTOR on TrustZone machines)
    vector_table: int


MACHINES: dict[str, Machine] = {
    m.name: m
    for m in (
        Machine("mps2-an385", "cortex-m3", 25_000_000, 0x00000000),
        Machine("mps2-an386", "cortex-m4", 25_000_000, 0x00000000),
        Machine("mps2-an500", "cortex-m7", 25_000_000, 0x00000000),
        Machine("mps2-an505", "cortex-m33", 20_000_000, 0x10000000),
        Machine("mps3-an547", "cortex-m55", 32_000_000, 0x10000000),
        # STM32F405: flash at 0x08000000 (aliased at 0, where the core boots), console on USART1
        Machine("netduinoplus2", "cortex-m4", 168_000_000, 0x08000000),
    )
}

#: Vector table entries that are faults: HardFault, MemManage, BusFault, UsageFault, SecureFault.
FAULT_VECTORS = (3, 4, 5, 6, 7)


@dataclass(frozen=True)
class Block:
    """A block as QEMU translated it: ``size`` bytes, ``insns`` instructions from ``address``."""

    address: int
    insns: int
    size: int


@dataclass
class Interval:
    """What ran between two tg_mark() calls: block id -> (executions, fall-throughs), a fall-through
    being an execution whose final branch was not taken (the next block started right after it)."""

    counts: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class BlockProfile:
    """The plugin's block profile: interval 0 runs from reset to the first tg_mark(), interval k from
    mark k to mark k+1, the last one to the end."""

    blocks: dict[int, Block]
    intervals: list[Interval]
    #: what the plugin could not record (the profile is then incomplete)
    error: str = ""


@dataclass
class Result:
    """Everything one firmware run produced. ``status`` is ok | failed | crash | timeout."""

    machine: str
    status: str
    exit_code: int | None
    #: how instructions were counted: "plugin" (exact), "icount" (TG-TIME ticks, ±1) or "none"
    method: str
    model: str | None = None
    num_vectors: int | None = None
    #: TG-END status printed by the firmware
    end_status: int | None = None
    outputs: dict[int, bytes] = field(default_factory=dict)
    #: vector -> layer -> bytes (TG-TENSOR dumps)
    tensors: dict[int, dict[int | str, bytes]] = field(default_factory=dict)
    #: vector -> ticks (TG-TIME)
    times: dict[int, int] = field(default_factory=dict)
    stack_bytes: int | None = None
    #: TG-CHECKSUM: CRC-32 of every output byte, checked against the TG-OUT lines
    checksum: int | None = None
    #: instruction count at each execution of tg_mark() (plugin only)
    marks: list[int] = field(default_factory=list)
    total_instructions: int | None = None
    #: per vector: instructions of one inference
    inference_instructions: list[int] = field(default_factory=list)
    #: per vector, per layer: instructions (plugin only)
    layer_instructions: list[list[int]] = field(default_factory=list)
    #: block executions per interval (``run_firmware(blocks=True)`` with the plugin only)
    block_profile: BlockProfile | None = None
    #: what went wrong, for a status other than ok
    problem: str = ""
    console: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def check(self) -> "Result":
        """Raise a TinygenError explaining the failure unless the run was ok."""
        if not self.ok:
            raise TinygenError(f"firmware on {self.machine}: {self.status}: {self.problem}")
        return self


def machine_info(machine: str) -> Machine:
    if machine not in MACHINES:
        raise TinygenError(
            f"QEMU machine {machine!r} is not supported; use one of {', '.join(sorted(MACHINES))}"
        )
    return MACHINES[machine]


def find_qemu() -> str:
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        raise ToolMissingError(
            "qemu-system-arm is not installed; install it with 'apt-get install qemu-system-arm' "
            "(or run scripts/setup.sh)"
        )
    return qemu


# ---------------------------------------------------------------------------------------------
# The plugin: built once per source/compiler and cached.


def _cache_root() -> Path:
    if os.environ.get("TINYGEN_CACHE"):
        return Path(os.environ["TINYGEN_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinygen"


def plugin_source() -> Path:
    return resource_dir("firmware") / "qemu_plugin" / "tg_count.c"


def build_plugin() -> Path | None:
    """The counting plugin's shared library, compiled on first use; None without a C compiler."""
    source = plugin_source()
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None or not source.is_file():
        return None
    text = source.read_bytes()
    key = hashlib.sha256(text + compiler.encode() + PLUGIN_CFLAGS.encode()).hexdigest()[:16]
    target = _cache_root() / "qemu_plugin" / key / "tg_count.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: concurrent builders never see a half-written library.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    cmd = [*shlex.split(compiler), *PLUGIN_CFLAGS.split(), "-o", tmp, str(source)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        os.unlink(tmp)
        return None
    if proc.returncode != 0:
        os.unlink(tmp)
        return None
    os.replace(tmp, target)
    return target


# ---------------------------------------------------------------------------------------------
# The ELF: tg_mark's address and the fault handlers'.


@dataclass(frozen=True)
class ElfInfo:
    mark: int | None
    faults: tuple[int, ...]


def read_elf(elf: Path, machine: Machine) -> ElfInfo:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with open(elf, "rb") as handle:
            image = ELFFile(handle)
            if image["e_machine"] != "EM_ARM":
                raise TinygenError(f"{elf}: not an Arm ELF ({image['e_machine']}); build the firmware for Cortex-M")
            mark = None
            symtab = image.get_section_by_name(".symtab")
            if symtab is not None:
                for sym in symtab.get_symbol_by_name("tg_mark") or []:
                    mark = int(sym["st_value"]) & ~1
            if not _loads_address(image, machine.vector_table):
                raise TinygenError(
                    f"{elf}: nothing is loaded at {machine.vector_table:#010x}, where {machine.name} reads its "
                    f"vector table; build the firmware for the board that {machine.name} stands in for"
                )
            faults = _fault_handlers(image, machine.vector_table)
    except (ELFError, OSError) as exc:
        raise TinygenError(f"{elf}: cannot read the firmware ELF ({exc}); rebuild it") from exc
    return ElfInfo(mark, faults)


def _loads_address(image: object, address: int) -> bool:
    for segment in image.iter_segments():  # type: ignore[attr-defined]
        if segment["p_type"] == "PT_LOAD" and segment["p_paddr"] <= address < segment["p_paddr"] + segment["p_filesz"]:
            return True
    return False


def _fault_handlers(image: object, vtor: int) -> tuple[int, ...]:
    """Fault handler addresses from the vector table in the ELF's loaded segments."""
    handlers: list[int] = []
    for segment in image.iter_segments():  # type: ignore[attr-defined]
        if segment["p_type"] != "PT_LOAD":
            continue
        start, size = int(segment["p_paddr"]), int(segment["p_filesz"])
        if not start <= vtor < start + size:
            continue
        data = segment.data()
        for index in FAULT_VECTORS:
            offset = vtor - start + 4 * index
            if offset + 4 <= size:
                address = int.from_bytes(data[offset : offset + 4], "little") & ~1
                if address and address not in handlers:
                    handlers.append(address)
    return tuple(handlers[:8])


# ---------------------------------------------------------------------------------------------
# Running QEMU.


def qemu_command(elf: Path, machine: str, plugin_args: str | None, icount: bool) -> list[str]:
    cmd = [
        find_qemu(),
        "-M", machine,
        "-display", "none",
        "-monitor", "none",
        # UART and semihosting share stdout; QEMU's own messages stay on stderr.
        "-chardev", "stdio,mux=on,id=con",
        "-serial", "chardev:con",
        "-semihosting-config", "enable=on,target=native,chardev=con",
        "-kernel", str(elf),
    ]  # fmt: skip
    if plugin_args is not None:
        cmd += ["-plugin", plugin_args]
    if icount:
        cmd += ICOUNT_ARGS
    return cmd


def run_firmware(
    elf: str | Path,
    machine: str,
    timeout: float = 60.0,
    count_instructions: bool = True,
    *,
    num_layers: int | None = None,
    method: str = "auto",
    icount: bool | None = None,
    blocks: bool = False,
) -> Result:
    """Run ``elf`` on QEMU ``machine`` and parse its console.

    ``method``: "auto" (the plugin where it works, else icount), "plugin" or "icount";
    ``count_instructions=False`` runs without either. ``num_layers`` (the model's layer count)
    checks the number of marks; without it the layer count is inferred from marks / vectors.
    ``icount`` (default on whenever instructions are counted) runs QEMU with ``-icount``: virtual
    time then follows the instruction count, so timer interrupts (the firmware's SysTick wraps) land
    at the same instruction in every run and the counts are repeatable to the instruction.
    ``blocks``: also record the block profile (``Result.block_profile``; only with the plugin, None
    when the run fell back to icount).
    """
    if method not in ("auto", "plugin", "icount"):
        raise ValueError(f"unknown counting method {method!r}")
    elf = Path(elf)
    info = machine_info(machine)
    if not elf.is_file():
        raise TinygenError(f"{elf}: firmware ELF not found; build it first")
    elf_info = read_elf(elf, info)
    if not count_instructions:
        method = "none"
    with tempfile.TemporaryDirectory(prefix="tinygen-qemu-") as tmp:
        if method in ("auto", "plugin"):
            plugin = build_plugin()
            problem = _plugin_problem(plugin, elf_info)
            if problem is None:
                assert plugin is not None and elf_info.mark is not None
                counts_file, blocks_file = Path(tmp) / "counts.txt", Path(tmp) / "blocks.txt"
                plugin_args = f"{plugin},out={counts_file},mark={elf_info.mark:#x}"
                plugin_args += "".join(f",fault={a:#x}" for a in elf_info.faults)
                plugin_args += f",blocks={blocks_file}" if blocks else ""
                result = _run(elf, info, plugin_args, icount is not False, timeout, counts_file)
                if result is not None:
                    if blocks and result.ok and blocks_file.is_file():
                        result.block_profile = parse_block_profile(blocks_file.read_text())
                    return _finish(result, num_layers)
                problem = "this qemu-system-arm refuses TCG plugins"
            if method == "plugin":
                raise ToolMissingError(f"cannot count instructions with the QEMU plugin: {problem}")
            method = "icount"
        result = _run(elf, info, None, method == "icount" if icount is None else icount, timeout, None)
        assert result is not None
        result.method = method
        return _finish(result, num_layers)


def _plugin_problem(plugin: Path | None, elf_info: ElfInfo) -> str | None:
    if plugin is None:
        return f"no C compiler could build {plugin_source()} (install gcc)"
    if elf_info.mark is None:
        return "the ELF has no tg_mark symbol (build it with tinygen's firmware app)"
    return None


def _run(
    elf: Path, info: Machine, plugin_args: str | None, icount: bool, timeout: float, counts_file: Path | None
) -> Result | None:
    """One QEMU run; None when QEMU refused the plugin (the caller falls back to icount)."""
    cmd = qemu_command(elf, info.name, plugin_args, icount)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        # SIGTERM lets QEMU exit normally, so the plugin still writes the counts so far.
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    stderr = err.decode("utf-8", "replace")
    if plugin_args is not None and "plugin" in stderr.lower() and proc.returncode != 0 and not out:
        return None
    result = Result(
        machine=info.name,
        status="ok",
        exit_code=None if timed_out else proc.returncode,
        method="plugin" if plugin_args is not None else "none",
        stderr=stderr,
    )
    fault_at = _parse_console(result, out.decode("utf-8", "replace"))
    if counts_file is not None and counts_file.is_file():
        plugin_fault = _parse_counts(result, counts_file.read_text())
        fault_at = "; ".join(f for f in (plugin_fault, fault_at) if f)
    _classify(result, timed_out, timeout, fault_at)
    return result


def _parse_console(result: Result, text: str) -> str:
    """Fill ``result`` from the TG- lines; return a fault description if the firmware printed one."""
    fault = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("TG-"):
            continue
        result.console.append(line)
        tag, _, rest = line.partition(" ")
        parts = rest.split()
        try:
            if tag == "TG-BEGIN" and len(parts) == 2:
                result.model, result.num_vectors = parts[0], int(parts[1])
            elif tag == "TG-OUT" and len(parts) == 2:
                result.outputs[int(parts[0])] = bytes.fromhex(parts[1])
            elif tag == "TG-TENSOR" and len(parts) == 3:
                layer: int | str = int(parts[1]) if parts[1].isdigit() else parts[1]
                result.tensors.setdefault(int(parts[0]), {})[layer] = bytes.fromhex(parts[2])
            elif tag == "TG-TIME" and len(parts) == 2:
                result.times[int(parts[0])] = int(parts[1])
            elif tag == "TG-CHECKSUM" and len(parts) == 1:
                result.checksum = int(parts[0], 16)
            elif tag == "TG-STACK" and len(parts) == 1:
                result.stack_bytes = int(parts[0])
            elif tag == "TG-END" and len(parts) == 1:
                result.end_status = int(parts[0])
            elif tag == "TG-FAULT":
                fault = fault or f"the firmware reported a fault: {rest}"
        except ValueError:
            result.problem = result.problem or f"malformed console line {line[:80]!r}"
    return fault


def _parse_counts(result: Result, text: str) -> str:
    fault = ""
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["mark"]:
            result.marks.append(int(parts[1]))
        elif parts[:1] == ["total"]:
            result.total_instructions = int(parts[1])
        elif parts[:1] == ["fault"]:
            fault = f"hard fault: the guest entered the fault handler at {parts[2]} after {parts[1]} instructions"
    return fault


def parse_block_profile(text: str) -> BlockProfile:
    """The plugin's block-profile file (format: firmware/qemu_plugin/tg_count.c)."""
    profile = BlockProfile({}, [])
    for line in text.splitlines():
        parts = line.split()
        if parts[0] == "block":
            profile.blocks[int(parts[1])] = Block(int(parts[2], 16), int(parts[3]), int(parts[4]))
        elif parts[0] == "interval":
            profile.intervals.append(Interval())
        elif parts[0] == "error":
            profile.error = " ".join(parts[1:])
        else:
            profile.intervals[-1].counts[int(parts[0])] = (int(parts[1]), int(parts[2]))
    return profile


def _classify(result: Result, timed_out: bool, timeout: float, fault: str) -> None:
    qemu_fatal = next((l for l in result.stderr.splitlines() if "fatal" in l.lower() or "lockup" in l.lower()), "")
    if fault or qemu_fatal or result.exit_code == PLUGIN_FAULT_EXIT:
        result.status, result.problem = "crash", fault or qemu_fatal or "the guest crashed"
    elif timed_out:
        result.status = "timeout"
        where = "after TG-END (the firmware must exit via semihosting)" if result.end_status is not None else ""
        result.problem = f"the guest did not finish within {timeout:g} s {where}".strip()
    elif result.end_status is None:
        result.status = "crash"
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.exit_code}"]
        result.problem = f"the firmware stopped without printing TG-END ({detail[0]})"
    elif result.end_status != 0 or result.exit_code != 0:
        result.status = "failed"
        result.problem = f"the firmware ended with TG-END {result.end_status}, exit status {result.exit_code}"
    elif result.problem:
        result.status = "failed"
    elif result.checksum is not None and result.checksum != _crc(result.outputs):
        result.status = "failed"
        result.problem = "the TG-OUT lines do not match the firmware's TG-CHECKSUM: the console output is corrupted"


def _crc(outputs: dict[int, bytes]) -> int:
    return zlib.crc32(b"".join(outputs[v] for v in sorted(outputs)))


def _finish(result: Result, num_layers: int | None) -> Result:
    """Turn marks (or TG-TIME ticks) into instructions per inference and per layer."""
    vectors = result.num_vectors or 0
    if result.method == "plugin" and vectors and result.ok:
        per_vector, rest = divmod(len(result.marks), vectors)
        expected = num_layers + 1 if num_layers is not None else per_vector
        if rest or per_vector != expected or per_vector < 2:
            result.status = "failed"
            result.problem = (
                f"tg_mark() ran {len(result.marks)} times for {vectors} vectors; expected "
                f"{vectors} x (layers + 1) = {vectors * expected}"
            )
            return result
        for v in range(vectors):
            marks = result.marks[v * per_vector : (v + 1) * per_vector]
            result.layer_instructions.append([b - a for a, b in zip(marks, marks[1:])])
            result.inference_instructions.append(marks[-1] - marks[0])
    elif result.method == "icount" and result.times:
        ticks_per_instruction = MACHINES[result.machine].clock_hz * (2**ICOUNT_SHIFT) / 1e9
        result.inference_instructions = [
            round(result.times[v] / ticks_per_instruction) for v in sorted(result.times)
        ]
    return result
