"""Write one file so that it is either as it was or complete: a temporary file in the same folder, renamed
into place (``tinygen export arduino``'s ZIP, ``--json``/``--junit``/``--save-outputs`` files, HTML reports).
A file-system failure is a TinygenError that names the path and what to do."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from tinygen.errors import TinygenError
from tinygen.outdir import make_parents, remove_created


def write_file_atomically(out: str | Path, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``out`` through a temporary file renamed into place: ``out`` is either as it was
    or complete, even when the run is killed. Missing parent folders are created (and removed again on a
    failure). An existing ``out`` is refused unless ``force``; a folder is always refused. Returns ``out``."""
    shown = Path(out)
    path = Path(os.path.abspath(out))
    if os.path.isdir(path):
        raise TinygenError(f"cannot write {shown}: it is a folder; give the path of a file")
    if os.path.lexists(path) and not force:
        raise TinygenError(f"{shown} already exists; pass --force to replace it")
    parent = path.parent
    created: list[Path] = []
    tmp: str | None = None
    try:
        make_parents(parent, created)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary file, not mkstemp's 0o600
        if force:
            os.replace(tmp, path)
        else:
            _rename_no_replace(tmp, path, shown)
        tmp = None
        return shown
    except OSError as exc:
        raise _explain(exc, path, shown) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            remove_created(created)


def _rename_no_replace(tmp: str, path: Path, shown: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` appeared meanwhile (a hard link fails on an existing
    name; file systems without hard links get a plain rename after a last check)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise TinygenError(f"{shown} already exists; pass --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.EOPNOTSUPP,
            errno.ENOTSUP,
            errno.EXDEV,
            errno.EMLINK,
        ):
            raise
        if os.path.lexists(path):
            raise TinygenError(f"{shown} already exists; pass --force to replace it") from None
        os.rename(tmp, path)
        return
    os.unlink(tmp)


def _blocker(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (itself included) if it is not a folder."""
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return None if os.path.isdir(probe) else probe


def _explain(exc: OSError, path: Path, shown: Path) -> TinygenError:
    code = exc.errno
    where = Path(os.fsdecode(exc.filename)) if isinstance(exc.filename, (str, bytes, os.PathLike)) else path.parent
    if where.name.startswith(f".{path.name[:200]}.") and where.name.endswith(".tmp"):
        where = where.parent  # our temporary file: name the folder the user knows
    if (
        code in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS)
        and where != path.parent
        and not os.path.lexists(where)
    ):
        where = where.parent  # it could not be created: the folder it was to be created in refused
    head = f"cannot write {shown}"
    blocker = _blocker(path.parent) if code in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT) else None
    if blocker is not None:
        reason = f"{blocker} is in the way: it exists and is not a folder; move it away or choose another output path"
    elif code == errno.EROFS:
        reason = f"{where} is on a read-only file system; choose an output path on a writable disk"
    elif code in (errno.EACCES, errno.EPERM):
        reason = f"no permission to write in {where}; choose an output path you can write to, or fix its permissions"
    elif code == errno.ENOENT:
        reason = (
            f"{where} does not accept new files (a virtual file system such as /proc or /sys?); "
            "choose an output path on a real disk"
        )
    elif code == errno.EISDIR:
        reason = "it is a folder; give the path of a file"
    elif code == errno.ENAMETOOLONG:
        reason = "a name in the path is too long for the file system; choose a shorter output path"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        reason = f"no space left (or over quota) in {where}; free some space or choose another output path"
    else:
        reason = f"{exc.strerror or exc} ({where}); choose another output path"
    return TinygenError(f"{head}: {reason}")
