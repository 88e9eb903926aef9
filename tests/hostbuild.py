"""Compile an emitted tinygen library with a small test main on the host, and run it.

``build(library, ...)`` compiles ``NAME*.c`` + kernels + a generated ``main.c`` with gcc or clang
(``-std=c99 -Wall -Wextra -Werror -pedantic -O2``), optionally with ASan/UBSan, optionally with the
kernels' DSP path emulated in C (``TG_DSP_EMULATE``), optionally dumping every layer's output through
the ``TG_LAYER_END`` profiling hook. ``run(exe, inputs)`` feeds a batch of input vectors through one
process (stdin -> stdout, raw bytes) and returns the outputs (and the layer dumps).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WARNINGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g")

_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "@NAME@.h"

/* each input and output as the API under test takes it (HOST_MODE 0: int8 core, 1: float32, 2: declared types) */
@BUFFERS@

static int run_once(long v)
{
#if HOST_MODE == 1
    (void)v;
    return @NAME@_invoke_f32(@ARGS@);
#elif HOST_MODE == 2
    (void)v;
    return @NAME@_invoke_model(@ARGS@);
#else
    if (v % 2) { /* exercise both APIs: zero-copy on odd vectors */
@ZERO_COPY_IN@
        if (@NAME@_run() != 0) return 3;
@ZERO_COPY_OUT@
        return 0;
    }
    return @NAME@_invoke(@ARGS@);
#endif
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 1, v;
@INIT@
    for (v = 0; v < count; ++v)
    {
@READ@
        if (run_once(v) != 0) return 3;
@WRITE@
    }
    return 0;
}

#if HOST_DUMP
void tg_host_dump(int index, const void *data, unsigned long bytes)
{
    (void)index;
    fwrite(data, 1, bytes, stdout);
}
#endif
"""

_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float"}
_ITEMSIZE = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4}
#: the element type of each port in each HOST_MODE
MODES = {"int8": 0, "f32": 1, "model": 2}


def _port_dtype(port: dict, mode: str) -> str:
    return {"int8": port["dtype"], "f32": "float32", "model": port.get("declared_dtype") or port["dtype"]}[mode]


def _main_source(manifest: dict, mode: str) -> str:
    name = manifest["name"]
    ins = manifest.get("inputs") or [manifest["input"] | {"dtype": "int8", "bytes": _size(manifest["input"])}]
    outs = manifest.get("outputs") or [manifest["output"] | {"dtype": "int8", "bytes": _size(manifest["output"])}]
    buffers, args, read, write, zin, zout = [], [], [], [], [], []
    for role, ports in (("in", ins), ("out", outs)):
        for i, port in enumerate(ports):
            dtype = _port_dtype(port, mode)
            size = int(np.prod(port["shape"], dtype=np.int64))
            buf = f"{role}{i}"
            buffers.append(f"static {_CTYPES[dtype]} {buf}[{size}];")
            args.append(buf)
            if role == "in":
                read.append(f"        if (fread({buf}, sizeof {buf}, 1, stdin) != 1) return 2;")
                zin.append(f"        memcpy({name}_input_at({i}), {buf}, sizeof {buf});")
            else:
                write.append(f"        if (fwrite({buf}, sizeof {buf}, 1, stdout) != 1) return 4;")
                zout.append(f"        memcpy({buf}, {name}_output_at({i}), sizeof {buf});")
    if manifest.get("arena") == "external":  # the library's arena is the caller's: give it one
        buffers.append(f"static int8_t arena[{name}_ARENA_SIZE + 16];")
        init = (f"    int8_t *aligned = arena + ((16u - ((uintptr_t)arena & 15u)) & 15u);\n"
                f"    if ({name}_run() != -1 || {name}_init(aligned, {name}_ARENA_SIZE) != 0) return 5;")
    else:
        init = ""
    text = _MAIN.replace("@BUFFERS@", "\n".join(buffers)).replace("@ARGS@", ", ".join(args)).replace("@INIT@", init)
    text = text.replace("@READ@", "\n".join(read)).replace("@WRITE@", "\n".join(write))
    text = text.replace("@ZERO_COPY_IN@", "\n".join(zin)).replace("@ZERO_COPY_OUT@", "\n".join(zout))
    return text.replace("@NAME@", name)


