"""The non-MAC kernels (pooling, mean, add, mul, softmax, concatenation, pad, relu, relu6, quantize,
dequantize, reshape) and their lowerings, bit for bit.

* Against tinygen.reference: each test draws batches of random single-op graphs (hypothesis, both
  rounding modes), lowers every op with its module's lowering (tinygen.ops) through a stand-in
  LoweringContext, writes one C driver calling all the kernels, compiles it (gcc and clang -O2
  -Werror -pedantic; gcc with ASan/UBSan), runs it and compares every output byte.
* The DSP paths (__ARM_FEATURE_DSP) are built with arm-none-eabi-gcc -Werror for Cortex-M4 and M7
  and run in QEMU (mps2-an386 / mps2-an500) on the same kinds of cases and on saturated inputs.
* Against TFLite Micro itself: every op of this module in TensorFlow-converted models, fed the
  interpreter's own input tensors.
* Through whole libraries emitted by tinygen.codegen (int8 and float32 I/O, both roundings).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from tinygen import reference
from tinygen.errors import TinygenError
from tinygen.ir import ACTIVATIONS, Graph, Op, Quantization, Tensor, conv_output_size
from tinygen.lowering.base import KernelCall
from tinygen import ops

REPO = Path(__file__).resolve().parent.parent
KERNELS = REPO / "templates" / "kernels"
WARN = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
HOST_BUILDS = {
    "gcc-O2": ["gcc", "-O2", *WARN],
    "clang-O2": ["clang", "-O2", *WARN],
    "gcc-asan-ubsan": ["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                       "-fno-omit-frame-pointer", *WARN],
}
def lower(ctx: object, op: Op) -> KernelCall:
    """The op's portable/DSP lowering, as the code generator picks it (its module's first that applies)."""
    for lowering in ops.get(op.kind).lowerings:
        call = lowering(ctx, op)  # type: ignore[arg-type]
        if call is not None:
            return call
    raise AssertionError(f"no lowering of {op.kind} applies")


LOWERED = ("max_pool2d", "avg_pool2d", "mean", "add", "mul", "softmax", "concatenation", "pad", "relu", "relu6",
           "quantize", "dequantize", "reshape")
IN_PLACE = ("add", "mul", "relu", "relu6")  # the planner may write these over a dying input

# --------------------------------------------------------------------------- a single-op case


@dataclass
class Case:
    graph: Graph
    inputs: list[np.ndarray]
    #: write the output over the first input of the same size (what the planner does for IN_PLACE)
    in_place: bool = False


@dataclass
class Driver:
    """Stand-in LoweringContext: every tensor is a static C array of the driver program."""

    graph: Graph
    prefix: str
    rounding: str = "double"
    aliases: dict[str, str] = field(default_factory=dict)
    decls: list[str] = field(default_factory=list)

    def symbol(self, name: str) -> str:
        name = self.aliases.get(name, name)
        return self.prefix + "".join(c if c.isalnum() else "_" for c in name)

    def tensor_ptr(self, name: str) -> str:
        t = self.graph.tensor(name)
        return f"(const int8_t *){self.symbol(name)}" if t.is_const else f"(int8_t *){self.symbol(name)}"

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: object) -> str:
        sym = f"{self.prefix}c{len(self.decls)}_{hint}"
        self.decls.append(f"static const {ctype} {sym}[] = {{{', '.join(str(int(v)) for v in values.reshape(-1))}}};")
        return sym

    def scratch_ptr(self) -> str:
        raise AssertionError("these kernels need no scratch")


def _c_values(t: Tensor, values: np.ndarray) -> str:
    flat = values.reshape(-1)
    if t.dtype == "float32":
        return ", ".join(f"{float(v).hex()}f" if np.isfinite(v) else ("-" if v < 0 else "") + "1e39f" for v in flat)
    return ", ".join(str(int(v)) for v in flat)


_CTYPE = {"int8": "int8_t", "float32": "float", "int32": "int32_t"}


def _case_source(index: int, case: Case, rounding: str) -> tuple[str, str, list[str], list[tuple[str, int]]]:
    """(declarations, call, kernels, [(output symbol, bytes)]) of one case."""
    graph = case.graph
    op = graph.ops[0]
    drv = Driver(graph, prefix=f"k{index}_", rounding=rounding)
    out = graph.tensor(op.outputs[0])
    if case.in_place:
        source = next(n for n in op.inputs if graph.tensor(n).size == out.size and not graph.tensor(n).is_const)
        drv.aliases[out.name] = source
    call = lower(drv, op)
    decls = []
    for name, value in zip(graph.inputs, case.inputs):
        t = graph.tensor(name)
        decls.append(f"static {_CTYPE[t.dtype]} {drv.symbol(name)}[] = {{{_c_values(t, value)}}};")
    for name, t in graph.tensors.items():
        if t.is_const:
            decls.append(f"static const {_CTYPE[t.dtype]} {drv.symbol(name)}[] = {{{_c_values(t, t.data)}}};")
    if not case.in_place:
        decls.append(f"static {_CTYPE[out.dtype]} {drv.symbol(out.name)}[{max(out.size, 1)}];")
    decls.extend(drv.decls)
    text = f"    /* {call.comment} */\n    {call.kernel}({', '.join(call.args)});\n"
    return "\n".join(decls), text, [call.kernel, *call.extra_kernels], [(drv.symbol(out.name), out.nbytes)]


def _program(cases: list[Case], target: str, rounding: str) -> tuple[str, list[str], list[int]]:
    decls, calls, kernels, outputs = [], [], [], []
    for i, case in enumerate(cases):
        d, c, k, o = _case_source(i, case, rounding)
        decls.append(d)
        calls.append(c)
        kernels.extend(k)
        outputs.extend(o)
    kernels = sorted(set(kernels))
    includes = "\n".join(f'#include "{k}.h"' for k in kernels)
    dumps = "\n".join(f"    tg_dump((const unsigned char *){sym}, {n});" for sym, n in outputs)
    if target == "host":
        io = """#include <stdio.h>
