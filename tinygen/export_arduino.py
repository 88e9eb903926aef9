"""Package a library written by ``tinygen convert`` as an Arduino library ZIP.

The ZIP installs with the Arduino IDE's *Sketch > Include Library > Add .ZIP Library* (or
``arduino-cli lib install --zip-path``) and holds one folder, ``NAME/``, in the Arduino library
format 1.5::

    NAME/library.properties                            name, version, author, architectures...
    NAME/src/...                                       every file the library's manifest lists
    NAME/examples/NAME_inference/NAME_inference.ino    fill the inputs, time NAME_run(), print

The Arduino build compiles the ``.c`` files of ``src/`` as C (the header has ``extern "C"``
guards, so C++ sketches link to them). The architectures are the Arduino cores of Cortex-M boards
(Arm Mbed OS boards, RP2040, SAMD); a library generated for Helium (``mve``) is refused, as it only
compiles for a Cortex-M55.

The ZIP is deterministic: entries sorted, fixed timestamps and permissions, so the same library
always gives the same bytes. It is written atomically: to a temporary file next to OUT, then
renamed, so OUT is never half-written.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinygen.errors import TinygenError
from tinygen.filewrite import write_file_atomically

#: the Arduino cores of Cortex-M boards: Arduino Mbed OS (Nano 33 BLE, Nano RP2040, Portenta, GIGA),
#: Earle Philhower's / Arduino's RP2040 core and SAMD (Zero, MKR, Nano 33 IoT; Adafruit M4 boards)
ARCHITECTURES = ("mbed", "mbed_nano", "mbed_portenta", "mbed_giga", "rp2040", "samd")
CATEGORY = "Data Processing"
AUTHOR = "tinygen"
#: library.properties' url (the Arduino IDE's "More info" link): empty, the project has no public page yet
PROJECT_URL = ""
#: the fixed timestamp of every ZIP entry (the earliest a ZIP can hold)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: values of each output the example sketch prints
SHOWN_VALUES = 10

_PRINT_CAST = {
    "int8": "int",
    "uint8": "unsigned int",
    "int16": "int",
    "int32": "long",
    "float32": "float",
}
_CTYPE = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "float32": "float",
}


@dataclass(frozen=True)
class ArduinoLibrary:
    """A tinygen library read from its folder, ready to pack."""

    name: str  #: the C prefix (NAME.h, NAME_run...)
    arduino_name: str  #: the library's (and ZIP folder's) name: NAME, made to start with a letter or digit
    manifest: dict[str, Any]
    files: dict[str, bytes]  #: the manifest's files, by path relative to the library folder


# ---------------------------------------------------------------------------------------------
# Reading the library


def read_library(lib_dir: str | Path) -> ArduinoLibrary:
    """Read the tinygen library in ``lib_dir``; a TinygenError says why it is not one."""
    shown = Path(lib_dir)
    path = Path(lib_dir)
    _recover(path)
    if not path.exists():
        raise TinygenError(f"{shown}: no such folder; give the folder 'tinygen convert MODEL -o DIR' wrote")
    if not path.is_dir():
        raise TinygenError(f"{shown} is not a folder; give the folder 'tinygen convert MODEL -o DIR' wrote")
    not_ours = f"{shown} is not a tinygen library folder"
    hint = "run 'tinygen convert MODEL -o DIR' and export DIR"
    # Read everything through one open folder, so that a concurrent 'tinygen convert' replacing the
    # folder (a rename) cannot mix files of two generations.
    try:
        dir_fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise TinygenError(f"cannot read {shown}: {exc.strerror or exc}") from exc
    try:
        try:
            text = _read(dir_fd, "manifest.json").decode("utf-8")
        except FileNotFoundError:
            raise TinygenError(f"{not_ours}: it has no manifest.json; {hint}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TinygenError(f"cannot read {shown / 'manifest.json'}: {_reason(exc)}") from exc
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            raise TinygenError(f"{not_ours}: its manifest.json is not valid JSON ({exc}); {hint}") from exc
        if not isinstance(manifest, dict) or manifest.get("generator") != "tinygen":
            raise TinygenError(f'{not_ours}: its manifest.json does not say "generator": "tinygen"; {hint}')
        name = manifest.get("name")
        listed = manifest.get("files")
        if (
            not isinstance(name, str)
            or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
            or not isinstance(listed, list)
        ):
            raise TinygenError(f"{not_ours}: its manifest.json has no valid name or file list; {hint}")
        for entry in listed:
            if not isinstance(entry, str) or not _safe_relative(entry):
                raise TinygenError(f"{not_ours}: its manifest.json lists a bad file name {entry!r}; {hint}")
        header = f"{name}.h"
        if header not in listed:
            raise TinygenError(f"{not_ours}: its manifest.json does not list the header {header}; {hint}")
        if manifest.get("mve"):
            raise TinygenError(
                f"{shown} was generated for Helium (MVE) and only compiles for a Cortex-M55, which no Arduino "
                "core targets; regenerate it with 'tinygen convert' (portable + DSP kernels) and export that"
            )
        files: dict[str, bytes] = {}
        for entry in sorted(listed):
            try:
                files[entry] = _read(dir_fd, entry)
            except FileNotFoundError:
                raise TinygenError(
                    f"{shown} is incomplete: {entry} (listed by its manifest.json) is missing; regenerate it with "
                    "'tinygen convert'"
                ) from None
            except OSError as exc:
                raise TinygenError(f"cannot read {shown / entry}: {_reason(exc)}") from exc
    finally:
        os.close(dir_fd)
    arduino_name = name if name[0].isalnum() else f"model{name}"
    return ArduinoLibrary(name, arduino_name, manifest, files)


def _recover(path: Path) -> None:
    """Repair what a killed 'tinygen convert' left for ``path`` (best effort: reading may not be allowed
    to write next to the folder, and then there is nothing to repair that we could repair)."""
    from tinygen import outdir

    try:
        outdir.recover(path)
    except (TinygenError, OSError):
        pass


def _read(dir_fd: int, relative: str) -> bytes:
    fd = os.open(relative, os.O_RDONLY, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EISDIR, "not a regular file", relative)
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def _safe_relative(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


# ---------------------------------------------------------------------------------------------
# What goes into the ZIP


def library_version(manifest: dict[str, Any]) -> str:
    """MAJOR.MINOR.PATCH, as library.properties wants: the generating tinygen's version."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(manifest.get("tinygen_version", "")))
    if match is None:
        return "1.0.0"
    return ".".join(part or "0" for part in match.groups())


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def library_properties(lib: ArduinoLibrary) -> str:
    m = lib.manifest
    model = _one_line(m.get("model", lib.name))
    inputs = len(m.get("inputs", [])) or 1
    outputs = len(m.get("outputs", [])) or 1
    paragraph = (
        f"C99 library generated by tinygen: {len(m.get('layers', []))} layers, {int(m.get('total_macs', 0)):,} MACs, "
        f"{inputs} input(s), {outputs} output(s); a static arena of {int(m.get('arena_bytes', 0)):,} bytes, "
        f"{int(m.get('weight_bytes', 0)):,} bytes of weights in flash; no malloc. "
        f"Include {lib.name}.h and call {lib.name}_invoke() or {lib.name}_run()."
    )
    lines = [
        f"name={lib.arduino_name}",
        f"version={library_version(m)}",
        f"author={AUTHOR}",
        f"maintainer={AUTHOR}",
        f"sentence=int8 inference of the model {model} on Cortex-M boards, generated by tinygen.",
        f"paragraph={paragraph}",
        f"category={CATEGORY}",
        f"url={PROJECT_URL}",
        f"architectures={','.join(ARCHITECTURES)}",
        f"includes={lib.name}.h",
    ]
    return "\n".join(lines) + "\n"


