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

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 1, v;
    for (v = 0; v < count; ++v)
    {
#if HOST_F32
        static float in[@NAME@_F32_INPUT_SIZE], out[@NAME@_F32_OUTPUT_SIZE];
        if (fread(in, sizeof in, 1, stdin) != 1) return 2;
        if (@NAME@_invoke_f32(in, out) != 0) return 3;
#else
        static int8_t in[@NAME@_INPUT_SIZE], out[@NAME@_OUTPUT_SIZE];
        if (fread(in, sizeof in, 1, stdin) != 1) return 2;
        if (v % 2) { /* exercise both APIs: zero-copy on odd vectors */
            memcpy(@NAME@_input_ptr(), in, sizeof in);
            if (@NAME@_run() != 0) return 3;
            memcpy(out, @NAME@_output_ptr(), sizeof out);
        } else if (@NAME@_invoke(in, out) != 0) {
            return 3;
        }
#endif
        if (fwrite(out, sizeof out, 1, stdout) != 1) return 4;
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
) -> HostBuild:
    name = manifest["name"]
    work.mkdir(parents=True, exist_ok=True)
    main = work / "host_main.c"
    main.write_text(_MAIN.replace("@NAME@", name))
    flags = [*WARNINGS, opt, f"-I{lib_dir}", f"-DHOST_F32={int(f32)}", f"-DHOST_DUMP={int(dump)}"]
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
    layer_bytes = [int(np.prod(layer["output_shape"], dtype=np.int64)) for layer in manifest["layers"]] if dump else []
    in_n = int(np.prod(manifest["input"]["shape"], dtype=np.int64))
    out_n = int(np.prod(manifest["output"]["shape"], dtype=np.int64))
    return HostBuild(exe, name, f32, dump, layer_bytes, out_n * (4 if f32 else 1), in_n * (4 if f32 else 1))


def run(hb: HostBuild, inputs: np.ndarray, timeout: float = 300) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Run a batch: returns (outputs [n, ...] flat per vector, per-vector list of layer dumps as int8)."""
    data = np.ascontiguousarray(inputs.astype(np.float32 if hb.f32 else np.int8))
    n = data.shape[0]
    proc = subprocess.run([str(hb.exe), str(n)], input=data.tobytes(), capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{hb.exe.name} exited {proc.returncode}\n{proc.stderr.decode(errors='replace')[-6000:]}")
    raw = proc.stdout
    per_vector = sum(hb.layer_bytes) + hb.output_bytes
    if len(raw) != per_vector * n:
        raise AssertionError(f"{hb.exe.name} wrote {len(raw)} bytes, expected {per_vector * n}")
    outs, dumps = [], []
    for v in range(n):
        chunk = raw[v * per_vector : (v + 1) * per_vector]
        pos, layers = 0, []
        for size in hb.layer_bytes:
            layers.append(np.frombuffer(chunk[pos : pos + size], dtype=np.int8))
            pos += size
        outs.append(np.frombuffer(chunk[pos:], dtype=np.float32 if hb.f32 else np.int8))
        dumps.append(layers)
    return np.stack(outs), dumps


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
