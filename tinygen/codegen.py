"""The C99 code generator: an int8 (or int16x8) IR graph -> a self-contained inference library.

For a model NAME (a C identifier; every global symbol starts with it) the library folder holds:

* ``NAME.h`` - the API, I/O quantization, shapes, arena size and layer list, documented in the header;
* ``NAME.c`` - the static arena and the op sequence as direct kernel calls (no interpreter);
* ``NAME_weights.c``/``.h`` - every constant (weights, folded biases, multipliers, shifts), ``const``
  and 16-byte aligned, so it stays in flash;
* ``NAME_config.h`` - ``TG_SINGLE_ROUNDING`` and the alignment macro, included first by every source;
* ``NAME_tg_<kernel>.c/.h`` - copies of only the kernels the model uses, **renamed with the model
  prefix**. Two libraries therefore link into one firmware without duplicate symbols, each with its
  own rounding mode, at the price of duplicated kernel code when both use the same kernel. Header-only
  helpers (``tg_common.h``...) are copied unchanged: they are all ``static inline``;
* ``manifest.json``, ``library.json`` (PlatformIO) and ``CMakeLists.txt``.

Float32 I/O models (QUANTIZE first, DEQUANTIZE last) keep the int8 (int16) API on the tensors between
those two ops and add ``NAME_invoke_f32(const float *, float *)``, which runs them too.

Generation is deterministic (same graph -> byte-identical files) and atomic: files are rendered in
memory, written to a temporary sibling folder, then renamed into place (:mod:`tinygen.outdir` holds the
protocol, and recovers what a killed run left behind).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import jinja2
import numpy as np

from tinygen import __version__, ops, ports
from tinygen.errors import TinygenError, UnsupportedError
from tinygen.ir import Graph, Op, Tensor, op_macs
from tinygen.naming import c_identifier
from tinygen.lowering.base import KernelCall
from tinygen.lowering.base import CONST_KINDS, WEIGHTS, ConstKind
from tinygen.numerics import check_rounding
from tinygen.outdir import write_atomically as _write_atomically
from tinygen.ops import dequantize, quantize
from tinygen.ops.base import OpDef
from tinygen.ports import Port
from tinygen.planner import MemoryPlan, OpNeeds, const_aliases, plan
from tinygen.resources import resource_dir

_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "float32": "float"}
_NP_OF_CTYPE = {"int8_t": np.int8, "uint8_t": np.uint8, "int16_t": np.int16, "uint16_t": np.uint16, "int32_t": np.int32,
                "int64_t": np.int64, "float": np.float32}
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)
MANIFEST = "manifest.json"
#: tinygen's source and test file paths, as kernel comments cite them
_INTERNAL_PATH = re.compile(r"\b(?:tinygen|tests)/[\w/]*[\w*]+\.py\b")


@dataclass
class Library:
    """A generated library: where it is, its files and its manifest."""

    name: str
    out_dir: Path
    files: list[Path]
    manifest: dict[str, Any]
    #: the arena plan (a tinygen.planner.MemoryPlan): offsets, lifetimes, scratch (the HTML report draws it)
    memory: Any = None

    @property
    def header(self) -> Path:
        return self.out_dir / f"{self.name}.h"

    @property
    def sources(self) -> list[Path]:
        return [f for f in self.files if f.suffix == ".c"]


def _c_string(text: str) -> str:
    """Contents of a C string literal (printable ASCII, escaped)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~" and ch != "?":  # '?' avoids trigraphs
            out.append(ch)
        else:
            out.append("_")
    return "".join(out)


def _short_name(name: str) -> str:
    """TFLite names a fused op "a;b;c" after every op folded into it: the first part names the layer."""
    first, _, rest = name.partition(";")
    return first + (";..." if rest else "")


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("/*", "/ *").replace("\n", " ")