def example_sketch(lib: ArduinoLibrary) -> str:
    """The example: fill every input, time NAME_run() with micros(), print the outputs and the time."""
    n = lib.name
    m = lib.manifest
    inputs = m.get("inputs") or [m["input"]]
    outputs = m.get("outputs") or [m["output"]]
    input_bytes = ", ".join(f"{n}_INPUT{i}_BYTES" for i in range(len(inputs)))
    described = "\n".join(
        f' *   input {i} "{_one_line(p.get("name", ""))}": {p["dtype"]} {p.get("shape", [])}'
        + (f", q = round(x / {n}_INPUT{i}_SCALE) + {n}_INPUT{i}_ZERO_POINT" if p.get("scale") is not None else "")
        for i, p in enumerate(inputs)
    )
    printers: list[str] = []
    for i, port in enumerate(outputs):
        dtype = port["dtype"]
        ctype = _CTYPE[dtype]
        quantized = port.get("scale") is not None
        value = "out[k], 4" if dtype == "float32" else f"({_PRINT_CAST[dtype]})out[k]"
        printers += [
            "  {",
            f'    /* output {i} "{_one_line(port.get("name", ""))}": {dtype} {port.get("shape", [])}'
            + (": value (real value)" if quantized else "")
            + " */",
            f"    const {ctype} *out = (const {ctype} *){n}_output_at({i});",
            f'    Serial.print("output {i}:");',
            f"    for (unsigned long k = 0; k < {n}_OUTPUT{i}_SIZE && k < SHOWN_VALUES; ++k) {{",
            "      Serial.print(' ');",
            f"      Serial.print({value});",
        ]
        if quantized:
            printers += [
                '      Serial.print(" (");',
                f"      Serial.print({n}_OUTPUT{i}_SCALE * (float)((long)out[k] - {n}_OUTPUT{i}_ZERO_POINT), 4);",
                "      Serial.print(')');",
            ]
        printers += [
            "    }",
            f'    Serial.println({n}_OUTPUT{i}_SIZE > SHOWN_VALUES ? " ..." : "");',
            "  }",
        ]
    body = "\n".join(printers)
    return f"""/*
 * {n}_inference: run the tinygen model "{_one_line(m.get("model", n))}" and time it.
 *
 * Fills every input (here with zeros: put your own data there), runs {n}_run(), prints the first
 * values of every output and the inference time in microseconds over Serial (115200 baud), once a second.
 *
 * Inputs ({len(inputs)}):
{described}
 * Arena: {int(m.get("arena_bytes", 0))} bytes of RAM; weights: {int(m.get("weight_bytes", 0))} bytes of flash.
 */
#include <{n}.h>

#define SHOWN_VALUES {SHOWN_VALUES}UL

/* The size in bytes of each input buffer {n}_input_at(i). */
static const unsigned long input_bytes[{n}_NUM_INPUTS] = {{{input_bytes}}};

/* Write the model's inputs straight into its buffers (zero-copy). Replace the zeros by your data. */
static void fill_inputs(void) {{
  for (int i = 0; i < {n}_NUM_INPUTS; ++i) {{
    unsigned char *bytes = (unsigned char *){n}_input_at(i);
    for (unsigned long k = 0; k < input_bytes[i]; ++k) {{
      bytes[k] = 0;
    }}
  }}
}}

static void print_outputs(void) {{
{body}
}}

void setup() {{
  Serial.begin(115200);
  while (!Serial && millis() < 3000) {{
    /* boards with native USB: wait a little for the Serial Monitor */
  }}
  Serial.print("{n}: arena ");
  Serial.print((unsigned long){n}_ARENA_SIZE);
  Serial.print(" bytes, weights ");
  Serial.print((unsigned long){n}_WEIGHT_BYTES);
  Serial.println(" bytes");
}}

void loop() {{
  fill_inputs();
  unsigned long start = micros();
  int status = {n}_run();
  unsigned long elapsed = micros() - start;
  if (status != 0) {{
    Serial.print("{n}_run failed: ");
    Serial.println(status);
  }}
  print_outputs();
  Serial.print("inference: ");
  Serial.print(elapsed);
  Serial.println(" us");
  delay(1000);
}}
"""


