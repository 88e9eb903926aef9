"""Output folders: how tinygen replaces a generated library folder without ever losing it.

:func:`write_atomically` puts a set of rendered files into an output folder ``P/NAME`` so that
``P/NAME`` always holds either the complete previous content or the complete new library, never a
mix, and so that a run stopped at any point (SIGKILL, a crash, Ctrl-C) is cleaned up and
repaired by the next run for the same folder. :func:`foreign_files` tells which files in a
folder tinygen did not write (the ``--force`` check).

Names
-----
Everything tinygen creates next to the output folder is a hidden sibling in ``P`` whose name
starts with ``.TAG.`` where ``TAG`` is ``NAME`` (or, for a NAME longer than 200 bytes,
``tinygen-`` and 32 hex digits of its SHA-256, so the sibling names still fit the file
system's 255-byte limit). ``R`` is 8 random characters from ``[a-z0-9_]``:

* ``.TAG.lock``        - the lock file (``flock``), held for the whole operation;
* ``.TAG.tmp-R``       - the staging folder the new library is written into;
* ``.TAG.old-R``       - the previous output folder, moved aside (a tinygen library);
* ``.TAG.old-R.forced``- the previous output folder moved aside under ``--force``: it may hold
  the user's own files, which the user agreed to replace;
* ``.TAG.del-R``       - a previous output folder condemned after the new one is in place.

Inside a staging folder, ``.tinygen-staging.json`` holds the manifest text while the files are
being written; renaming it to ``manifest.json`` is what makes the staging folder *complete*.

Write protocol
--------------
``files`` must contain ``manifest.json`` with ``"generator": "tinygen"`` and ``"files"`` listing
exactly the file names written (that is how later runs recognise tinygen's output).

W0. Refuse, before touching the disk, paths that cannot work: a name longer than the file
    system allows (ENAMETOOLONG), the root folder, or a folder holding the current directory.
W1. Create the missing parents of ``P/NAME`` (mode ``0o777 & ~umask``, like ``mkdir -p``).
W2. Open and ``flock`` ``P/.TAG.lock``; a second tinygen writing the same folder waits here.
W3. Recover (below): repair and clean up what an earlier, killed run left.
W4. Check the existing ``P/NAME``: a non-folder, or a folder holding files not listed by its
    tinygen manifest, is refused unless ``force`` (nothing has been written yet).
W5. ``mkdir P/.TAG.tmp-R`` with mode ``0o777`` so the umask applies: the final folder gets
    exactly the mode a plain ``mkdir`` gives (files get ``0o666 & ~umask``).
W6. Write ``tmp-R/.tinygen-staging.json`` (the manifest text), then every other file.
W7. Rename ``tmp-R/.tinygen-staging.json`` to ``tmp-R/manifest.json``: ``tmp-R`` is complete.
W8. If ``P/NAME`` exists: rename it to ``P/.TAG.old-R`` (``.TAG.old-R.forced`` under ``force``).
    Without ``force``, if files tinygen did not write appeared in it since W4, rename it back,
    delete ``tmp-R`` and refuse.
W9. Rename ``tmp-R`` to ``P/NAME``: the new library is in place.
W10. Rename a previous folder ``old-R`` to ``P/.TAG.del-R`` (a file or symlink is just unlinked),
W11. then delete ``del-R`` (best effort: what cannot be deleted now is deleted by the next run).
W12. Unlink the lock file, then release the lock (a waiting run notices the lock file changed
     and takes a fresh one).

Any error before W9 deletes ``tmp-R``, puts the previous folder back if W8 moved it, removes the
parents W1 created, and raises :class:`~tinygen.errors.TinygenError` naming the output folder,
the cause (file in the way, name too long, read-only or virtual file system, permission, disk
full...) and what to do. ``P/NAME`` is then exactly as it was before the call.

Recovery (W3; also :func:`recover`)
-----------------------------------
Under the lock, only entries of ``P`` whose whole name matches the patterns above for this TAG
are considered (other folders' debris and anything else are never touched):

R1. If ``P/NAME`` is missing (a run was killed between W8 and W9, or between W7 and W9 when
    there was no previous folder): rename the newest ``old-R``/``old-R.forced`` back to
    ``P/NAME`` (roll back: the killed run never finished); if there is none, rename the newest
    *complete* ``tmp-R`` (``manifest.json`` present and valid, no staging marker, every listed
    file present, nothing else) to ``P/NAME`` (roll forward).
R2. Delete every ``del-R`` (killed during W10-W11: its content was already replaced).
R3. Delete every ``tmp-R`` that is clearly tinygen's: a real folder that is empty, or whose every
    entry is the staging marker, ``manifest.json`` or a file listed by either (killed in W5-W8,
    or a complete one made obsolete by R1). Anything else is left alone.
R4. If ``P/NAME`` exists: delete every ``old-R.forced`` (killed between W9 and W10: the user
    passed ``--force`` for it) and every ``old-R`` that is clearly tinygen's as in R3. An
    ``old-R`` holding other files is left alone: tinygen never deletes data nobody agreed to
    replace.

A stale lock file left by a killed run is simply reused and unlinked at W12. Without ``fcntl``
(Windows) there is no lock, so concurrent runs on one folder are not serialised there.

A SIGKILL between any two steps therefore leaves, after the next run's recovery, ``P/NAME``
holding either the previous content or the complete new library and no tinygen debris. (Power
loss is a different matter: files are not fsync'ed.)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from tinygen.errors import TinygenError

_fcntl: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None

MANIFEST = "manifest.json"
#: the manifest's name while the staging folder is incomplete
STAGING = ".tinygen-staging.json"
#: NAMEs longer than this (in bytes) are hashed in sibling names so those fit in 255 bytes
_TAG_MAX = 200
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_TOKEN = "[a-z0-9_]{8}"


# ---------------------------------------------------------------------------------------------
# Public API


def foreign_files(out_dir: Path) -> list[str]:
    """Files in ``out_dir`` that a previous tinygen generation did not write (sorted, relative)."""
    present = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file() or p.is_symlink())
    ours = _listed(out_dir / MANIFEST) or set()
    return [p for p in present if p not in ours]


def write_atomically(out_dir: Path, files: dict[str, str], force: bool) -> None:
    """Replace ``out_dir`` by a folder holding exactly ``files`` (name -> text), atomically.

    ``files`` must include ``manifest.json`` (see the module docstring). An existing ``out_dir``
    that is not a folder, or holds files its tinygen manifest does not list, is refused unless
    ``force``. Every file-system failure is a :class:`TinygenError` and leaves ``out_dir`` as it
    was; a malformed ``files`` (no or wrong manifest, unsafe names) is a ValueError.
    """
    _check_files(files)
    out = _absolute(Path(out_dir))
    _check_path(out, out_dir)
    created: list[Path] = []
    try:
        make_parents(out.parent, created)
        with _locked(out):
            _recover(out)
            _check_existing(out, out_dir, force)
            _replace(out, out_dir, files, force)
    except OSError as exc:
        remove_created(created)
        raise _explain(exc, out, out_dir) from exc
    except BaseException:
        remove_created(created)
        raise


def recover(out_dir: Path) -> None:
    """Repair and clean up what a killed :func:`write_atomically` left for ``out_dir`` (steps R1-R4).

    Does nothing when ``out_dir``'s parent folder does not exist. Readers may call it before
    opening a generated library; :func:`write_atomically` always does.
    """
    out = _absolute(Path(out_dir))
    if not out.parent.is_dir():
        return
    try:
        with _locked(out):
            _recover(out)
    except OSError as exc:
        raise _explain(exc, out, out_dir) from exc


def explain(exc: OSError, out_dir: Path) -> TinygenError:
    """The TinygenError to raise for ``exc``, met while writing the user's output folder ``out_dir``
    (for other writers of user-chosen folders: ``except OSError as exc: raise explain(exc, out) from exc``)."""
    return _explain(exc, _absolute(Path(out_dir)), out_dir)


# ---------------------------------------------------------------------------------------------
# Primitive steps (module functions so that tests can interrupt the protocol between any two)


def _mkdir(path: Path) -> None:
    os.mkdir(path, 0o777)  # the umask applies, as for a plain mkdir


def _write_file(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _rename(src: Path, dst: Path) -> None:
    os.rename(src, dst)


def _remove(path: Path) -> None:
    """Delete a file, a symlink (never its target) or a folder tree."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
    else:
        shutil.rmtree(path)