static void tg_dump(const unsigned char *p, int n)
{
    int i;
    for (i = 0; i < n; ++i) printf("%02x", p[i]);
    printf("\\n");
}
"""
    else:
        io = _ARM_IO
    source = f"""#include <stdint.h>
{includes}
{io}
{chr(10).join(decls)}

int main(void)
{{
{''.join(calls)}
{dumps}
    return 0;
}}
"""
    return source, kernels, [n for _, n in outputs]


# --------------------------------------------------------------------------- bare-metal harness for QEMU

_ARM_IO = r"""
/* Semihosting console: SYS_WRITE0 prints a string, SYS_EXIT_EXTENDED ends QEMU with a status. */
static int tg_semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static char tg_line[8192];
static void tg_dump(const unsigned char *p, int n)
{
    static const char hex[] = "0123456789abcdef";
    int i = 0, k = 0;
    for (; i < n; ++i)
    {
        tg_line[k++] = hex[p[i] >> 4];
        tg_line[k++] = hex[p[i] & 15];
        if (k >= (int)sizeof tg_line - 4) { tg_line[k] = 0; tg_semihost(4, tg_line); k = 0; }
    }
    tg_line[k++] = '\n';
    tg_line[k] = 0;
    tg_semihost(4, tg_line);
}
int main(void);
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
void tg_reset(void);
void tg_reset(void)
{
    static const uint32_t exit_block[2] = {0x20026u, 0u};
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    (void)main();
    tg_semihost(0x20, exit_block);
    for (;;) {}
}
void tg_fault(void);
void tg_fault(void) { static const uint32_t b[2] = {0x20026u, 3u}; tg_semihost(0x20, b); for (;;) {} }
/* Vector table: initial stack pointer, reset, NMI and the fault handlers. */
__asm__(".section .vectors, \"a\"\n.word _estack\n.word tg_reset\n.word tg_fault\n.word tg_fault\n"
        ".word tg_fault\n.word tg_fault\n.word tg_fault\n.text\n");
"""

_LDSCRIPT = """
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M  RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) *(.ARM.exidx*) . = ALIGN(4); } > FLASH
  _sidata = LOADADDR(.data);
  .data : { _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT > FLASH
  .bss (NOLOAD) : { _sbss = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; } > RAM
  _estack = ORIGIN(RAM) + LENGTH(RAM);
}
"""

ARM_TARGETS = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500"}


def _run(cmd: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _rounding_flag(rounding: str) -> str:
    """Every translation unit (driver and kernels) must see the same TG_SINGLE_ROUNDING."""
    return f"-DTG_SINGLE_ROUNDING={int(rounding == 'single')}"


def _sources(kernels: list[str]) -> list[str]:
    return [str(KERNELS / f"{k}.c") for k in kernels]


def _build_and_run(cases: list[Case], build: str, rounding: str = "double") -> list[str]:
    """Hex dump of each case's output, computed by the C kernels under ``build``."""
    with tempfile.TemporaryDirectory(prefix="tg_other_") as tmp:
        d = Path(tmp)
        if build in HOST_BUILDS:
            source, kernels, _ = _program(cases, "host", rounding)
            (d / "main.c").write_text(source)
            exe = d / "main"
            cc = _run([*HOST_BUILDS[build], _rounding_flag(rounding), f"-I{KERNELS}", str(d / "main.c"), *_sources(kernels), "-lm", "-o", str(exe)])
            assert cc.returncode == 0, f"{build} failed:\n{cc.stderr}"
            res = _run([str(exe)])
            assert res.returncode == 0, f"{build} run failed ({res.returncode}):\n{res.stderr[-3000:]}"
            return _split_hex("".join(res.stdout.split()), cases)
        cpu = build
        source, kernels, _ = _program(cases, "arm", rounding)
        (d / "main.c").write_text(source)
        (d / "link.ld").write_text(_LDSCRIPT)
        elf = d / "main.elf"
        cc = _run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft", "-O2", *WARN, _rounding_flag(rounding), f"-I{KERNELS}",
                   "-nostartfiles", "--specs=nosys.specs", "-T", str(d / "link.ld"), str(d / "main.c"),
                   *_sources(kernels), "-lm", "-o", str(elf)])
        assert cc.returncode == 0, f"arm-none-eabi-gcc {cpu} failed:\n{cc.stderr}"
        res = _run(["qemu-system-arm", "-M", ARM_TARGETS[cpu], "-nographic", "-monitor", "none", "-serial", "none",
                    "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)], timeout=60)
        assert res.returncode == 0, f"QEMU {cpu} exit {res.returncode}:\n{res.stderr[-2000:]}"
        return _split_hex("".join((res.stdout + res.stderr).split()), cases)


def _split_hex(text: str, cases: list[Case]) -> list[str]:
    sizes = [c.graph.tensor(c.graph.outputs[0]).nbytes for c in cases]
    assert len(text) == 2 * sum(sizes), f"expected {2 * sum(sizes)} hex digits, got {len(text)}"
    out, pos = [], 0
    for n in sizes:
        out.append(text[pos: pos + 2 * n])
        pos += 2 * n
    return out


def _expected(case: Case, rounding: str) -> str:
    values = reference.run(case.graph, case.inputs, rounding=rounding)
    out = case.graph.outputs[0]
    return np.ascontiguousarray(values[out]).tobytes().hex()


def check_cases(
    cases: list[Case], builds: tuple[str, ...] = tuple(HOST_BUILDS), expected: list[str] | None = None,
    rounding: str = "double",
) -> None:
    """Each case's C output equals ``expected`` (hex; default: tinygen.reference's output)."""
    expected = expected if expected is not None else [_expected(c, rounding) for c in cases]
    for build in builds:
        got = _build_and_run(cases, build, rounding)
        for case, want, have in zip(cases, expected, got):
            op = case.graph.ops[0]
            assert have == want, (
                f"{build} ({rounding} rounding): {op.kind} {op.attrs} inputs {[case.graph.tensor(n).shape for n in op.inputs]} "
                f"in_place={case.in_place}\n want {want}\n have {have}"
            )


# --------------------------------------------------------------------------- strategies


def _q(scale: float, zp: int) -> Quantization:
    return Quantization(np.array([scale], dtype=np.float32), np.array([zp]))


scales = st.floats(min_value=1e-3, max_value=0.5, allow_nan=False).map(lambda s: float(np.float32(s)))
zero_points = st.integers(-128, 127)
seeds = st.integers(0, 2**32 - 1)


def _int8(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def _graph(kind: str, ins: list[Tensor], out: Tensor, attrs: dict, consts: list[Tensor] = ()) -> Graph:
    g = Graph(name="t")
    for t in [*ins, *consts, out]:
        g.add_tensor(t)
    g.add_op(Op(kind, "op", [t.name for t in ins] + [t.name for t in consts], [out.name], attrs))
    g.inputs = [t.name for t in ins]
    g.outputs = [out.name]
    g.validate()
    return g


@st.composite
def pool_cases(draw, kind: str, big: bool = False) -> Case:
    n = draw(st.integers(1, 2))
    h, w = (draw(st.integers(17, 20)), draw(st.integers(17, 20))) if big else (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    c = draw(st.one_of(st.integers(1, 11), st.integers(16, 37)))  # the DSP avg pool blocks 16, then 4 channels
    fh = draw(st.integers(1, min(h, 4) if not big else 17))
    fw = draw(st.integers(1, min(w, 4) if not big else 17))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["same", "valid"]))
    oh, _ = conv_output_size(h, fh, sh, 1, padding)
    ow, _ = conv_output_size(w, fw, sw, 1, padding)
    q = _q(draw(scales), draw(zero_points))
    x = Tensor("x", (n, h, w, c), "int8", q)
    y = Tensor("y", (n, oh, ow, c), "int8", q)
    act = draw(st.sampled_from(ACTIVATIONS))
    g = _graph(kind, [x], y, {"filter": (fh, fw), "stride": (sh, sw), "padding": padding, "activation": act})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), x.shape)])


