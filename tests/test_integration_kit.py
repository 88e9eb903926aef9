"""The library extras chosen at convert time: class labels and top-k, the caller's arena (NAME_init), --cpu."""

from __future__ import annotations

import subprocess
from pathlib import Path

import hostbuild
import numpy as np
import pytest
from test_codegen import fc_graph

from tinygen import codegen, reference
from tinygen.cli import main

SPEC = {"batch": 1, "in": 24, "out": 10, "activation": "none", "per_channel": True, "bias": True}

_TOP_K_MAIN = r"""
#include <stdio.h>
#include "@NAME@.h"
int main(void)
{
    static int8_t in[@NAME@_INPUT_SIZE], out[@NAME@_OUTPUT_SIZE];
    int top[@NAME@_OUTPUT_SIZE + 2], n, i;
    while (fread(in, sizeof in, 1, stdin) == 1)
    {
        if (@NAME@_invoke(in, out) != 0) return 2;
        n = @NAME@_top_k(@NAME@_OUTPUT_SIZE + 2, top);   /* more than there are: all of them */
        if (n != @NAME@_OUTPUT_SIZE || @NAME@_top_k(-1, top) != -1 || @NAME@_top_k(3, NULL) != -1) return 3;
        printf("%d", @NAME@_argmax());
        for (i = 0; i < n; ++i) printf(" %d", top[i]);
        printf(" %s\n", @NAME@_labels[@NAME@_argmax()]);
    }
    return 0;
}
"""


def test_labels_top_k_and_argmax(tmp_path: Path) -> None:
    graph = fc_graph(4, SPEC)
    labels = [f"class {i}" for i in range(10)]
    lib = codegen.generate(graph, tmp_path / "lib", labels=labels)
    assert lib.manifest["labels"] == labels
    main_c = tmp_path / "main.c"
    main_c.write_text(_TOP_K_MAIN.replace("@NAME@", lib.name))
    exe = tmp_path / "topk"
    subprocess.run(["gcc", *hostbuild.WARNINGS, *hostbuild.SANITIZE, "-O1", f"-I{lib.out_dir}",
                    *map(str, sorted(lib.out_dir.glob("*.c"))), str(main_c), "-o", str(exe)], check=True)
    rng = np.random.default_rng(0)
    xs = rng.integers(-128, 128, (40, 24), dtype=np.int8)
    xs[:4] = 0  # inputs that give ties between outputs
    lines = subprocess.run([str(exe)], input=xs.tobytes(), capture_output=True, check=True).stdout.decode().splitlines()
    assert len(lines) == len(xs)
    for x, line in zip(xs, lines):
        y = reference.run(graph, x.reshape(1, 24))[graph.outputs[0]].reshape(-1).astype(int)
        order = sorted(range(10), key=lambda i: (-y[i], i))  # value descending, then index ascending
        fields = line.split(" ", 11)
        assert [int(f) for f in fields[:11]] == [order[0], *order] and fields[11] == f"class {order[0]}", line


def test_external_arena_is_bit_exact_and_checked(tmp_path: Path) -> None:
    graph = fc_graph(5, SPEC)
    lib = codegen.generate(graph, tmp_path / "lib", arena="external")
    assert lib.manifest["arena"] == "external"
    header = (lib.out_dir / f"{lib.name}.h").read_text()
    assert f"int {lib.name}_init(void *arena, size_t bytes);" in header and f"#define {lib.name}_ARENA_EXTERNAL 1" in header
    # the host harness checks that the run before NAME_init fails, then gives an aligned arena
    xs = np.random.default_rng(1).integers(-128, 128, (6, 24), dtype=np.int8)
    for compiler, sanitize in (("gcc", True), ("clang", False)):
        hb = hostbuild.build(lib.out_dir, lib.manifest, tmp_path / compiler, compiler=compiler, sanitize=sanitize)
        out, _ = hostbuild.run(hb, xs)
        for v, x in enumerate(xs):
            np.testing.assert_array_equal(out[v], reference.run(graph, x.reshape(1, 24))[graph.outputs[0]].reshape(-1))
    # NAME_init refuses NULL, too small and misaligned arenas, and the API fails until it succeeds
    probe = tmp_path / "probe.c"
    probe.write_text(
        f'#include "{lib.name}.h"\n'
        f"static int8_t arena[{lib.name}_ARENA_SIZE + 32] __attribute__((aligned(16)));\n"
        "int main(void) {\n"
        f"  static int8_t in[{lib.name}_INPUT_SIZE], out[{lib.name}_OUTPUT_SIZE];\n"
        f"  if ({lib.name}_init(0, sizeof arena) != -1) return 1;\n"
        f"  if ({lib.name}_init(arena, {lib.name}_ARENA_SIZE - 1) != -1) return 2;\n"
        f"  if ({lib.name}_init(arena + 1, {lib.name}_ARENA_SIZE) != -1) return 3;\n"
        f"  if ({lib.name}_invoke(in, out) != -1 || {lib.name}_input_ptr() != 0 || {lib.name}_output_at(0) != 0) return 4;\n"
        f"  if ({lib.name}_init(arena + 16, {lib.name}_ARENA_SIZE) != 0) return 5;\n"
        f"  return ({lib.name}_invoke(in, out) == 0 && {lib.name}_input_ptr() >= arena + 16 &&\n"
        f"          {lib.name}_input_ptr() < arena + 16 + {lib.name}_ARENA_SIZE) ? 0 : 6;\n}}\n")
    exe = tmp_path / "probe"
    subprocess.run(["gcc", *hostbuild.WARNINGS, *hostbuild.SANITIZE, f"-I{lib.out_dir}",
                    *map(str, sorted(lib.out_dir.glob("*.c"))), str(probe), "-o", str(exe)], check=True)
    assert subprocess.run([str(exe)]).returncode == 0