def _float_c(value: float) -> str:
    """A float32 as a C float literal that reads back exactly."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise TinygenError(f"scale {v!r} is not finite: fix the model's quantization parameters")
    return f"{v:.9g}f" if ("e" in f"{v:.9g}" or "." in f"{v:.9g}") else f"{v:.9g}.0f"


@dataclass
class _Array:
    symbol: str
    ctype: str
    values: np.ndarray
    comment: str
    #: bytes per const kind (tinygen.lowering.base.CONST_KINDS)
    kinds: dict[str, int]

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)

    def lines(self) -> list[str]:
        flat = self.values.reshape(-1)
        if self.ctype == "float":
            items = [_float_c(v) for v in flat.tolist()]
        else:
            items = [str(v) for v in flat.tolist()]
        per_line = 16 if self.ctype in ("int8_t", "uint8_t") else 8
        return [", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)]


class _ConstPool:
    """Named, deduplicated constant arrays (in order of first use, for deterministic output)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.arrays: list[_Array] = []
        self._by_content: dict[tuple[str, bytes, tuple[int, ...]], str] = {}
        self._names: set[str] = set()

    def add(self, hint: str, values: np.ndarray, ctype: str, kind: ConstKind, comment: str = "") -> str:
        if ctype not in _NP_OF_CTYPE:
            raise ValueError(f"unsupported const array type {ctype!r}")
        data = np.ascontiguousarray(np.asarray(values).astype(_NP_OF_CTYPE[ctype], casting="unsafe"))
        if data.size == 0:
            data = np.zeros(1, dtype=data.dtype)  # C has no empty arrays
        kinds = {kind: int(data.nbytes)} if isinstance(kind, str) else {k: int(v) for k, v in kind.items() if v}
        if set(kinds) - set(CONST_KINDS) or sum(kinds.values()) != data.nbytes:
            raise ValueError(f"const array {hint!r}: kinds {kinds} do not split its {data.nbytes} bytes")
        key = (ctype, data.tobytes(), ())
        if key in self._by_content:
            return self._by_content[key]
        base = f"{self.prefix}_{re.sub(r'[^0-9A-Za-z_]', '_', hint)[:48]}"
        symbol, n = base, 1
        while symbol in self._names:
            n += 1
            symbol = f"{base}_{n}"
        self._names.add(symbol)
        self._by_content[key] = symbol
        self.arrays.append(_Array(symbol, ctype, data, _comment(comment or f"{hint}: {ctype}[{data.size}]"), kinds))
        return symbol


class _Context:
    """The LoweringContext of one op: constants go to the const pool; activation pointers and scratch are
    symbolic while lowering (the memory plan does not exist yet) and :meth:`bind` turns them into arena
    offsets once it does. So the graph is lowered exactly once."""

    _SYMBOL = re.compile(r"@@(T|S)(\d+)@@")

    def __init__(self, graph: Graph, rounding: str, name: str, pool: _ConstPool, const_aliases: dict[str, str],
                 mve: bool = False) -> None:
        self.graph = graph
        self.rounding = rounding
        self.mve = mve
        self.name = name
        self.pool = pool
        self.const_aliases = const_aliases
        self.memory: MemoryPlan | None = None
        self.op_index = 0
        self._tensors: list[tuple[str, str]] = []  # symbol index -> (tensor name, C type)
        self._symbol_of: dict[str, int] = {}
        #: tensors outside the arena (the caller's buffers at the graph's edges): their C expressions
        self.external: dict[str, str] = {}

    def _arena(self, offset: int) -> str:
        return f"({self.name}_arena + {offset})"

    def tensor_ptr(self, name: str) -> str:
        if name in self.external:
            return self.external[name]
        tensor = self.graph.tensor(name)
        ctype = _CTYPES.get(tensor.dtype)
        if ctype is None:
            raise UnsupportedError(f"tensor {name!r} has dtype {tensor.dtype}, which tinygen cannot emit")
        if name in self.const_aliases:
            tensor = self.graph.tensor(self.const_aliases[name])
        if tensor.is_const:
            return self.pool.add(tensor.name, tensor.data, ctype, WEIGHTS, f"tensor {tensor.name} {tensor.dtype}{list(tensor.shape)}")
        if name not in self._symbol_of:
            self._symbol_of[name] = len(self._tensors)
            self._tensors.append((name, ctype))
        return f"@@T{self._symbol_of[name]}@@"

    def const_array(self, hint: str, values: np.ndarray, ctype: str, kind: ConstKind) -> str:
        # the layer index keeps names short and unique: NAME_op<index>_<hint>
        return self.pool.add(f"op{self.op_index}_{hint}", values, ctype, kind)

    def scratch_ptr(self) -> str:
        return f"@@S{self.op_index}@@"

    def bind(self, text: str) -> str:
        """``text`` with every symbolic pointer replaced by its place in the planned arena."""
        memory = self.memory
        assert memory is not None, "bind() needs the memory plan"

        def real(match: re.Match[str]) -> str:
            if match.group(1) == "S":
                offset, _ = memory.scratch.get(int(match.group(2)), (0, 0))
                return self._arena(offset)
            name, ctype = self._tensors[int(match.group(2))]
            ptr = self._arena(memory.offsets[name])
            return ptr if ctype == "int8_t" else f"(({ctype} *)(void *){ptr})"

        return self._SYMBOL.sub(real, text)