@st.composite
def mean_cases(draw) -> Case:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape)))
    keep = draw(st.booleans())
    resolved = {a % len(shape) for a in axes}
    out_shape = tuple((1 if i in resolved else d) for i, d in enumerate(shape) if keep or i not in resolved)
    qin = _q(draw(scales), draw(zero_points))
    qout = qin if draw(st.booleans()) else _q(draw(scales), draw(zero_points))
    x = Tensor("x", shape, "int8", qin)
    y = Tensor("y", out_shape, "int8", qout)
    g = _graph("mean", [x], y, {"axes": tuple(axes), "keep_dims": keep})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), shape)])


@st.composite
def broadcast_shapes(draw) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    style = draw(st.sampled_from(["same", "scalar", "channel", "general"]))
    out = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    if style == "same":
        a = b = out
    elif style == "scalar":
        a, b = out, (1,) * draw(st.integers(0, len(out)))
    elif style == "channel":
        a, b = out, (out[-1],)
    else:
        masks = draw(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=len(out), max_size=len(out)))
        a = tuple(1 if ma else d for d, (ma, _) in zip(out, masks))
        b = tuple(1 if mb else d for d, (_, mb) in zip(out, masks))
        b = b[draw(st.integers(0, len(b))):]  # drop leading dimensions: numpy-style rank broadcast
        out = tuple(np.broadcast_shapes(a, b))
    if draw(st.booleans()):
        a, b = b, a
    return a, b, out


@st.composite
def binary_cases(draw, kind: str, lut: bool = False) -> Case:
    if lut:  # same shape, large enough for lower_add's rescaling tables
        sa = sb = so = (1, draw(st.integers(8, 24)), draw(st.integers(8, 24)), draw(st.integers(1, 8)))
        if int(np.prod(so)) < 512:
            so = sa = sb = (1, 16, 16, 2)
    else:
        sa, sb, so = draw(broadcast_shapes())
    x1 = Tensor("x1", sa, "int8", _q(draw(scales), draw(zero_points)))
    x2 = Tensor("x2", sb, "int8", _q(draw(scales), draw(zero_points)))
    y = Tensor("y", so, "int8", _q(draw(scales), draw(zero_points)))
    act = draw(st.sampled_from(ACTIVATIONS))
    try:
        g = _graph(kind, [x1, x2], y, {"activation": act})
        from tinygen.qparams import op_params

        op_params(g, g.ops[0])
    except TinygenError:
        reject()
    rng = np.random.default_rng(draw(seeds))
    in_place = draw(st.booleans()) and (x1.size == y.size or x2.size == y.size)
    return Case(g, [_int8(rng, sa), _int8(rng, sb)], in_place)


@st.composite
def softmax_cases(draw) -> Case:
    shape = tuple(draw(st.lists(st.integers(1, 40), min_size=1, max_size=3)))
    x = Tensor("x", shape, "int8", _q(draw(st.floats(1e-3, 2.0).map(lambda s: float(np.float32(s)))), draw(zero_points)))
    y = Tensor("y", shape, "int8", _q(1.0 / 256, -128))
    beta = draw(st.sampled_from([1.0, 0.5, 2.0, 0.1]))
    g = _graph("softmax", [x], y, {"beta": beta})
    rng = np.random.default_rng(draw(seeds))
    data = _int8(rng, shape)
    if draw(st.booleans()):  # ties and near-equal rows exercise the maxima and the reciprocal
        data = np.clip(data // 16 + 100, -128, 127).astype(np.int8)
    return Case(g, [data])


@st.composite
def concat_cases(draw) -> Case:
    rank = draw(st.integers(1, 4))
    base = list(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = draw(st.integers(-rank, rank - 1))
    k = draw(st.integers(1, 4))
    q = _q(draw(scales), draw(zero_points))
    ins = []
    for i in range(k):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 4))
        ins.append(Tensor(f"x{i}", tuple(shape), "int8", q))
    out_shape = list(base)
    out_shape[axis] = sum(t.shape[axis] for t in ins)
    y = Tensor("y", tuple(out_shape), "int8", q)
    g = _graph("concatenation", ins, y, {"axis": axis, "activation": "none"})
    rng = np.random.default_rng(draw(seeds))
    return Case(g, [_int8(rng, t.shape) for t in ins])


