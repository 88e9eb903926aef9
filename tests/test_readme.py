"""README stays true: its C examples compile against a generated library, and every `tinygen` command line it
shows names an existing command with options that command has."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import hostbuild
import pytest

from tinygen import codegen
from tinygen.cli import main
from tinygen.frontend.tflite import import_tflite

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert blocks("c") and blocks("sh")


@pytest.mark.parametrize("index", range(len(blocks("c"))))
def test_c_example_compiles(index: int, tmp_path: Path) -> None:
    """Each C block, its includes at file scope and its statements in a function, against the library of the
    bundled example model (named as the block's #include says), with -Wall -Wextra -Werror -pedantic."""
    block = blocks("c")[index]
    includes = [line for line in block.splitlines() if line.startswith("#include")]
    body = [line for line in block.splitlines() if not line.startswith("#include")]
    names = [m.group(1) for line in includes if (m := re.match(r'#include "(\w+)\.h"', line))]
    assert names, f"C block {index} includes no generated library header"
    lib = codegen.generate(import_tflite(REPO / "examples" / "digits" / "digits_cnn_int8.tflite"), tmp_path / "lib",
                           name=names[0])
    source = tmp_path / "example.c"
    source.write_text("\n".join(includes) + "\nint example(void);\nint example(void)\n{\n"
                      + "\n".join(f"    {line}" for line in body if line.strip())
                      + "\n    return 0;\n}\n")
    cmd = ["gcc", *hostbuild.WARNINGS, "-Wno-unused-variable", f"-I{lib.out_dir}", "-c", str(source),
           "-o", str(tmp_path / "example.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"README C block {index} does not compile:\n{block}\n{proc.stderr}"


def command_lines() -> list[list[str]]:
    lines = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():  # a command continued with a backslash: one line
            line = line.split("  #")[0].strip()
            if line.startswith("tinygen "):
                lines.append(shlex.split(line)[1:])
    return lines


@pytest.mark.parametrize("args", command_lines(), ids=lambda a: " ".join(a[:2]))
def test_command_line_names_real_options(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    words = [a for a in args if not a.startswith("-")]
    # the command (and a subcommand: "export arduino") whose --help lists the options
    for depth in (2, 1):
        if main([*words[:depth], "--help"]) == 0:
            help_text = capsys.readouterr().out
            break
    else:
        pytest.fail(f"README: 'tinygen {' '.join(args)}' names no tinygen command")
    for option in (a.split("=")[0] for a in args if a.startswith("-")):
        assert re.search(rf"(^|[\s,/]){re.escape(option)}([\s,=/]|$)", help_text, re.MULTILINE), (
            f"README: 'tinygen {' '.join(args)}': {option} is not an option of that command:\n{help_text}")
