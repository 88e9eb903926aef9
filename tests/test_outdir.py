"""Output folders (tinygen/outdir.py): clean errors for unusable paths, recovery after a killed run,
the umask, and the --force rules.

Kills are real: a forked child runs :func:`write_atomically` and SIGKILLs itself before (or in the
middle of) its N-th primitive step, for every N; the parent then checks what is on disk, recovers
and runs again.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tinygen import outdir
from tinygen.errors import TinygenError
from tinygen.outdir import explain, foreign_files, recover, write_atomically

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
USER = {"notes.txt": b"mine\n", "sub/data.bin": b"\x00\x01\x02"}


def lib(tag: str) -> dict[str, str]:
    """A small library as codegen renders it: three sources and a manifest listing them all."""
    files = {"m.h": f"/* {tag} */\n", "m.c": f'#include "m.h"\nint m_{tag};\n', "m_weights.c": f"const int w_{tag};\n"}
    files["manifest.json"] = json.dumps({"generator": "tinygen", "name": tag, "files": sorted([*files, "manifest.json"])})
    return files


def as_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode() for name, text in files.items()}


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under ``folder`` (relative posix path -> bytes), or None when it does not exist."""
    if not os.path.lexists(folder):
        return None
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def make_user_folder(folder: Path) -> None:
    for name, data in USER.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def siblings(parent: Path) -> list[str]:
    return sorted(os.listdir(parent))


V1, V2, V3 = lib("v1"), lib("v2"), lib("v3")


# --------------------------------------------------------------------------- normal use and --force


def test_write_and_replace_own_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    assert snapshot(out) == as_bytes(V1)
    write_atomically(out, V2, False)  # our own output is replaced without --force
    assert snapshot(out) == as_bytes(V2)
    assert siblings(tmp_path) == ["out"], "no temporary folders or lock file are left behind"