@st.composite
def pad_cases(draw) -> Case:
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    pads = tuple(draw(st.tuples(st.integers(0, 3), st.integers(0, 3))) for _ in shape)
    q = _q(draw(scales), draw(zero_points))
    x = Tensor("x", shape, "int8", q)
    y = Tensor("y", tuple(d + b + a for d, (b, a) in zip(shape, pads)), "int8", q)
    g = _graph("pad", [x], y, {"paddings": pads})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), shape)])


@st.composite
def unary_cases(draw, kind: str) -> Case:
    shape = tuple(draw(st.lists(st.integers(1, 7), min_size=1, max_size=4)))
    qin = _q(draw(scales), draw(zero_points))
    same = kind == "relu6" or draw(st.booleans())
    qout = qin if same else _q(draw(scales), draw(zero_points))
    x = Tensor("x", shape, "int8", qin)
    y = Tensor("y", shape, "int8", qout)
    g = _graph(kind, [x], y, {})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), shape)], in_place=draw(st.booleans()))


@st.composite
def quantize_f32_cases(draw) -> Case:
    shape = (draw(st.integers(1, 64)),)
    scale, zp = draw(scales), draw(zero_points)
    x = Tensor("x", shape, "float32")
    y = Tensor("y", shape, "int8", _q(scale, zp))
    g = _graph("quantize", [x], y, {})
    rng = np.random.default_rng(draw(seeds))
    k = rng.integers(-200, 200, size=shape)
    # Half-way points (k + 0.5) * scale, nudged by a few float32 ulps, hit the rounding corner cases.
    vals = ((k + 0.5) * np.float32(scale)).astype(np.float32)
    vals = np.nextafter(vals, np.where(rng.integers(0, 2, size=shape) > 0, np.inf, -np.inf).astype(np.float32))
    vals = np.where(rng.integers(0, 3, size=shape) == 0, ((k + 0.5) * np.float32(scale)).astype(np.float32), vals)
    vals = np.where(rng.integers(0, 4, size=shape) == 0, rng.normal(0, 1, size=shape).astype(np.float32), vals)
    return Case(g, [vals.astype(np.float32)])


@st.composite
def dequantize_cases(draw) -> Case:
    shape = (draw(st.integers(1, 64)),)
    x = Tensor("x", shape, "int8", _q(draw(scales), draw(zero_points)))
    y = Tensor("y", shape, "float32")
    g = _graph("dequantize", [x], y, {})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), shape)])


@st.composite
def reshape_cases(draw) -> Case:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    q = _q(draw(scales), draw(zero_points))
    x = Tensor("x", shape, "int8", q)
    y = Tensor("y", (int(np.prod(shape)),), "int8", q)
    g = _graph("reshape", [x], y, {})
    return Case(g, [_int8(np.random.default_rng(draw(seeds)), shape)])


STRATEGIES = {
    "max_pool2d": pool_cases("max_pool2d"),
    "avg_pool2d": pool_cases("avg_pool2d"),
    "avg_pool2d_big_window": pool_cases("avg_pool2d", big=True),
    "mean": mean_cases(),
    "add": binary_cases("add"),
    "add_lut": binary_cases("add", lut=True),
    "mul": binary_cases("mul"),
    "softmax": softmax_cases(),
    "concatenation": concat_cases(),
    "pad": pad_cases(),
    "relu": unary_cases("relu"),
    "relu6": unary_cases("relu6"),
    "quantize_s8": unary_cases("quantize"),
    "quantize_f32": quantize_f32_cases(),
    "dequantize": dequantize_cases(),
    "reshape": reshape_cases(),
}

BATCH = 8
# No shrinking: each example compiles three programs; the failure message names the failing case.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)
HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much]
HYPOTHESIS = settings(max_examples=2, deadline=None, phases=PHASES, suppress_health_check=HEALTH)


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_kernel_matches_reference(kind: str) -> None:
    """gcc/clang -O2 and gcc ASan/UBSan builds equal tinygen.reference on random batches of cases."""

    @HYPOTHESIS
    @given(st.lists(STRATEGIES[kind], min_size=BATCH, max_size=BATCH), st.sampled_from(["double", "single"]))
    def run(cases: list[Case], rounding: str) -> None:
        check_cases(cases, rounding=rounding)

    run()


needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc or qemu-system-arm is not installed",
)

DSP_KINDS = ("max_pool2d", "avg_pool2d", "avg_pool2d_big_window", "relu6", "relu", "add", "add_lut", "mul", "softmax",
             "dequantize", "quantize_f32", "quantize_s8", "mean", "pad", "concatenation")


@needs_arm
@pytest.mark.parametrize("cpu", sorted(ARM_TARGETS))
def test_dsp_paths_in_qemu(cpu: str) -> None:
    """The __ARM_FEATURE_DSP paths, built with arm-none-eabi-gcc -Werror, equal the reference in QEMU."""

    @settings(max_examples=2, deadline=None, phases=PHASES, suppress_health_check=HEALTH)
    @given(st.tuples(*(st.lists(STRATEGIES[k], min_size=3, max_size=3) for k in DSP_KINDS)),
           st.sampled_from(["double", "single"]))
    def run(groups: tuple[list[Case], ...], rounding: str) -> None:
        cases = [c for group in groups for c in group]
        check_cases(cases, builds=(cpu,), rounding=rounding)

    run()