@dataclass
class _Lowered:
    index: int
    op: Op
    call: KernelCall | None  # None: a reshape (an alias, no code)


def _lower_all(graph: Graph, ctx: _Context) -> tuple[list[_Lowered], dict[int, OpNeeds]]:
    """Every op lowered once (symbolic pointers), and what each asks of the memory plan."""
    lowered = []
    needs: dict[int, OpNeeds] = {}
    for index, op in enumerate(graph.ops):
        ctx.op_index = index
        defn = ops.get(op.kind)
        call = None if defn.alias else _lower_op(defn, ctx, op, index)
        lowered.append(_Lowered(index, op, call))
        needs[index] = op_needs(graph, op, call.scratch_bytes if call else 0)
    return lowered, needs


def op_needs(graph: Graph, op: Op, scratch_bytes: int = 0) -> OpNeeds:
    """What ``op``'s lowering asks of the memory plan: its scratch, whether its output is a view of its input,
    and whether (with what lag) its kernel may write the output over its first input."""
    defn = ops.get(op.kind)
    lag = defn.in_place_lag(graph, op) if defn.in_place_lag is not None else None
    if lag is None and defn.in_place is not None and defn.in_place(graph, op):
        lag = 0
    return OpNeeds(scratch_bytes=scratch_bytes, alias=defn.alias, in_place_lag=lag)


def _lower_op(defn: OpDef, ctx: _Context, op: Op, index: int) -> KernelCall:
    """The first lowering of the op that covers its configuration (Helium ones first on an MVE core)."""
    for lowering in (*(defn.mve_lowerings if ctx.mve else ()), *defn.lowerings):
        call = lowering(ctx, op)
        if call is not None:
            return call
    raise UnsupportedError(
        f"op {index} {op.name!r} of kind {op.kind!r} has no C lowering for this configuration in this version of "
        "tinygen: remove or replace that layer"
    )


def _format_call(function: str, args: tuple[str, ...]) -> str:
    lines, line = [], f"{function}("
    for i, arg in enumerate(args):
        piece = arg + (", " if i + 1 < len(args) else ");")
        if len(line) + len(piece) > 110 and line.strip():
            lines.append(line.rstrip())
            line = "        "
        line += piece
    if not args:
        line += ");"
    lines.append(line.rstrip())
    return "\n    ".join(lines)