def test_foreign_files(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write_atomically(folder, V1, False)
    assert foreign_files(folder) == []
    (folder / "extra.c").write_text("int x;\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "deep.h").write_text("\n")
    (folder / "link").symlink_to(tmp_path)
    assert foreign_files(folder) == ["extra.c", "link", "sub/deep.h"]
    (folder / "manifest.json").write_text(json.dumps({"generator": "someone", "files": sorted(V1)}))
    assert foreign_files(folder) == sorted([*V1, "extra.c", "link", "sub/deep.h"])
    (folder / "manifest.json").write_text("{not json")
    assert "m.c" in foreign_files(folder)
    (folder / "manifest.json").write_text(json.dumps({"generator": "tinygen", "files": [["m.c"], "m.h", 3]}))
    assert foreign_files(folder) == sorted(["extra.c", "link", "sub/deep.h", "m.c", "m_weights.c", "manifest.json"])


def test_foreign_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    make_user_folder(out)
    with pytest.raises(TinygenError, match=r"out already holds files tinygen did not generate \(notes.txt, sub/data.bin\).*--force"):
        write_atomically(out, V1, False)
    assert snapshot(out) == USER and siblings(tmp_path) == ["out"]
    write_atomically(out, V1, True)
    assert snapshot(out) == as_bytes(V1) and siblings(tmp_path) == ["out"]


def test_file_in_place_of_the_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file\n")
    with pytest.raises(TinygenError, match=r"out exists and is not a directory.*--force"):
        write_atomically(out, V1, False)
    assert out.read_text() == "a file\n"
    write_atomically(out, V1, True)
    assert snapshot(out) == as_bytes(V1) and siblings(tmp_path) == ["out"]


def test_symlinked_output_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    write_atomically(target, V1, False)
    out = tmp_path / "out"
    out.symlink_to(target)
    write_atomically(out, V2, False)
    assert not out.is_symlink() and snapshot(out) == as_bytes(V2)
    assert snapshot(target) == as_bytes(V1), "the link's target is never touched"
    assert siblings(tmp_path) == ["out", "target"]


def test_files_appearing_while_writing_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    real = outdir._write_file

    def and_the_user_writes(path: Path, text: str) -> None:
        (out / "late.txt").write_text("typed meanwhile\n")
        real(path, text)

    monkeypatch.setattr(outdir, "_write_file", and_the_user_writes)
    with pytest.raises(TinygenError, match=r"received, while tinygen was writing, files .* \(late.txt\).*--force"):
        write_atomically(out, V2, False)
    assert snapshot(out) == as_bytes(V1) | {"late.txt": b"typed meanwhile\n"}
    assert siblings(tmp_path) == ["out"]


def test_bad_file_sets_are_programming_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="manifest.json"):
        write_atomically(tmp_path / "a", {"m.c": ""}, False)
    wrong = dict(V1)
    wrong["manifest.json"] = json.dumps({"generator": "tinygen", "files": ["m.c"]})
    with pytest.raises(ValueError, match="list exactly"):
        write_atomically(tmp_path / "a", wrong, False)
    escaping = dict(V1) | {"../x.c": ""}
    with pytest.raises(ValueError, match="bad output file name"):
        write_atomically(tmp_path / "a", escaping, False)
    assert siblings(tmp_path) == []


# --------------------------------------------------------------------------- paths that cannot work


@pytest.mark.parametrize("below", ["lib", "a/lib", "a/b/c/lib"])
def test_file_in_the_way_of_a_parent(tmp_path: Path, below: str) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("data\n")
    out = blocker / below
    with pytest.raises(TinygenError, match=rf"cannot write the output folder {re.escape(str(out))}: "
                                           rf"{re.escape(str(blocker))} is in the way: it exists and is not a folder"):
        write_atomically(out, V1, False)
    assert siblings(tmp_path) == ["f"] and blocker.read_text() == "data\n"


@pytest.mark.parametrize("relative", ["A", "A/lib", "new/A", "new/A/lib"])
def test_name_too_long(tmp_path: Path, relative: str) -> None:
    out = tmp_path / relative.replace("A", "a" * 300)
    with pytest.raises(TinygenError, match=r"cannot write the output folder .*aaaa.*: the name a+\.\.\. is 300 bytes long "
                                           r"but the file system allows at most 255; choose a shorter"):
        write_atomically(out, V1, False)
    assert siblings(tmp_path) == [], "nothing is created, not even the parents"


def test_name_too_long_for_the_os_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the up-front check, the OS's own ENAMETOOLONG is explained and leaves nothing behind."""
    monkeypatch.setattr(outdir, "_check_path", lambda out, shown: None)
    out = tmp_path / ("a" * 300)
    with pytest.raises(TinygenError, match=r"a name in the path is too long for the file system; choose a shorter"):
        write_atomically(out, V1, False)
    assert siblings(tmp_path) == []


def test_long_valid_name_uses_short_sibling_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "n" * 250  # valid, but ".NAME.tmp-XXXXXXXX" would not be
    made: list[str] = []
    real = outdir._mkdir

    def record(path: Path) -> None:
        made.append(path.name)
        real(path)

    monkeypatch.setattr(outdir, "_mkdir", record)
    write_atomically(tmp_path / name, V1, False)
    write_atomically(tmp_path / name, V2, False)
    assert snapshot(tmp_path / name) == as_bytes(V2) and siblings(tmp_path) == [name]
    assert len(made) == 2 and all(re.fullmatch(r"\.tinygen-[0-9a-f]{32}\.tmp-[a-z0-9_]{8}", m) for m in made), made


@pytest.mark.parametrize("path", ["/proc/self/tinygen-out", "/proc/self/tinygen-out/lib", "/proc/tinygen-out"])
def test_virtual_proc_file_system(path: str) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    with pytest.raises(TinygenError, match=rf"cannot write the output folder {re.escape(path)}: /proc\S* does not accept "
                                           r"new files or folders .*choose an output folder on a real disk"):
        write_atomically(Path(path), V1, False)
    assert not os.path.lexists(path)


def test_sys_file_system() -> None:
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys on this system")
    with pytest.raises(TinygenError, match=r"cannot write the output folder /sys/kernel/tinygen-out: "
                                           r"(no permission to write in /sys/kernel|/sys/kernel is on a read-only)"):
        write_atomically(Path("/sys/kernel/tinygen-out"), V1, False)
    assert not os.path.lexists("/sys/kernel/tinygen-out")


@pytest.mark.skipif(IS_ROOT, reason="root ignores permission bits")
def test_no_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    write_atomically(locked / "out", V1, False)
    locked.chmod(0o500)
    try:
        with pytest.raises(TinygenError, match=rf"no permission to write in {re.escape(str(locked))}"):
            write_atomically(locked / "out", V2, False)
        with pytest.raises(TinygenError, match=r"no permission"):
            write_atomically(locked / "new" / "out", V2, False)
    finally:
        locked.chmod(0o700)
    assert snapshot(locked / "out") == as_bytes(V1) and siblings(locked) == ["out"]


def test_current_folder_and_root_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    (out / "inner").mkdir()
    monkeypatch.chdir(out / "inner")
    for path in (Path(".."), out, Path("../..") / "out"):
        with pytest.raises(TinygenError, match=r"it is \(or contains\) the current folder"):
            write_atomically(path, V2, True)
    assert (out / "inner").is_dir() and (out / "m.c").read_text() == V1["m.c"]
    with pytest.raises(TinygenError, match=r"output folder /: it is the root folder"):
        write_atomically(Path("/"), V2, True)


ERRORS = [
    (errno.EROFS, r"\S+ is on a read-only file system; choose an output folder on a writable disk"),
    (errno.EACCES, r"no permission to write in .*choose an output folder you can write to"),
    (errno.EPERM, r"no permission to write in "),
    (errno.ENOSPC, r"no space left \(or over quota\) writing .*free some space"),
    (errno.EDQUOT, r"no space left \(or over quota\)"),
    (errno.EIO, r"Input/output error \(.*\); choose another output folder"),
]


@pytest.mark.parametrize("code, message", ERRORS)
@pytest.mark.parametrize("step", ["_mkdir", "_write_file", "_rename"])
def test_os_errors_are_clean_and_leave_the_old_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      code: int, message: str, step: str) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    real: Callable[..., None] = getattr(outdir, step)
    calls = {"n": 0}

    def failing(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2 or step == "_mkdir":
            raise OSError(code, os.strerror(code), str(args[0]))
        real(*args)

    monkeypatch.setattr(outdir, step, failing)
    with pytest.raises(TinygenError, match=rf"^cannot write the output folder {re.escape(str(out))}: {message}"):
        write_atomically(out, V2, False)
    assert snapshot(out) == as_bytes(V1), "the previous output is intact"
    assert siblings(tmp_path) == ["out"], "no half-written output"


def test_explain_for_other_writers(tmp_path: Path) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    with pytest.raises(OSError) as raised:
        (blocker / "src").mkdir(parents=True)
    error = explain(raised.value, blocker / "project")
    assert str(error) == (f"cannot write the output folder {blocker / 'project'}: {blocker} is in the way: it exists "
                          "and is not a folder; move it away or choose another output folder")


def test_failure_removes_the_parents_it_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(path: Path, text: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(outdir, "_write_file", full)
    with pytest.raises(TinygenError, match="no space left"):
        write_atomically(tmp_path / "a" / "b" / "out", V1, False)
    assert siblings(tmp_path) == []


def test_interrupt_restores_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    real = outdir._rename

    def interrupted(src: Path, dst: Path) -> None:
        real(src, dst)
        if dst.name.startswith(".out.old-"):  # W8 done: neither library is at out
            raise KeyboardInterrupt

    monkeypatch.setattr(outdir, "_rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(out, V2, False)
    assert snapshot(out) == as_bytes(V1) and siblings(tmp_path) == ["out"]


# --------------------------------------------------------------------------- the umask


@pytest.mark.parametrize("mask", [0o027, 0o002, 0o077])
def test_umask_is_honoured(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        out = tmp_path / "p" / "q" / "out"
        write_atomically(out, V1, False)
        for folder in (tmp_path / "p", tmp_path / "p" / "q", out):
            assert folder.stat().st_mode & 0o7777 == 0o777 & ~mask, folder
        for file in out.iterdir():
            assert file.stat().st_mode & 0o7777 == 0o666 & ~mask, file
        os.umask(0o022)
        write_atomically(out, V2, False)  # a replacement gets the umask of its own run
        assert out.stat().st_mode & 0o7777 == 0o755
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- killed runs

PRIMITIVES = ("_mkdir", "_write_file", "_rename", "_remove")


def run_in_child(out: Path, files: dict[str, str], force: bool, kill_at: int, midway: bool) -> list[str] | None:
    """Run write_atomically in a forked child that SIGKILLs itself at its kill_at-th primitive step
    (before it, or halfway through writing a file / deleting a tree when ``midway``). Returns the
    steps it took when it ran to the end, None when it was killed."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 3
        try:
            os.close(read_end)
            steps: list[str] = []

            def wrap(name: str, real: Callable[..., None]) -> Callable[..., None]:
                def step(*args: Any) -> None:
                    steps.append(name)
                    if len(steps) == kill_at:
                        if midway and name == "_write_file":
                            path, text = args
                            path.write_text(text[: len(text) // 2])
                        elif midway and name == "_remove" and args[0].is_dir():
                            next(p for p in args[0].rglob("*") if p.is_file()).unlink()
                        os.kill(os.getpid(), signal.SIGKILL)
                    real(*args)
                return step

            for name in PRIMITIVES:
                setattr(outdir, name, wrap(name, getattr(outdir, name)))
            write_atomically(out, files, force)
            os.write(write_end, json.dumps(steps).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return None
    assert os.WEXITSTATUS(status) == 0, "the child failed"
    steps_taken: list[str] = json.loads(report)
    return steps_taken


def kill_points(steps: list[str]) -> Iterator[tuple[int, bool]]:
    for index, name in enumerate(steps, start=1):
        yield index, False
        if name in ("_write_file", "_remove"):
            yield index, True


DEBRIS = re.compile(r"\.out\.(lock|tmp-[a-z0-9_]{8}|del-[a-z0-9_]{8}|old-[a-z0-9_]{8}(\.forced)?)")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("before", ["nothing", "tinygen", "user"])
def test_killed_at_every_step_is_recovered(tmp_path: Path, before: str) -> None:
    force = before == "user"

    def prepare(parent: Path) -> Path:
        parent.mkdir()
        out = parent / "out"
        if before == "tinygen":
            write_atomically(out, V1, False)
        elif before == "user":
            out.mkdir()
            make_user_folder(out)
        return out

    previous = {"nothing": None, "tinygen": as_bytes(V1), "user": USER}[before]
    steps = run_in_child(prepare(tmp_path / "count"), V2, force, 0, False)
    assert steps is not None
    expected = {"nothing": 7, "tinygen": 10, "user": 10}[before]  # mkdir, 5 writes/renames in tmp, W9 (+W8, W10, W11)
    assert len(steps) == expected, steps
    assert snapshot(tmp_path / "count" / "out") == as_bytes(V2)
    for kill_at, midway in kill_points(steps):
        parent = tmp_path / f"kill{kill_at}{'m' if midway else ''}"
        out = prepare(parent)
        assert run_in_child(out, V2, force, kill_at, midway) is None
        # right after the kill: the output is the old one, the new one, or (W8..W9) missing
        killed = snapshot(out)
        assert killed in (previous, as_bytes(V2), None)
        assert all(DEBRIS.fullmatch(n) for n in siblings(parent) if n != "out"), siblings(parent)
        complete_tmp = any((parent / n / "manifest.json").is_file() for n in siblings(parent) if ".tmp-" in n)
        recover(out)
        recovered = snapshot(out)
        if killed is not None:
            assert recovered == killed
        elif previous is not None:
            assert recovered == previous, "rolled back to the previous output"
        else:
            assert recovered == (as_bytes(V2) if complete_tmp else None), "a complete staging folder rolls forward"
        assert siblings(parent) == ([] if recovered is None else ["out"]), f"debris left after kill at {kill_at}"
        # the next run
        if recovered == USER:
            with pytest.raises(TinygenError, match="--force"):
                write_atomically(out, V3, False)
            assert snapshot(out) == USER and siblings(parent) == ["out"]
        write_atomically(out, V3, force)
        assert snapshot(out) == as_bytes(V3) and siblings(parent) == ["out"]


def debris(parent: Path, name: str, content: dict[str, str] | dict[str, bytes] | None) -> Path:
    path = parent / name
    path.mkdir()
    for file, data in (content or {}).items():
        (path / file).parent.mkdir(parents=True, exist_ok=True)
        (path / file).write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def incomplete(files: dict[str, str]) -> dict[str, str]:
    """A staging folder killed during W6: the marker and one of the files."""
    return {outdir.STAGING: files["manifest.json"], "m.c": files["m.c"][:5]}


def test_missing_output_is_restored_from_the_previous_one(tmp_path: Path) -> None:
    debris(tmp_path, ".out.old-abcdefgh", V1)
    debris(tmp_path, ".out.tmp-abcdefgh", V2)  # complete, but the run never finished: roll back
    debris(tmp_path, ".out.tmp-zzzzzzzz", incomplete(V3))
    recover(tmp_path / "out")
    assert snapshot(tmp_path / "out") == as_bytes(V1) and siblings(tmp_path) == ["out"]


def test_missing_output_rolls_forward_to_a_complete_staging_folder(tmp_path: Path) -> None:
    debris(tmp_path, ".out.tmp-abcdefgh", V2)
    debris(tmp_path, ".out.tmp-zzzzzzzz", incomplete(V3))
    (tmp_path / ".out.lock").write_text("")
    write_atomically(tmp_path / "x", V1, False)  # another output folder recovers nothing of out's
    assert siblings(tmp_path) == [".out.lock", ".out.tmp-abcdefgh", ".out.tmp-zzzzzzzz", "x"]
    recover(tmp_path / "out")
    assert snapshot(tmp_path / "out") == as_bytes(V2) and siblings(tmp_path) == ["out", "x"]


def test_missing_output_restores_user_data_moved_aside_by_force(tmp_path: Path) -> None:
    moved = debris(tmp_path, ".out.old-abcdefgh.forced", None)
    make_user_folder(moved)
    debris(tmp_path, ".out.tmp-abcdefgh", V2)
    with pytest.raises(TinygenError, match="--force"):  # the start of a write recovers, then refuses
        write_atomically(tmp_path / "out", V3, False)
    assert snapshot(tmp_path / "out") == USER and siblings(tmp_path) == ["out"]


def test_only_tinygen_debris_of_this_folder_is_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    user_old = debris(tmp_path, ".out.old-aaaaaaaa", V1)  # looks like ours, but holds a user file too
    (user_old / "notes.txt").write_text("mine\n")
    user_tmp = debris(tmp_path, ".out.tmp-bbbbbbbb", {"notes.txt": "mine\n"})  # no manifest: not clearly ours
    partial_manifest = debris(tmp_path, ".out.tmp-cccccccc", {"manifest.json": '{"generator": "tin', "m.c": "int"})
    other = debris(tmp_path, ".other.tmp-dddddddd", V2)  # another output folder's
    odd = debris(tmp_path, ".out.tmp-abc", None)  # not the pattern
    plain = debris(tmp_path, "out.tmp-eeeeeeee", None)  # not hidden: not ours
    kept = {p.name: snapshot(p) for p in (user_old, user_tmp, partial_manifest, other, odd, plain)}
    debris(tmp_path, ".out.tmp-ffffffff", None)  # empty: ours (killed right after W5)
    debris(tmp_path, ".out.tmp-gggggggg", incomplete(V2))  # killed during W6
    debris(tmp_path, ".out.tmp-hhhhhhhh", {outdir.STAGING: '{"gener'})  # killed while writing the marker
    debris(tmp_path, ".out.tmp-iiiiiiii", V2)  # complete, made obsolete (killed between W7 and W8)
    debris(tmp_path, ".out.old-jjjjjjjj", V1)  # our previous library (killed between W9 and W10)
    forced = debris(tmp_path, ".out.old-kkkkkkkk.forced", None)  # replaced under --force
    make_user_folder(forced)
    condemned = debris(tmp_path, ".out.del-llllllll", {"m.h": "x"})  # killed during W11
    (tmp_path / ".out.lock").write_text("")  # a killed run's lock file
    write_atomically(out, V2, False)
    assert snapshot(out) == as_bytes(V2)
    assert siblings(tmp_path) == sorted(["out", *kept])
    assert {name: snapshot(tmp_path / name) for name in kept} == kept, "what is not clearly ours is untouched"
    assert not condemned.exists()


# --------------------------------------------------------------------------- two writers


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_atomically(out, V1, False)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the first writer: pauses after its first file, holding the lock
        status = 3
        try:
            real = outdir._write_file
            paused = []

            def pausing(path: Path, text: str) -> None:
                real(path, text)
                if not paused:
                    paused.append(True)
                    os.write(ready_w, b"r")
                    os.read(go_r, 1)

            outdir._write_file = pausing  # type: ignore[assignment]  # only in this child
            write_atomically(out, V2, False)
            status = 0
        finally:
            os._exit(status)
    second = threading.Thread(target=write_atomically, args=(out, V3, False), daemon=True)
    try:
        assert os.read(ready_r, 1) == b"r"
        staging = [n for n in siblings(tmp_path) if n.startswith(".out.tmp-")]
        assert len(staging) == 1
        second.start()
        time.sleep(0.3)
        assert second.is_alive(), "the second writer waits for the lock"
        assert (tmp_path / staging[0]).is_dir(), "and does not take the first writer's staging folder for debris"
    finally:
        os.write(go_w, b"g")
        _, status = os.waitpid(pid, 0)
    second.join(timeout=30)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and not second.is_alive()
    assert snapshot(out) == as_bytes(V3), "the second writer ran last"
    assert siblings(tmp_path) == ["out"]
    for fd in (ready_r, ready_w, go_r, go_w):
        os.close(fd)