_REQUANT_CHECK = r"""
#include <stdio.h>
#include "tg_common.h"
#include "tg_fixedpoint.h"
static uint32_t state = 2463534242u;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
int main(void)
{
    static const int32_t xs[] = {INT32_MIN, INT32_MIN + 1, -65536, -255, -1, 0, 1, 255, 65535, INT32_MAX};
    static const int32_t ms[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX};
    long bad = 0, n;
    for (n = 0; n < 4000000; ++n)
    {
        const uint32_t r = next();
        int32_t x = (int32_t)next();
        const int32_t m = (n & 7) == 0 ? ms[r % 6] : (int32_t)(next() >> 1);
        const int32_t s = (int32_t)(r % 62) - 31;
        if ((n & 3) == 1) x = xs[(r >> 8) % 10];
        else if ((n & 3) == 2) x >>= (r >> 8) % 31; /* small magnitudes too */
        if (s > 0 && (x > (INT32_MAX >> s) || x < (INT32_MIN >> s))) x >>= s; /* TFLite never overflows x << s */
        if (tg_requantize_nonneg(x, m, s) != tg_requantize(x, m, s) && bad++ < 5)
            printf("x=%ld m=%ld s=%ld\n", (long)x, (long)m, (long)s);
    }
    printf("%ld\n", bad);
    return 0;
}
"""


@pytest.mark.parametrize("rounding", ["double", "single"])
def test_requantize_nonneg_equals_tg_requantize(tmp_path: Path, rounding: str) -> None:
    """tg_fixedpoint.h's faster requantization equals tg_common.h's on 4 million operands and the edges."""
    (tmp_path / "check.c").write_text(_REQUANT_CHECK)
    exe = tmp_path / "check"
    cc = _run([*HOST_BUILDS["gcc-asan-ubsan"], _rounding_flag(rounding), f"-I{KERNELS}", str(tmp_path / "check.c"),
               "-o", str(exe)])
    assert cc.returncode == 0, cc.stderr
    res = _run([str(exe)])
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "0", res.stdout


def _extreme_cases() -> list[Case]:
    """Saturated inputs at the limits of the DSP paths: 16-bit lane sums of 256-cell windows, -128 maxima."""
    cases = []
    q = _q(0.1, -128)
    for kind, hw, filt, c in (("avg_pool2d", 16, 16, 7), ("avg_pool2d", 16, 16, 21), ("avg_pool2d", 17, 17, 7),
                              ("max_pool2d", 16, 16, 7)):
        for value in (-128, 127):
            x = Tensor("x", (1, hw, hw, c), "int8", q)
            y = Tensor("y", (1, 1, 1, c), "int8", q)
            g = _graph(kind, [x], y, {"filter": (filt, filt), "stride": (1, 1), "padding": "valid", "activation": "none"})
            cases.append(Case(g, [np.full(x.shape, value, dtype=np.int8)]))
    x = Tensor("x", (1, 37), "int8", q)
    g = _graph("relu6", [x], Tensor("y", (1, 37), "int8", q), {})
    cases.append(Case(g, [np.arange(-128, 128, 7, dtype=np.int64).astype(np.int8)]))
    # softmax rows holding every int8 value: every entry of tg_softmax_lut_s8's exp table, below diff_min too
    for scale in (0.02, 0.5, 3.0):
        x = Tensor("x", (2, 256), "int8", _q(scale, 0))
        g = _graph("softmax", [x], Tensor("y", (2, 256), "int8", _q(1.0 / 256, -128)), {"beta": 1.0})
        values = np.arange(-128, 128, dtype=np.int64)
        cases.append(Case(g, [np.stack([values, np.roll(values[::-1], 77)]).astype(np.int8)]))
    return cases


@needs_arm
@pytest.mark.parametrize("cpu", sorted(ARM_TARGETS))
def test_dsp_paths_at_the_limits_in_qemu(cpu: str) -> None:
    cases = _extreme_cases()
    check_cases(cases, builds=(cpu,))
    check_cases(cases, builds=("gcc-O2",))


@needs_arm
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m0", "cortex-m4+fpu",
                                 "cortex-m7+fpu"])
def test_kernels_compile_for_cortex_m(cpu: str) -> None:
    """Every kernel of this module compiles warning-free for Cortex-M, with and without the DSP extension
    (and with the boards' hardware single/double-precision FPU flags)."""
    fpu = {"cortex-m4+fpu": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"], "cortex-m7+fpu": ["-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]}
    flags = fpu.get(cpu, [])
    cpu = cpu.split("+")[0]
    names = sorted({p.stem for p in KERNELS.glob("tg_*.c")} & set(_OWN_KERNELS))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            res = _run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *flags, "-O2", *WARN, "-Wdouble-promotion",
                        f"-I{KERNELS}", "-c",
                        str(KERNELS / f"{name}.c"), "-o", str(Path(tmp) / f"{name}.o")])
            assert res.returncode == 0, f"{name} for {cpu}:\n{res.stderr}"
    assert len(names) == len(_OWN_KERNELS)