def _size(port: dict) -> int:
    return int(np.prod(port["shape"], dtype=np.int64))


_DUMP_H = """
void tg_host_dump(int index, const void *data, unsigned long bytes);
#define TG_LAYER_END(index, out_ptr, out_bytes) tg_host_dump((index), (out_ptr), (unsigned long)(out_bytes))
"""


@dataclass
class HostBuild:
    exe: Path
    name: str
    f32: bool
    dump: bool
    #: bytes of each layer dump, in order (when dump)
    layer_bytes: list[int]
    output_bytes: int
    input_bytes: int
    #: the numpy type of each output, in order (outputs are returned concatenated as bytes when several)
    output_dtypes: list[str]
    input_dtypes: list[str]


def compilers() -> list[str]:
    return [cc for cc in ("gcc", "clang") if shutil.which(cc)]


def build(
    lib_dir: Path,
    manifest: dict,
    work: Path,
    compiler: str = "gcc",
    sanitize: bool = False,
    dsp_emulate: bool = False,
    dump: bool = False,
    f32: bool = False,
    opt: str = "-O2",
    mode: str | None = None,
) -> HostBuild:
    """Compile the library with a test main calling ``NAME_invoke`` (mode "int8"), ``NAME_invoke_f32`` ("f32",
    also ``f32=True``) or ``NAME_invoke_model`` ("model")."""
    name = manifest["name"]
    mode = mode or ("f32" if f32 else "int8")
    work.mkdir(parents=True, exist_ok=True)
    main = work / "host_main.c"
    main.write_text(_main_source(manifest, mode))
    flags = [*WARNINGS, opt, f"-I{lib_dir}", f"-DHOST_MODE={MODES[mode]}", f"-DHOST_DUMP={int(dump)}"]
    if dump:
        dump_h = work / "host_dump.h"
        dump_h.write_text(_DUMP_H)
        flags += ["-include", str(dump_h)]
    if sanitize:
        flags += list(SANITIZE)
    if dsp_emulate:
        flags.append("-DTG_DSP_EMULATE")
    sources = sorted(str(p) for p in Path(lib_dir).glob("*.c"))
    tag = hashlib.sha1(" ".join([compiler, *flags]).encode()).hexdigest()[:10]
    exe = work / f"host_{name}_{tag}"
    cmd = [compiler, *flags, *sources, str(main), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"compile failed: {' '.join(cmd)}\n{proc.stderr[-6000:]}")
    layer_bytes = [int(layer.get("out_bytes", np.prod(layer["output_shape"], dtype=np.int64))) for layer in manifest["layers"]] if dump else []
    ins = manifest.get("inputs") or [manifest["input"] | {"dtype": "int8"}]
    outs = manifest.get("outputs") or [manifest["output"] | {"dtype": "int8"}]
    in_types = [_port_dtype(p, mode) for p in ins]
    out_types = [_port_dtype(p, mode) for p in outs]
    in_bytes = sum(_size(p) * _ITEMSIZE[t] for p, t in zip(ins, in_types))
    out_bytes = sum(_size(p) * _ITEMSIZE[t] for p, t in zip(outs, out_types))
    return HostBuild(exe, name, mode == "f32", dump, layer_bytes, out_bytes, in_bytes, out_types, in_types)