def zip_entries(lib: ArduinoLibrary) -> dict[str, bytes]:
    """Every file of the ZIP, by path (folders not included)."""
    root = lib.arduino_name
    example = f"{lib.name}_inference"
    entries = {f"{root}/library.properties": library_properties(lib).encode("utf-8")}
    entries[f"{root}/examples/{example}/{example}.ino"] = example_sketch(lib).encode("utf-8")
    for name, data in lib.files.items():
        entries[f"{root}/src/{name}"] = data
    return entries


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A deterministic ZIP of ``entries``: folders listed, entries sorted, fixed times and modes."""
    folders: set[str] = set()
    for path in entries:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folders.add("/".join(parts[:depth]) + "/")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted([*folders, *entries]):
            info = zipfile.ZipInfo(path, ZIP_TIME)
            info.create_system = 3  # Unix, so that the modes below apply when unpacked
            if path.endswith("/"):
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10  # MS-DOS directory flag too
                archive.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(
                    info,
                    entries[path],
                    compress_type=zipfile.ZIP_DEFLATED,
                    compresslevel=9,
                )
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Writing OUT


def export_arduino(lib_dir: str | Path, out: str | Path, force: bool = False) -> ArduinoLibrary:
    """Pack the tinygen library in ``lib_dir`` as the Arduino library ZIP ``out``; return what was read."""
    if not str(out).lower().endswith(".zip"):
        raise TinygenError(
            f"{out}: the output must be a .zip file (the Arduino IDE's Add .ZIP Library offers only those)"
        )
    lib = read_library(lib_dir)
    write_file_atomically(out, zip_bytes(zip_entries(lib)), force=force)
    return lib