def _kernel_files(kernels: list[str], prefix: str) -> tuple[dict[str, str], list[str]]:
    """Kernel sources (and the headers they include) for the library, every file and public name prefixed.

    Each kernel's public function (named like its file) becomes ``prefix_tg_...``; every copied file is named
    ``prefix_<file>`` and included under that name, with its include guard prefixed too. So two libraries (even
    made by different tinygen versions) link into one firmware and share an include path without either
    shadowing the other's kernels or shared headers (``tg_common.h``...; their helpers are ``static inline``).
    Returns ({file name: text}, the renamed headers of ``kernels`` for NAME.c to include).
    """
    root = resource_dir("templates") / "kernels"
    wanted: list[str] = []
    pending = [f"{k}.c" for k in kernels] + [f"{k}.h" for k in kernels]
    while pending:
        fname = pending.pop(0)
        if fname in wanted:
            continue
        path = root / fname
        if not path.is_file():
            raise TinygenError(f"kernel source templates/kernels/{fname} is missing from this tinygen installation")
        wanted.append(fname)
        pending += [inc for inc in _INCLUDE.findall(path.read_text()) if (root / inc).is_file()]
        if fname.endswith(".h") and (root / (fname[:-2] + ".c")).is_file():
            pending.append(fname[:-2] + ".c")
    renamed = sorted({f[:-2] for f in wanted if f.endswith(".c")})
    headers = sorted(f for f in wanted if f.endswith(".h"))
    function = re.compile(r"\b(" + "|".join(map(re.escape, renamed)) + r")\b") if renamed else None
    guard = re.compile(r"\b(" + "|".join(re.escape(h[:-2].upper() + "_H") for h in headers) + r")\b") if headers else None
    include = re.compile(r'^(\s*#\s*include\s+")(' + "|".join(map(re.escape, headers)) + r')"', re.MULTILINE) if headers else None
    files: dict[str, str] = {}
    for fname in sorted(wanted):
        text = (root / fname).read_text()
        if function is not None:
            text = function.sub(lambda m: f"{prefix}_{m.group(1)}", text)
        if guard is not None:
            text = guard.sub(lambda m: f"{prefix.upper()}_{m.group(1)}", text)
        if include is not None:
            text = include.sub(lambda m: f'{m.group(1)}{prefix}_{m.group(2)}"', text)
        # the kernels' comments name tinygen's own files: a library user has the library, not those
        text = _INTERNAL_PATH.sub(lambda m: "tinygen's test suite" if m.group(0).startswith("tests/") else
                                  "tinygen's code generator", text)
        banner = f"/* Library {prefix}: tinygen {__version__}'s kernel file {fname}, its names prefixed with {prefix}_. */\n"
        if fname.endswith(".c"):
            banner += f'#include "{prefix}_config.h"\n'
        files[f"{prefix}_{fname}"] = banner + text
    return files, [f"{prefix}_{k}.h" for k in sorted(set(kernels))]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _state_layout(core: Graph, ctx: _Context, prefix: str) -> list[dict[str, Any]]:
    """The model's states (variables kept between invocations) in one static buffer ``NAME_state`` outside the
    arena, each at a 16-byte aligned offset: their read tensors (and reshapes of them) are views of it
    (``ctx.external``), their initial values constants."""
    states, offset = [], 0
    for s in core.states:
        initial = np.asarray(s.initial)
        ctype = _CTYPES[initial.dtype.name]
        if s.read is not None:
            where = f"({prefix}_state + {offset})"
            ctx.external[s.read] = where if ctype == "int8_t" else f"(({ctype} *)(void *){where})"
        states.append({"name": _c_string(s.name), "offset": offset, "bytes": int(initial.nbytes), "write": s.write,
                       "read": s.read, "initial": ctx.pool.add(f"state_{s.name}", initial, ctype, WEIGHTS,
                                                               f"initial value of state {s.name}: {ctype}[{initial.size}]")})
        offset += -(-int(initial.nbytes) // 16) * 16
    for op in core.ops:  # a reshape of a state is a view of it too
        if ops.get(op.kind).alias and op.inputs[0] in ctx.external:
            ctx.external[op.outputs[0]] = ctx.external[op.inputs[0]]
    return states


def _port_info(core: Graph, port: Port, param: str, memory: MemoryPlan) -> dict[str, Any]:
    """What the templates and the manifest say of one input or output."""
    t, declared = core.tensor(port.core), core.tensor(port.declared)
    info: dict[str, Any] = {
        "index": port.index,
        "param": param,
        "name": _c_string(declared.name),
        "tensor": t.name,
        "dtype": t.dtype,
        "ctype": _CTYPES[t.dtype],
        "shape": list(t.shape),
        "shape_text": "[" + ", ".join(map(str, t.shape)) + "]",
        "size": t.size,
        "bytes": t.nbytes,
        "offset": memory.offsets[t.name],
        "quantized": t.quant is not None,
        "declared_dtype": declared.dtype,
        "declared_ctype": _CTYPES[declared.dtype],
        "declared_tensor": declared.name,
    }
    if t.dtype not in ports.CORE_TYPES[port.role]:
        raise UnsupportedError(f"model {port.role} {t.name!r} is {t.dtype}; tinygen's library takes int8 or int16 "
                               "inputs and gives int8, int16 or int32 outputs")
    if t.dtype in ("int8", "int16") or t.quant is not None:  # an int32 output is quantized too, unless it holds indices
        if t.quant is None or t.quant.scale.size != 1:
            raise UnsupportedError(f"model {port.role} {t.name!r} needs per-tensor quantization")
        scale, zp = t.quant.scalar()
        info |= {
            "scale": float(np.float32(scale)),
            "scale_text": f"{float(np.float32(scale)):.9g}",
            "scale_c": _float_c(scale),
            "zero_point": zp,
            "zp_text": f"- {zp}" if zp >= 0 else f"+ {-zp}",
        }
    return info


def _params(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], ctype: str | None) -> str:
    """``const T *input0, ..., U *output0, ...`` (``ctype``: the key of each one's C type; None: float)."""
    ins = [f"const {info[ctype] if ctype else 'float'} *{info['param']}" for info in inputs]
    outs = [f"{info[ctype] if ctype else 'float'} *{info['param']}" for info in outputs]
    return ", ".join(ins + outs)