@pytest.mark.skipif(shutil.which("clang") is None or not Path("/usr/lib/arm-none-eabi/include").is_dir(),
                    reason="clang or the arm-none-eabi newlib headers are not installed")
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m7", "cortex-m55"])
def test_kernels_compile_with_clang_for_cortex_m(cpu: str) -> None:
    """The ACLE intrinsics of the DSP paths also build with LLVM (armclang/LLVM-embedded toolchains)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in _OWN_KERNELS:
            res = _run(["clang", "--target=arm-none-eabi", f"-mcpu={cpu}", "-mthumb", "-O2", *WARN,
                        "-isystem", "/usr/lib/arm-none-eabi/include", f"-I{KERNELS}", "-c",
                        str(KERNELS / f"{name}.c"), "-o", str(Path(tmp) / f"{name}.o")])
            assert res.returncode == 0, f"{name} for {cpu}:\n{res.stderr}"


_OWN_KERNELS = (
    "tg_max_pool_s8", "tg_avg_pool_s8", "tg_mean_s8", "tg_add_s8", "tg_add_broadcast_s8", "tg_mul_s8",
    "tg_mul_broadcast_s8", "tg_softmax_s8", "tg_concat_s8", "tg_pad_s8", "tg_relu_s8", "tg_relu_clamp_s8",
    "tg_quantize_s8", "tg_quantize_f32_s8", "tg_dequantize_s8", "tg_copy_s8", "tg_add_lut_s8", "tg_add_table_s8",
    "tg_softmax_lut_s8",
)


# --------------------------------------------------------------------------- lowering details and errors


def test_relu_identity_requantization_lowers_to_clamp() -> None:
    q = _q(0.05, -3)
    g = _graph("relu", [Tensor("x", (1, 8), "int8", q)], Tensor("y", (1, 8), "int8", q), {})
    call = lower(Driver(g, "p_"), g.ops[0])
    assert call.kernel == "tg_relu_clamp_s8"
    assert call.args[2:4] == ("-3", "127")


def test_broadcast_layout_merges_dimensions() -> None:
    q = _q(0.1, 0)
    a = Tensor("a", (2, 3, 4, 5), "int8", q)
    b = Tensor("b", (5,), "int8", q)
    g = _graph("add", [a, b], Tensor("y", (2, 3, 4, 5), "int8", q), {"activation": "none"})
    drv = Driver(g, "p_")
    call = lower(drv, g.ops[0])
    assert call.kernel == "tg_add_broadcast_s8" and call.extra_kernels == ("tg_add_s8",)
    # [2,3,4,5] + [5] is [24, 5] with strides (5, 1) and (0, 1)
    assert drv.decls[0].endswith("{1, 1, 24, 5};")
    assert drv.decls[1].endswith("{0, 0, 5, 1};")
    assert drv.decls[2].endswith("{0, 0, 0, 1};")


def _same_shape_add(q1, q2, qo, act: str, shape: tuple[int, ...] = (1, 16, 16, 4)) -> Graph:
    return _graph("add", [Tensor("a", shape, "int8", q1), Tensor("b", shape, "int8", q2)], Tensor("y", shape, "int8", qo),
                  {"activation": act})


def test_large_same_shape_add_uses_sum_tables() -> None:
    """Generic scales: the two-table kernel; TFLite-style ties it cannot reproduce: the rescaling tables."""
    q1, q2 = _q(0.05, 3), _q(0.02, -7)
    drv = Driver(_same_shape_add(q1, q2, q1, "relu"), "p_")
    call = lower(drv, drv.graph.ops[0])
    assert call.kernel == "tg_add_table_s8" and call.args[5] in ("16", "20", "24")
    assert len(drv.decls) == 2 and all(d.count(",") == 255 for d in drv.decls)  # two int32[256] tables
    # equal input scales and an output of twice that scale put many exact ties on both sides of zero
    ties = _same_shape_add(_q(0.05, 0), _q(0.05, 0), _q(0.1, 0), "none")
    drv = Driver(ties, "p_")
    assert lower(drv, ties.ops[0]).kernel == "tg_add_lut_s8"
    assert len(drv.decls) == 2 and all(d.count(",") == 255 for d in drv.decls)
    small = _graph("add", [Tensor("a", (1, 4), "int8", q1), Tensor("b", (1, 4), "int8", q2)], Tensor("y", (1, 4), "int8", q1),
                   {"activation": "none"})
    assert lower(Driver(small, "p_"), small.ops[0]).kernel == "tg_add_s8"


def _all_pairs_add_cases() -> list[Case]:
    """Adds over all 65,536 int8 pairs (x1, x2), for the table kernel (several scale ratios, activations,
    shifts) and its fallback, tg_add_lut_s8."""
    shape = (1, 256, 256, 1)
    x1 = np.tile(np.arange(-128, 128), 256).astype(np.int8).reshape(shape)
    x2 = np.repeat(np.arange(-128, 128), 256).astype(np.int8).reshape(shape)
    configs = [
        (_q(0.05, 3), _q(0.02, -7), _q(0.05, 3), "relu"),
        (_q(0.00599653, -128), _q(0.00769332, -55), _q(0.00549561, -128), "relu"),  # IC ResNet-8's first add
        (_q(0.0394, -128), _q(0.1042, 4), _q(0.0509, -128), "none"),
        (_q(0.3, 10), _q(0.01, 0), _q(0.02, -5), "relu6"),  # a large ratio: a coarser shift
        (_q(0.05, 0), _q(0.05, 0), _q(0.1, 0), "none"),  # ties: the fallback
    ]
    return [Case(_same_shape_add(a, b, o, act, shape), [x1, x2]) for a, b, o, act in configs]


def test_add_tables_equal_tflite_on_every_input_pair() -> None:
    """The exhaustive offline check and the C kernels agree with the reference on all 65,536 pairs (host)."""
    cases = _all_pairs_add_cases()
    kernels = {lower(Driver(c.graph, "p_"), c.graph.ops[0]).kernel for c in cases}
    assert kernels == {"tg_add_table_s8", "tg_add_lut_s8"}
    for rounding in ("double", "single"):
        check_cases(cases, builds=("gcc-O2",), rounding=rounding)


@needs_arm
@pytest.mark.parametrize("cpu", sorted(ARM_TARGETS))
def test_add_tables_on_every_input_pair_in_qemu(cpu: str) -> None:
    check_cases(_all_pairs_add_cases(), builds=(cpu,))


def test_pool_window_in_padding_is_a_user_error() -> None:
    q = _q(0.1, 0)
    x = Tensor("x", (1, 2, 2, 1), "int8", q)
    g = Graph("t")
    g.add_tensor(x)
    g.add_tensor(Tensor("y", (1, 1, 1, 1), "int8", q))
    g.add_op(Op("avg_pool2d", "pool", ["x"], ["y"], {"filter": (1, 1), "stride": (1, 1), "padding": "valid",
                                                       "activation": "none"}))
    # A hand-made op whose only window starts 3 rows above the image: TFLite would divide by zero.
    op = g.ops[0]
    from tinygen.ops import pool

    with pytest.raises(TinygenError, match="entirely in the padding"):
        pool.check_windows(op, 2, 1, 1, 3, 1, "row")


def test_unsupported_layouts_name_the_op_and_the_fix() -> None:
    q = _q(0.1, 0)
    shape = (2, 2, 2, 2, 2, 2)
    mean = _graph("mean", [Tensor("x", shape, "int8", q)], Tensor("y", (2, 2, 2), "int8", q),
                  {"axes": (0, 2, 4), "keep_dims": False})
    with pytest.raises(TinygenError, match=r"mean op 'op'.*adjacent axes"):
        lower(Driver(mean, "p_"), mean.ops[0])
    a = Tensor("a", (2, 1, 2, 1, 2, 1), "int8", q)
    b = Tensor("b", (1, 2, 1, 2, 1, 2), "int8", q)
    add = _graph("add", [a, b], Tensor("y", shape, "int8", q), {"activation": "none"})
    with pytest.raises(TinygenError, match=r"add op 'op'.*6 dimensions.*simplify"):
        lower(Driver(add, "p_"), add.ops[0])
    pads = ((1, 0), (0, 1), (1, 0), (0, 1), (1, 0), (0, 0))
    pad = _graph("pad", [Tensor("x", shape, "int8", q)], Tensor("y", (3, 3, 3, 3, 3, 2), "int8", q), {"paddings": pads})
    with pytest.raises(TinygenError, match=r"pad op 'op'.*more than 4 dimensions"):
        lower(Driver(pad, "p_"), pad.ops[0])


def test_uint8_quantize_is_rejected_with_a_fix() -> None:
    x = Tensor("x", (4,), "float32")
    y = Tensor("y", (4,), "uint8", _q(0.1, 128))
    g = _graph("quantize", [x], y, {})
    with pytest.raises(TinygenError, match="int8"):
        lower(Driver(g, "p_"), g.ops[0])


# --------------------------------------------------------------------------- whole generated libraries


def _chain_graph(seed: int, float_io: bool = False) -> Graph:
    """pad -> max_pool(relu) -> avg_pool -> add(const channel vector) -> mul(x, x) -> relu -> relu6 ->
    concatenation -> mean -> reshape -> quantize -> softmax: every lowering of this module in one library."""
    rng = np.random.default_rng(seed)

    def q(lo: float = 0.02, hi: float = 0.1) -> Quantization:
        return _q(float(np.float32(rng.uniform(lo, hi))), int(rng.integers(-20, 20)))

    g = Graph(f"chain{seed}")
    qa, qp, qr = q(), q(), q()
    specs = [
        ("x", (1, 6, 7, 5), qa), ("pad", (1, 8, 9, 5), qa), ("maxp", (1, 4, 4, 5), qa), ("avgp", (1, 4, 4, 5), qa),
        ("bias", (5,), q()), ("sum", (1, 4, 4, 5), qp), ("sq", (1, 4, 4, 5), q(0.05, 0.3)), ("relu", (1, 4, 4, 5), qr),
        ("relu6", (1, 4, 4, 5), qr), ("cat", (1, 4, 4, 10), qr), ("mean", (1, 1, 1, 10), q(0.01, 0.05)),
        ("flat", (1, 10), None), ("requant", (1, 10), q(0.05, 0.2)), ("prob", (1, 10), _q(1.0 / 256, -128)),
    ]
    for name, shape, quant in specs:
        if name == "flat":
            quant = g.tensor("mean").quant
        data = rng.integers(-128, 128, shape).astype(np.int8) if name == "bias" else None
        g.add_tensor(Tensor(name, shape, "int8", quant, data))
    g.add_tensor(Tensor("shape", (2,), "int32", None, np.array([1, 10], dtype=np.int32)))
    ops = [
        Op("pad", "pad", ["x"], ["pad"], {"paddings": ((0, 0), (1, 1), (2, 0), (0, 0))}),
        Op("max_pool2d", "maxp", ["pad"], ["maxp"], {"filter": (2, 2), "stride": (2, 2), "padding": "valid", "activation": "relu"}),
        Op("avg_pool2d", "avgp", ["maxp"], ["avgp"], {"filter": (3, 3), "stride": (1, 1), "padding": "same", "activation": "none"}),
        Op("add", "add", ["avgp", "bias"], ["sum"], {"activation": "none"}),
        Op("mul", "mul", ["sum", "sum"], ["sq"], {"activation": "none"}),
        Op("relu", "relu", ["sq"], ["relu"], {}),
        Op("relu6", "relu6", ["relu"], ["relu6"], {}),
        Op("concatenation", "cat", ["relu6", "relu"], ["cat"], {"axis": 3, "activation": "none"}),
        Op("mean", "mean", ["cat"], ["mean"], {"axes": (1, 2), "keep_dims": True}),
        Op("reshape", "flat", ["mean", "shape"], ["flat"], {}),
        Op("quantize", "requant", ["flat"], ["requant"], {}),
        Op("softmax", "softmax", ["requant"], ["prob"], {"beta": 1.0}),
    ]
    g.inputs, g.outputs = ["x"], ["prob"]
    if float_io:  # float32 at both ends: QUANTIZE first, DEQUANTIZE last
        g.add_tensor(Tensor("xf", (1, 6, 7, 5), "float32"))
        g.add_tensor(Tensor("probf", (1, 10), "float32"))
        ops = [Op("quantize", "in_q", ["xf"], ["x"], {}), *ops, Op("dequantize", "out_dq", ["prob"], ["probf"], {})]
        g.inputs, g.outputs = ["xf"], ["probf"]
    for op in ops:
        g.add_op(op)
    g.validate()
    return g


@pytest.mark.parametrize(("rounding", "sanitize"), [("double", False), ("single", False), ("double", True)])
def test_generated_library_equals_reference_layer_by_layer(tmp_path: Path, rounding: str, sanitize: bool) -> None:
    """codegen.generate() of a graph using every lowering here: every layer's C output == reference."""
    import hostbuild  # tests/hostbuild.py

    from tinygen import codegen

    graph = _chain_graph(7)
    lib = codegen.generate(graph, tmp_path / "lib", rounding=rounding, force=True)
    rng = np.random.default_rng(3)
    vectors = 4
    x = rng.integers(-128, 128, (vectors, 1, 6, 7, 5)).astype(np.int8)
    refs = [reference.run(graph, x[v], rounding=rounding) for v in range(vectors)]
    for compiler in hostbuild.compilers():
        if sanitize and compiler != "gcc":
            continue  # this machine has gcc's sanitizer runtimes only
        hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / compiler, compiler=compiler, sanitize=sanitize, dump=True)
        out, dumps = hostbuild.run(hb, x.reshape(vectors, -1))
        for v in range(vectors):
            for layer, got in zip(lib.manifest["layers"], dumps[v]):
                want = refs[v][layer["output_tensor"]].reshape(-1)
                assert np.array_equal(want, got), f"{compiler} vector {v} layer {layer['op']}: C {got} reference {want}"
            np.testing.assert_array_equal(out[v], refs[v]["prob"].reshape(-1))
    # The softmax output is not saturated: the chain really exercises every kernel's arithmetic.
    assert len({int(b) for r in refs for b in r["prob"].reshape(-1)}) > 3