@pytest.mark.parametrize(("cpu", "mve"), [("cortex-m4", False), ("cortex-m55", True), (None, False)])
def test_cpu_selects_the_kernels(cpu: str | None, mve: bool, shared_models: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    args = ["convert", str(shared_models / "mlperf_kws_dscnn_int8.tflite"), "-o", str(out)] + (["--cpu", cpu] if cpu else [])
    assert main(args) == 0, capsys.readouterr().err
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["mve"] is mve
    assert any("mve" in k for k in manifest["kernels"]) is mve


def test_labels_must_match_the_output(tmp_path: Path, shared_models: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = str(shared_models / "mlperf_kws_dscnn_int8.tflite")
    labels = tmp_path / "labels.txt"
    labels.write_text("yes\nno\n\n")
    out = tmp_path / "lib"
    assert main(["convert", model, "-o", str(out), "--labels", str(labels)]) == 1
    err = capsys.readouterr().err
    assert "2 labels for output 0 'Identity' of 12 values (shape [1, 12])" in err and err.count("\n") == 1, err
    assert not out.exists()
    labels.write_text("\n\n")
    assert main(["convert", model, "-o", str(out), "--labels", str(labels)]) == 1
    assert "holds no labels" in capsys.readouterr().err
    assert main(["convert", model, "-o", str(out), "--labels", str(tmp_path / "missing.txt")]) == 1
    assert "cannot read it" in capsys.readouterr().err


def test_a_keras_command_without_tensorflow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without the [keras] extra, a Keras model gets one line naming it (scripts/check_install.sh checks the same
    in a real venv without TensorFlow)."""
    import sys

    example = Path(__file__).resolve().parent.parent / "examples" / "digits"
    for module in ("keras", "tensorflow"):
        monkeypatch.setitem(sys.modules, module, None)  # importing it now raises ModuleNotFoundError
    out = tmp_path / "lib"
    code = main(["convert", str(example / "digits_cnn.keras"), "--calibration", str(example / "calibration.npy"),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'tinygen[keras]'" in err and err.count("\n") == 1, err
    assert not out.exists()


def test_build_refuses_a_folder_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A user's PlatformIO project is not overwritten: refused before any work, unless --force."""
    example = Path(__file__).resolve().parent.parent / "examples" / "digits" / "digits_cnn_int8.tflite"
    project = tmp_path / "my_project"
    (project / "src").mkdir(parents=True)
    (project / "platformio.ini").write_text("[env:mine]\nboard = nucleo_f746zg\n")
    (project / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    assert main(["build", str(example), "--board", "nucleo_f746", "-o", str(project)]) == 1
    err = capsys.readouterr().err
    assert "holds files tinygen did not write (platformio.ini, src)" in err and "--force" in err, err
    assert (project / "platformio.ini").read_text().startswith("[env:mine]")
    assert sorted(p.name for p in project.iterdir()) == ["platformio.ini", "src"]
    # tinygen's own project folder is rebuilt without --force; a foreign one with it
    ours = tmp_path / "ours"
    assert main(["build", str(example), "--board", "nucleo_f746", "-o", str(ours)]) == 0
    assert main(["build", str(example), "--board", "nucleo_f746", "-o", str(ours)]) == 0
    assert main(["build", str(example), "--board", "nucleo_f746", "-o", str(project), "--force"]) == 0


def test_progress_is_quiet_off_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tinygen import progress

    with progress.step("working"):
        pass
    assert capsys.readouterr() == ("", "")  # not a terminal: nothing at all
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert progress.enabled()
    monkeypatch.setenv("TINYGEN_PROGRESS", "0")
    assert not progress.enabled()