#: where the arena lives: the library's own static array, or memory the caller passes to NAME_init
ARENA_MODES = ("static", "external")


def _labels(labels: Sequence[str] | None, output: dict[str, Any]) -> list[str] | None:
    """The labels as C string contents: one per value of output 0."""
    if labels is None:
        return None
    labels = list(labels)
    if len(labels) != output["size"]:
        raise TinygenError(
            f"{len(labels)} labels for output 0 {output['name']!r} of {output['size']} values (shape {output['shape']}): "
            "give one label per line, one per output value"
        )
    return [_c_string(label) for label in labels]


def _manifest_port(info: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "tensor", "shape", "dtype", "bytes", "scale", "zero_point", "declared_dtype", "declared_tensor")
    return {k: info.get(k) for k in keys}


def _edge_call(ctx: _Context, op: Op, external: dict[str, str], prefix: str) -> tuple[str, KernelCall]:
    """The call of an op at the graph's edge, reading or writing the caller's buffer ``external`` names."""
    saved = ctx.external
    ctx.external = saved | external
    try:
        call = _lower_op(ops.get(op.kind), ctx, op, -1)
    finally:
        ctx.external = saved
    return _format_call(f"{prefix}_{call.kernel}", tuple(ctx.bind(a) for a in call.args)), call


def _f32_op(core: Graph, port: Port) -> Op:
    """A QUANTIZE from float32 into an int8 (int16) input, or a DEQUANTIZE of an int8 (int16) output to float32 (for
    ``NAME_invoke_f32``; a float32 edge op of the model is exactly this one), on a float32 tensor added to
    the core graph's (own) tensor table."""
    t = core.tensor(port.core)
    name = f"{t.name}:f32"
    core.tensors.setdefault(name, Tensor(name, t.shape, "float32"))
    if port.role == "input":
        return Op(quantize.KIND, name, [name], [t.name])
    return Op(dequantize.KIND, name, [t.name], [name])


