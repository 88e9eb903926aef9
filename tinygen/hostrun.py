"""Compile a generated tinygen library for the host and run input vectors through it.

``compile_library(library, work)`` builds the library's ``.c`` files with a small ``main`` that reads
the int8 core inputs of one inference after another from stdin, calls ``NAME_invoke`` and writes the
core outputs (int8, or int32 for an index output) to stdout as raw bytes. ``run(host, vectors)`` feeds
a batch through one process. Used by ``tinygen validate`` to check the C code against the reference
on the user's own samples, without a board.

``compile_library(..., dump_layers=True)`` force-includes a hooks header whose ``TG_LAYER_END`` (the hook
contract of ``firmware/app/tg_hooks.h``) writes each layer's output to stderr; ``run_layers`` runs one
inference of such a build and returns every layer's output bytes, as the firmware's TG-TENSOR dumps give them.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinygen.errors import TinygenError, ToolMissingError

FLAGS = ("-std=c99", "-O2")
_CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t"}

_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "@NAME@.h"

@BUFFERS@

int main(int argc, char **argv)
{
    long count = argc > 1 ? atol(argv[1]) : 1, v;
@INIT@
    for (v = 0; v < count; ++v)
    {
@READ@
        if (@NAME@_invoke(@ARGS@) != 0) return 3;
@WRITE@
    }
    return 0;
}
"""


#: the layer-dump hooks: a record (int32 layer index, uint32 byte count, the bytes) on stderr per layer
_HOOKS = r"""
#ifndef TG_HOST_HOOKS_H
#define TG_HOST_HOOKS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
static void tg_host_layer_end(int index, const void *out, size_t bytes)
{
    int32_t head[2];
    head[0] = (int32_t)index;
    head[1] = (int32_t)bytes;
    fwrite(head, sizeof head, 1, stderr);
    fwrite(out, 1, bytes, stderr);
}
#define TG_LAYER_BEGIN(index) ((void)(index))
#define TG_LAYER_END(index, out_ptr, out_bytes) tg_host_layer_end((int)(index), (out_ptr), (size_t)(out_bytes))
#endif
"""


@dataclass
class HostProgram:
    exe: Path
    name: str
    #: bytes of one inference's inputs (every core input, one after the other) and outputs
    input_bytes: int
    output_bytes: int


def _size(port: dict[str, Any]) -> int:
    return int(np.prod(port["shape"], dtype=np.int64))


def main_source(manifest: dict[str, Any]) -> str:
    name = manifest["name"]
    buffers, args, read, write = [], [], [], []
    for role, ports in (("in", manifest["inputs"]), ("out", manifest["outputs"])):
        for i, port in enumerate(ports):
            buf = f"{role}{i}"
            buffers.append(f"static {_CTYPES[port['dtype']]} {buf}[{_size(port)}];")
            args.append(buf)
            if role == "in":
                read.append(f"        if (fread({buf}, sizeof {buf}, 1, stdin) != 1) return 2;")
            else:
                write.append(f"        if (fwrite({buf}, sizeof {buf}, 1, stdout) != 1) return 4;")
    init = ""
    if manifest.get("arena") == "external":  # the caller owns the arena: give the library one, 16-byte aligned
        buffers.append(f"static int8_t arena[{name}_ARENA_SIZE + 16];")
        init = (f"    int8_t *aligned = arena + ((16u - ((uintptr_t)arena & 15u)) & 15u);\n"
                f"    if ({name}_init(aligned, {name}_ARENA_SIZE) != 0) return 5;")
    text = _MAIN.replace("@BUFFERS@", "\n".join(buffers)).replace("@ARGS@", ", ".join(args)).replace("@INIT@", init)
    return text.replace("@READ@", "\n".join(read)).replace("@WRITE@", "\n".join(write)).replace("@NAME@", name)


def compiler() -> str:
    for cc in ("gcc", "cc", "clang"):
        if shutil.which(cc):
            return cc
    raise ToolMissingError("no C compiler (gcc, cc or clang) on PATH: install gcc to run the generated C on the host")


def compile_library(library: Any, work: Path, cc: str | None = None, dump_layers: bool = False) -> HostProgram:
    """Compile ``library`` (a tinygen.codegen.Library) with the stdin/stdout main into ``work``; with
    ``dump_layers`` every layer also writes its output to stderr (see :func:`run_layers`)."""
    manifest = library.manifest
    work.mkdir(parents=True, exist_ok=True)
    main = work / "tinygen_host_main.c"
    main.write_text(main_source(manifest))
    exe = work / f"host_{manifest['name']}"
    sources = sorted(str(p) for p in Path(library.out_dir).glob("*.c"))
    hooks: list[str] = []
    if dump_layers:
        header = work / "tinygen_host_hooks.h"
        header.write_text(_HOOKS)
        hooks = ["-include", str(header)]
    cmd = [cc or compiler(), *FLAGS, *hooks, f"-I{library.out_dir}", *sources, str(main), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise TinygenError(f"compiling the generated C on the host failed ({cmd[0]}): {tail[0]}")
    in_bytes = sum(int(p["bytes"]) for p in manifest["inputs"])  # each port's bytes, as the manifest states them
    out_bytes = sum(int(p["bytes"]) for p in manifest["outputs"])
    return HostProgram(exe, manifest["name"], in_bytes, out_bytes)


def run(program: HostProgram, vectors: np.ndarray, timeout: float = 600.0) -> list[bytes]:
    """Run ``vectors`` (one row of int8 core inputs per inference, in order) through one process; every
    inference's output bytes (each core output, one after the other)."""
    return _run(program, vectors, timeout)[0]


def run_layers(program: HostProgram, vector: np.ndarray, timeout: float = 600.0) -> dict[int, bytes]:
    """One inference of a ``dump_layers`` build: each layer's output bytes by layer index."""
    stderr = _run(program, vector.reshape(1, -1), timeout)[1]
    layers, offset = {}, 0
    while offset + 8 <= len(stderr):
        index, size = (int(v) for v in np.frombuffer(stderr, dtype=np.int32, count=2, offset=offset))
        layers[index] = stderr[offset + 8:offset + 8 + size]
        offset += 8 + size
    return layers


def _run(program: HostProgram, vectors: np.ndarray, timeout: float) -> tuple[list[bytes], bytes]:
    data = np.ascontiguousarray(vectors, dtype=np.int8).reshape(len(vectors), -1)
    if data.shape[1] != program.input_bytes:
        raise TinygenError(f"internal error: {data.shape[1]} input bytes per inference, the library takes "
                           f"{program.input_bytes}")
    try:
        proc = subprocess.run([str(program.exe), str(len(data))], input=data.tobytes(), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise TinygenError(f"the host build of {program.name} did not finish {len(data)} inferences in "
                           f"{timeout:g} s") from None
    if proc.returncode != 0:
        raise TinygenError(f"the host build of {program.name} failed (exit status {proc.returncode})")
    size = program.output_bytes
    if len(proc.stdout) != size * len(data):
        raise TinygenError(f"the host build of {program.name} wrote {len(proc.stdout)} bytes, expected "
                           f"{size * len(data)}")
    return [proc.stdout[i * size:(i + 1) * size] for i in range(len(data))], proc.stderr
