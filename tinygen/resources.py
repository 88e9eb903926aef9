"""Where the data folders (templates/, firmware/, boards/) are, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_NAMES = ("templates", "firmware", "boards")


def resource_dir(name: str) -> Path:
    """The directory of ``templates``, ``firmware`` or ``boards``."""
    if name not in _NAMES:
        raise ValueError(f"unknown resource folder {name!r}")
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    # In an installed wheel the data packages sit inside the tinygen package itself.
    installed = Path(__file__).resolve().parent / f"_{name}"
    if installed.is_dir():
        return installed
    raise FileNotFoundError(f"tinygen's {name}/ folder is missing from this installation")