def generate(
    graph: Graph,
    out_dir: str | Path,
    rounding: str = "double",
    force: bool = False,
    name: str | None = None,
    mve: bool = False,
    labels: Sequence[str] | None = None,
    arena: str = "static",
) -> Library:
    """Emit the C99 library of ``graph`` into ``out_dir`` (see the module docstring).

    ``labels``: one name per value of output 0 (``NAME_labels``). ``arena``: "static" (the library's own
    static arena) or "external" (the caller gives it to ``NAME_init``).

    ``mve``: target a core with Helium (Cortex-M55; a board manifest's ``has_mve``): conv and fully
    connected layers use the MVE kernels (tinygen/lowering/mve_ops.py), and the library then only
    compiles for such a core (an ``#error`` elsewhere). False keeps the portable + DSP library.
    """
    check_rounding(rounding)
    if arena not in ARENA_MODES:
        raise TinygenError(f"arena {arena!r} is not one of {', '.join(ARENA_MODES)}")
    graph.validate()
    if not graph.ops:
        raise TinygenError(f"model {graph.name!r} has no ops: nothing to generate")
    prefix = c_identifier(name or graph.name)
    core, in_ports, out_ports = ports.split(graph)

    # Lower once with symbolic pointers, plan the arena from what the lowerings declared, then bind.
    pool = _ConstPool(prefix)
    aliases = {i for i, op in enumerate(core.ops) if ops.get(op.kind).alias}
    ctx = _Context(core, rounding, prefix, pool, const_aliases(core, aliases), mve)
    states = _state_layout(core, ctx, prefix)
    lowered, needs = _lower_all(core, ctx)
    # the state written at the end of NAME_run lives to the end, as the outputs do
    writes = [s.write for s in core.states if s.write is not None and s.write not in ctx.external]
    memory = plan(Graph(core.name, core.tensors, core.ops, core.inputs, core.outputs + writes), needs)
    ctx.memory = memory
    for state in states:
        state["write_ptr"] = ctx.bind(ctx.tensor_ptr(state["write"])) if state["write"] else None

    single = len(in_ports) == 1 and len(out_ports) == 1
    inputs = [_port_info(core, p, "input" if single else f"input{p.index}", memory) for p in in_ports]
    outputs = [_port_info(core, p, "output" if single else f"output{p.index}", memory) for p in out_ports]
    edge_kernels: set[str] = set()
    # the model's own edge ops (QUANTIZE/DEQUANTIZE between its declared types and the int8 core), on the
    # caller's buffers: NAME_invoke_model
    for info, port in zip([*inputs, *outputs], [*in_ports, *out_ports]):
        info["edge_call"] = None
        if port.edge is not None:
            info["edge_call"], call = _edge_call(ctx, port.edge, {port.declared: info["param"]}, prefix)
            edge_kernels.update((call.kernel, *call.extra_kernels))
    # float32 in and out through the core's quantization: NAME_invoke_f32
    has_f32 = all(info["dtype"] in ports.FLOAT_EDGE_CORE_TYPES for info in outputs)
    for info, port in zip([*inputs, *outputs], [*in_ports, *out_ports]):
        info["f32_call"] = None
        if has_f32:
            op = _f32_op(core, port)
            external = op.inputs[0] if port.role == "input" else op.outputs[0]
            info["f32_call"], call = _edge_call(ctx, op, {external: info["param"]}, prefix)
            edge_kernels.update((call.kernel, *call.extra_kernels))
    kernels = sorted({k for lo in lowered if lo.call for k in (lo.call.kernel, *lo.call.extra_kernels)} | edge_kernels)
    kernel_texts, kernel_headers = _kernel_files(kernels, prefix)

    def call_text(lo: _Lowered) -> str:
        assert lo.call is not None
        return _format_call(f"{prefix}_{lo.call.kernel}", tuple(ctx.bind(a) for a in lo.call.args))

    layers = []
    for lo in lowered:
        out_t = core.tensor(lo.op.outputs[0])
        layers.append(
            {
                "index": lo.index,
                "op": lo.op.kind,
                "name": _c_string(lo.op.name),
                "c_name": _c_string(_short_name(lo.op.name)),
                "kernel": lo.call.kernel if lo.call else None,
                "variants": sorted(lo.call.variants) if lo.call else [],
                "comment": _comment(lo.call.comment if lo.call and lo.call.comment else f"{out_t.shape}"),
                "call": call_text(lo) if lo.call else "",
                "out_ptr": ctx.bind(ctx.tensor_ptr(out_t.name)),
                "out_bytes": out_t.nbytes,
                "output_shape": list(out_t.shape),
                "output_shape_text": "[" + ", ".join(map(str, out_t.shape)) + "]",
                "input_shapes": [list(core.tensor(n).shape) for n in lo.op.inputs],
                "output_tensor": out_t.name,
                "arena_offset": memory.offsets.get(out_t.name),
                # the input tensor this layer overwrites in place, if any, and how many bytes before
                # that input its output starts (0: same offset)
                "in_place": memory.in_place.get(lo.index),
                "in_place_lag": memory.in_place_lag.get(lo.index, 0),
                "macs": op_macs(core, lo.op),
            }
        )
    weight_bytes = sum(a.nbytes for a in pool.arrays)
    const_bytes = {kind: sum(a.kinds.get(kind, 0) for a in pool.arrays) for kind in CONST_KINDS}
    variants = sorted({v for lo in lowered if lo.call for v in lo.call.variants})
    values: dict[str, Any] = {
        "name": prefix,
        "model": _c_string(graph.name),
        # the core API's integer types, for the header's prose
        "core_types": "/".join(sorted({info["dtype"] for info in [*inputs, *outputs]})),
        # "int16x8" when a layer runs on int16 activations (TFLite's 16x8 mode), else "int8"
        "precision": "int16x8" if any(core.tensor(op.inputs[0]).dtype == core.tensor(op.outputs[0]).dtype == "int16"
                                      for op in core.ops) else "int8",
        "version": __version__,
        "rounding": rounding,
        "arena_size": memory.arena_size,
        "scratch_size": memory.scratch_bytes,
        "weight_bytes": weight_bytes,
        "variants": variants,
        "inputs": inputs,
        "outputs": outputs,
        "single": single,
        "input": inputs[0],
        "output": outputs[0],
        "has_edges": any(info["edge_call"] for info in [*inputs, *outputs]),
        "has_f32": has_f32,
        "external_arena": arena == "external",
        # NAME_argmax/NAME_top_k rank output 0's int8 values (dequantizing keeps their order: scale > 0)
        "has_top_k": outputs[0]["dtype"] == "int8",
        "labels": _labels(labels, outputs[0]),
        "states": states,
        "state_size": sum(-(-st["bytes"] // 16) * 16 for st in states),
        # the parameter lists of NAME_invoke (int8 core), NAME_invoke_f32 and NAME_invoke_model (declared types)
        "params_core": _params(inputs, outputs, "ctype"),
        "params_f32": _params(inputs, outputs, None),
        "params_model": _params(inputs, outputs, "declared_ctype"),
        "layers": layers,
        "kernel_headers": kernel_headers,
    }
    env = _environment()
    files: dict[str, str] = {}

    def render(template: str, out: str, guard: str | None = None, **extra: Any) -> None:
        files[out] = env.get_template(template).render(**values, guard=guard or "", **extra)

    render("model.h.j2", f"{prefix}.h", f"{prefix.upper()}_H")
    render("model_config.h.j2", f"{prefix}_config.h", f"{prefix.upper()}_CONFIG_H")
    arrays = [{"symbol": a.symbol, "ctype": a.ctype, "length": a.values.size, "comment": a.comment, "lines": a.lines()} for a in pool.arrays]
    render("model_weights.h.j2", f"{prefix}_weights.h", f"{prefix.upper()}_WEIGHTS_H", arrays=arrays)
    render("model_weights.c.j2", f"{prefix}_weights.c", arrays=arrays)
    render("model.c.j2", f"{prefix}.c")
    files.update(kernel_texts)
    sources = sorted(f for f in files if f.endswith(".c"))
    render("library.json.j2", "library.json")
    render("CMakeLists.txt.j2", "CMakeLists.txt", sources=sources)

    manifest = {
        "generator": "tinygen",
        "tinygen_version": __version__,
        "model": graph.name,
        "name": prefix,
        "rounding": rounding,
        "mve": mve,
        "arena_bytes": memory.arena_size,
        # the peak of simultaneously live bytes: arena_bytes equal to it means the placement is optimal
        "arena_lower_bound": memory.lower_bound,
        "scratch_bytes": memory.scratch_bytes,
        # every constant byte in flash (weights, folded biases, requantization constants, tables) ...
        "weight_bytes": weight_bytes,
        # ... by kind (tinygen.lowering.base.CONST_KINDS)
        "const_bytes": const_bytes,
        # the kernel specialisations compiled into the library (KernelCall.variants)
        "variants": variants,
        "total_macs": sum(layer["macs"] for layer in layers),
        # every input and output of the core API (int8, int16 in a 16x8 model; int32 for an index output), with the
        # type the model declares at that edge (float32/uint8 where an edge op converts); "input"/"output": the
        # first ones
        "inputs": [_manifest_port(info) for info in inputs],
        "outputs": [_manifest_port(info) for info in outputs],
        "input": _manifest_port(inputs[0]),
        "output": _manifest_port(outputs[0]),
        "input_tensor": inputs[0]["tensor"],
        "output_tensor": outputs[0]["tensor"],
        # the model declares float32 at some input or output (NAME_invoke_model converts there)
        "f32_io": any(info["declared_dtype"] == "float32" for info in [*inputs, *outputs]),
        "edges": values["has_edges"],
        "arena": arena,
        "labels": list(labels) if labels is not None else None,
        # variables kept between invocations (NAME_reset), in a buffer of state_bytes outside the arena
        "states": [{"name": st["name"], "bytes": st["bytes"], "read_tensor": st["read"], "write_tensor": st["write"]}
                   for st in states],
        "state_bytes": values["state_size"],
        "invoke_f32": has_f32,
        "kernels": kernels,
        "layers": [
            {k: layer[k] for k in ("index", "name", "op", "kernel", "input_shapes", "output_shape", "output_tensor", "out_bytes", "arena_offset", "in_place", "in_place_lag", "macs")}
            for layer in layers
        ],
        "files": sorted([*files, MANIFEST]),
    }
    files[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    out = Path(out_dir)
    _write_atomically(out, files, force)
    return Library(prefix, out, [out / f for f in sorted(files)], manifest, memory)