# ---------------------------------------------------------------------------------------------
# The protocol


def _tag(name: str) -> str:
    raw = os.fsencode(name)
    if len(raw) <= _TAG_MAX:
        return name
    return "tinygen-" + hashlib.sha256(raw).hexdigest()[:32]


def _debris_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(tag)}\.(?:(?P<kind>tmp|del)-{_TOKEN}|old-{_TOKEN}(?P<forced>\.forced)?)")


def _check_files(files: dict[str, str]) -> None:
    if MANIFEST not in files:
        raise ValueError(f"write_atomically needs a {MANIFEST} among the files")
    for name in files:
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or name == STAGING:
            raise ValueError(f"bad output file name {name!r}")
    try:
        manifest = json.loads(files[MANIFEST])
    except ValueError as exc:
        raise ValueError(f"{MANIFEST} is not JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("generator") != "tinygen":
        raise ValueError(f'{MANIFEST} must say "generator": "tinygen"')
    if sorted(manifest.get("files", [])) != sorted(files):
        raise ValueError(f'{MANIFEST} "files" must list exactly the files written')


def _absolute(out: Path) -> Path:
    out = out.absolute()
    if out.name in ("", ".."):
        out = out.resolve()
    return out


def _name_max(path: Path) -> int:
    probe = path
    while not os.path.isdir(probe) and probe != probe.parent:
        probe = probe.parent
    try:
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _check_path(out: Path, shown: Path) -> None:
    """W0: refuse paths that cannot work before anything is created."""
    if out.name == "":
        raise TinygenError(f"cannot write the output folder {shown}: it is the root folder; choose a subfolder")
    name_max = _name_max(out)
    for part in out.parts[1:]:
        if len(os.fsencode(part)) > name_max:
            raise TinygenError(
                f"cannot write the output folder {shown}: the name {part[:24]}... is {len(os.fsencode(part))} bytes "
                f"long but the file system allows at most {name_max}; choose a shorter output folder name"
            )
    try:
        cwd = Path.cwd().resolve()
        inside = os.path.isdir(out) and cwd.is_relative_to(out.resolve())
    except OSError:
        inside = False
    if inside:
        raise TinygenError(
            f"cannot replace the output folder {shown}: it is (or contains) the current folder; choose another "
            "output folder or run tinygen from elsewhere"
        )


def make_parents(parent: Path, created: list[Path]) -> None:
    """W1: ``mkdir -p parent``, recording the folders made (so a failure can remove them)."""
    missing: list[Path] = []
    probe = parent
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            _mkdir(folder)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        created.append(folder)


def remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """W2/W12: hold ``P/.TAG.lock`` (flock); unlinked before release so waiters re-lock a fresh one."""
    if _fcntl is None:  # pragma: no cover - Windows: a portable lock file (no unlink-on-release protocol needed)
        from filelock import FileLock

        with FileLock(str(out.parent / f".{_tag(out.name)}.lock")):
            yield
        return
    lock = out.parent / f".{_tag(out.name)}.lock"
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        fd = os.open(lock, flags, 0o666)
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                os.close(fd)
                raise
            # a file system without flock: go on unlocked rather than fail
        except BaseException:
            os.close(fd)
            raise
        try:
            on_disk: os.stat_result | None = os.lstat(lock)
        except FileNotFoundError:
            on_disk = None
        except BaseException:
            os.close(fd)
            raise
        held = os.fstat(fd)
        if on_disk is not None and (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the holder before us unlinked it: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


def _listed(manifest: Path) -> set[str] | None:
    """The files a tinygen manifest lists, or None when ``manifest`` is not one."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("generator") != "tinygen" or not isinstance(data.get("files"), list):
        return None
    return {f for f in data["files"] if isinstance(f, str)}


def _entries(root: Path) -> Iterator[tuple[str, bool]]:
    """(relative path, is a real folder) for everything under ``root``, symlinks not followed."""
    for here, dirs, names in os.walk(root):
        base = Path(here).relative_to(root)
        for d in dirs:
            yield (base / d).as_posix(), not os.path.islink(os.path.join(here, d))
        for n in names:
            yield (base / n).as_posix(), False


def _is_ours(folder: Path) -> bool:
    """A real folder that is empty or holds only what its tinygen manifest (or staging marker) lists."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    manifest = _listed(folder / MANIFEST)
    marker = _listed(folder / STAGING)
    allowed = {STAGING} | (manifest or set()) | (marker or set())
    if manifest is not None:
        allowed.add(MANIFEST)
    folders = {"/".join(f.split("/")[:i]) for f in allowed for i in range(1, f.count("/") + 1)}
    try:
        return all((rel in folders) if is_dir else (rel in allowed) for rel, is_dir in _entries(folder))
    except OSError:
        return False


def _is_complete(folder: Path) -> bool:
    listed = _listed(folder / MANIFEST)
    return (
        listed is not None
        and not os.path.lexists(folder / STAGING)
        and all((folder / f).is_file() for f in listed)
        and _is_ours(folder)
    )


def _newest(paths: list[Path]) -> Path:
    return max(paths, key=lambda p: (os.lstat(p).st_ctime_ns, p.name))


def _recover(out: Path) -> None:
    """R1-R4 (module docstring); the caller holds the lock."""
    pattern = _debris_pattern(_tag(out.name))
    tmps: list[Path] = []
    olds: list[Path] = []
    forced: set[Path] = set()
    dels: list[Path] = []
    with os.scandir(out.parent) as it:
        for entry in it:
            match = pattern.fullmatch(entry.name)
            if match is None:
                continue
            path = out.parent / entry.name
            if match["kind"] == "tmp":
                tmps.append(path)
            elif match["kind"] == "del":
                dels.append(path)
            else:
                olds.append(path)
                if match["forced"]:
                    forced.add(path)
    if not os.path.lexists(out):  # R1
        if olds:
            restore = _newest(olds)
            _rename(restore, out)
            olds.remove(restore)
        else:
            complete = [t for t in tmps if _is_complete(t)]
            if complete:
                newest = _newest(complete)
                _rename(newest, out)
                tmps.remove(newest)
    doomed = dels + [t for t in tmps if _is_ours(t)]  # R2, R3
    if os.path.lexists(out):  # R4
        doomed += [o for o in olds if o in forced or _is_ours(o)]
    for path in doomed:
        with contextlib.suppress(OSError):  # best effort: the next run tries again
            _remove(path)


def _refusal(shown: Path, foreign: list[str], meanwhile: bool = False) -> TinygenError:
    listed = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
    what = "received, while tinygen was writing," if meanwhile else "already holds"
    return TinygenError(
        f"{shown} {what} files tinygen did not generate ({listed}): choose another output "
        "folder or pass --force to replace it"
    )


def _check_existing(out: Path, shown: Path, force: bool) -> None:
    """W4: refuse to replace what tinygen did not write, unless ``force``."""
    if not os.path.lexists(out) or force:
        return
    if not out.is_dir():
        raise TinygenError(f"{shown} exists and is not a directory: choose another output folder or pass --force")
    foreign = foreign_files(out)
    if foreign:
        raise _refusal(shown, foreign)


def _staging(parent: Path, tag: str) -> tuple[str, Path]:
    """W5: a fresh ``.TAG.tmp-R`` whose R is not used by any other sibling name."""
    for _ in range(100):
        token = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        names = [f".{tag}.{kind}-{token}" for kind in ("tmp", "old", "del")] + [f".{tag}.old-{token}.forced"]
        if any(os.path.lexists(parent / n) for n in names):
            continue
        try:
            _mkdir(parent / names[0])
        except FileExistsError:
            continue
        return token, parent / names[0]
    raise FileExistsError(errno.EEXIST, "no free temporary folder name", str(parent / f".{tag}.tmp-*"))


def _replace(out: Path, shown: Path, files: dict[str, str], force: bool) -> None:
    """W5-W11; the caller holds the lock and has run the checks."""
    parent, tag = out.parent, _tag(out.name)
    token, tmp = _staging(parent, tag)
    old: Path | None = None
    try:
        _write_file(tmp / STAGING, files[MANIFEST])  # W6
        for name in sorted(files):
            if name != MANIFEST:
                _write_file(tmp / name, files[name])
        _rename(tmp / STAGING, tmp / MANIFEST)  # W7
        if os.path.lexists(out):  # W8
            old = parent / f".{tag}.old-{token}{'.forced' if force else ''}"
            _rename(out, old)
            if not force and old.is_dir():
                foreign = foreign_files(old)
                if foreign:
                    _rename(old, out)
                    old = None
                    raise _refusal(shown, foreign, meanwhile=True)
        _rename(tmp, out)  # W9
    except BaseException:
        if old is not None and not os.path.lexists(out):
            with contextlib.suppress(OSError):  # else the next run's recovery puts it back
                _rename(old, out)
        with contextlib.suppress(OSError):
            _remove(tmp)
        raise
    if old is not None:  # W10, W11: the new library is in place; failures here only leave debris
        with contextlib.suppress(OSError):
            if old.is_dir() and not old.is_symlink():
                condemned = parent / f".{tag}.del-{token}"
                _rename(old, condemned)
                _remove(condemned)
            else:
                _remove(old)


# ---------------------------------------------------------------------------------------------
# Errors


def _blocker(out: Path) -> Path | None:
    """The first existing ancestor of ``out`` that is not a folder."""
    for ancestor in reversed(out.parents):
        if os.path.lexists(ancestor) and not ancestor.is_dir():
            return ancestor
    return None


def _explain(exc: OSError, out: Path, shown: Path) -> TinygenError:
    """A one-line, actionable message for an OSError met while writing ``out``."""
    code = exc.errno
    raw = Path(os.fsdecode(exc.filename)) if isinstance(exc.filename, (str, bytes, os.PathLike)) else out
    where = raw
    prefix = f".{_tag(out.name)}."
    if where.is_relative_to(out.parent) and where != out.parent:
        first = where.relative_to(out.parent).parts[0]
        if first.startswith(prefix):
            where = out.parent  # in a lock or temporary sibling: name the folder the user knows
    if where == raw and not os.path.lexists(raw) and code in (errno.EACCES, errno.EPERM, errno.EROFS):
        where = raw.parent  # it could not be created: the folder it was to be created in refused
    head = f"cannot write the output folder {shown}"
    blocker = _blocker(out) if code in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT) else None
    if blocker is not None:
        reason = f"{blocker} is in the way: it exists and is not a folder; move it away or choose another output folder"
    elif code == errno.ENAMETOOLONG:
        reason = "a name in the path is too long for the file system; choose a shorter output folder"
    elif code == errno.EROFS:
        reason = f"{where} is on a read-only file system; choose an output folder on a writable disk"
    elif code in (errno.EACCES, errno.EPERM):
        reason = (
            f"no permission to write in {where} (read-only or virtual file systems such as /proc and /sys "
            "refuse this too); choose an output folder you can write to, or fix its permissions"
        )
    elif code == errno.ENOENT and os.path.isdir(raw.parent):
        folder = raw.parent  # it exists, yet creating something in it says "no such file"
        reason = (
            f"{folder} does not accept new files or folders (a virtual file system such as /proc or /sys?); "
            "choose an output folder on a real disk"
        )
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        reason = f"no space left (or over quota) writing {where}; free some space or choose another output folder"
    elif code == errno.ELOOP:
        reason = f"too many levels of symbolic links at {where}; fix the links or choose another output folder"
    else:
        reason = f"{exc.strerror or exc} ({where}); choose another output folder"
    return TinygenError(f"{head}: {reason}")