# --------------------------------------------------------------------------- TFLite Micro itself


def _single_op_case(graph: Graph, op: Op, values: dict[str, np.ndarray]) -> Case:
    g = Graph(f"{op.kind}_sub")
    for name in dict.fromkeys([*op.inputs, *op.outputs]):
        g.add_tensor(graph.tensor(name))
    g.add_op(op)
    g.inputs = [n for n in dict.fromkeys(op.inputs) if not graph.tensor(n).is_const]
    g.outputs = [op.outputs[0]]
    g.validate()
    return Case(g, [np.asarray(values[n]).reshape(graph.tensor(n).shape) for n in g.inputs])


ORACLE_MODELS = ("max_pool", "avg_pool", "global_avg_pool", "residual_add", "mul", "concatenate", "pad", "padv2",
                 "standalone_relu", "bn_broadcast", "float_io", "requantize", "dense_softmax", "conv_relu6",
                 "kws_dscnn", "ic_resnet8")


def test_kernels_equal_tflite_micro_on_converted_models() -> None:
    """Every op of this module in TensorFlow-converted models: the C kernel, fed TFLite Micro's own input
    tensors, reproduces TFLite Micro's output tensor byte for byte (independently of tinygen.reference)."""
    pytest.importorskip("tflite_micro")
    import corpus  # tests/corpus.py

    from tinygen.frontend.tflite import import_tflite
    from tinygen.oracle import tflm_run

    cases, expected, kinds = [], [], set()
    rng = np.random.default_rng(11)
    for model in ORACLE_MODELS:
        data = corpus.corpus_model(model)
        graph = import_tflite(data)
        inputs = []
        for name in graph.inputs:
            t = graph.tensor(name)
            if t.dtype == "float32":
                scale = float(graph.tensor(graph.consumers(name)[0].outputs[0]).quant.scale[0])
                k = rng.integers(-130, 130, t.shape)
                # Values a few ulps around the rounding half-way points (k + 0.5) * scale.
                half = ((k + 0.5) * np.float32(scale)).astype(np.float32)
                ulps = rng.integers(-2, 3, t.shape)
                inputs.append((half.view(np.int32) + ulps.astype(np.int32)).view(np.float32))
            else:
                inputs.append(rng.integers(-128, 128, t.shape).astype(np.int8))
        values = {**tflm_run(data, inputs), **dict(zip(graph.inputs, inputs))}
        for op in graph.ops:
            if op.kind in LOWERED and op.kind != "reshape":
                cases.append(_single_op_case(graph, op, values))
                expected.append(np.ascontiguousarray(values[op.outputs[0]]).tobytes().hex())
                kinds.add(op.kind)
    assert {"max_pool2d", "avg_pool2d", "add", "mul", "concatenation", "pad", "relu", "softmax", "quantize",
            "dequantize"} <= kinds, kinds
    check_cases(cases, builds=("gcc-O2",), expected=expected)