def run(hb: HostBuild, inputs: np.ndarray, timeout: float = 300) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Run a batch: returns (outputs [n, ...] flat per vector, per-vector list of layer dumps as bytes viewed as
    int8 (an int32 layer's dump is its little-endian bytes)).

    ``inputs``: one row per vector. With one input type the rows are converted to it; with several (a
    multi-input model's declared types), the rows are raw bytes. With one output the outputs have its type;
    with several, each row is the outputs' bytes one after the other."""
    if len(set(hb.input_dtypes)) == 1:
        data = np.ascontiguousarray(inputs.astype(_NUMPY[hb.input_dtypes[0]]))
    else:
        data = np.ascontiguousarray(inputs.view(np.uint8) if inputs.dtype != np.uint8 else inputs)
    n = data.shape[0]
    proc = subprocess.run([str(hb.exe), str(n)], input=data.tobytes(), capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{hb.exe.name} exited {proc.returncode}\n{proc.stderr.decode(errors='replace')[-6000:]}")
    raw = proc.stdout
    per_vector = sum(hb.layer_bytes) + hb.output_bytes
    if len(raw) != per_vector * n:
        raise AssertionError(f"{hb.exe.name} wrote {len(raw)} bytes, expected {per_vector * n}")
    out_type = _NUMPY[hb.output_dtypes[0]] if len(hb.output_dtypes) == 1 else np.uint8
    outs, dumps = [], []
    for v in range(n):
        chunk = raw[v * per_vector : (v + 1) * per_vector]
        pos, layers = 0, []
        for size in hb.layer_bytes:
            layers.append(np.frombuffer(chunk[pos : pos + size], dtype=np.int8))
            pos += size
        outs.append(np.frombuffer(chunk[pos:], dtype=out_type))
        dumps.append(layers)
    return np.stack(outs), dumps


_NUMPY = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32}


# --------------------------------------------------------------------------- kernel specialisation traces

_TRACE_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "@CONFIG@"

static const char *seen[64];
static int n_seen;

static void trace_flush(void)
{
    FILE *f = fopen("@PATH@", "w");
    int i;
    if (f == NULL)
        return;
    for (i = 0; i < n_seen; ++i)
        fprintf(f, "%s\n", seen[i]);
    fclose(f);
}

void tg_trace_variant(const char *name)
{
    int i;
    for (i = 0; i < n_seen; ++i)
        if (strcmp(seen[i], name) == 0)
            return;
    if (n_seen == 0)
        atexit(trace_flush);
    if (n_seen < 64)
        seen[n_seen++] = name;
}
"""


def config_copy(lib_dir: Path, name: str, dest: Path, old: str, new: str) -> Path:
    """A copy of the library at ``lib_dir`` whose config header has ``old`` replaced by ``new``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(lib_dir, dest)
    config = dest / f"{name}_config.h"
    text = config.read_text()
    assert old in text, f"{old!r} is not in {config.name}"
    config.write_text(text.replace(old, new))
    return dest


def traced_run(
    lib_dir: Path, manifest: dict, work: Path, inputs: np.ndarray, dsp_emulate: bool, sanitize: bool = False
) -> tuple[np.ndarray, set[str]]:
    """Build the library with every kernel specialisation compiled and the kernels' TG_TRACE_VARIANT hook
    recording, run ``inputs`` (a batch), and return (the outputs, the specialisations the run took): the
    proof that a lowering's variants mirror its kernel's dispatch."""
    name = manifest["name"]
    src = config_copy(lib_dir, name, work / "traced", "#define TG_SELECTED_VARIANTS 1",
                      "#define TG_SELECTED_VARIANTS 0\nvoid tg_trace_variant(const char *name);\n"
                      "#define TG_TRACE_VARIANT(name) tg_trace_variant(#name)")
    trace = work / "trace.txt"
    trace.unlink(missing_ok=True)
    (src / "zz_trace.c").write_text(_TRACE_C.replace("@CONFIG@", f"{name}_config.h").replace("@PATH@", str(trace)))
    hb = build(src, manifest, work / f"traced_build{int(dsp_emulate)}", sanitize=sanitize, dsp_emulate=dsp_emulate)
    out, _ = run(hb, inputs.reshape(inputs.shape[0], -1))
    return out, set(trace.read_text().split()) if trace.exists() else set()