def test_generated_float_io_library_equals_reference(tmp_path: Path) -> None:
    """quantize (float32 -> int8) and dequantize (int8 -> float32) through NAME_invoke_f32, bit for bit."""
    import hostbuild  # tests/hostbuild.py

    from tinygen import codegen

    graph = _chain_graph(5, float_io=True)
    lib = codegen.generate(graph, tmp_path / "lib", force=True)
    scale = float(graph.tensor("x").quant.scale[0])
    rng = np.random.default_rng(4)
    k = rng.integers(-140, 140, (3, 1, 6, 7, 5))
    # Half-way points between quantization steps, nudged by -1..1 ulp, and some plain values.
    x = (((k + 0.5) * np.float32(scale)).astype(np.float32).view(np.int32) + rng.integers(-1, 2, k.shape).astype(np.int32))
    x = x.view(np.float32)
    x[2] = rng.normal(0, 2, x[2].shape).astype(np.float32)
    hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / "f32", f32=True, sanitize=True)
    out, _ = hostbuild.run(hb, x.reshape(3, -1))
    for v in range(3):
        want = reference.run(graph, x[v])["probf"].reshape(-1)
        assert np.array_equal(out[v].view(np.uint32), want.view(np.uint32)), f"vector {v}: C {out[v]} reference {want}"
