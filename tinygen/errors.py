"""User-facing errors.

Every mistake a user can make (a bad file, an unsupported layer, a model that does not fit a
board) raises :class:`TinygenError` with a message that names the problem and what to do.
The CLI prints the message on one line and exits non-zero; it never shows a traceback for one.
"""

from __future__ import annotations


class TinygenError(Exception):
    """A problem with the user's input or environment, explained in the message."""

    exit_code = 1


class UnsupportedError(TinygenError):
    """The model uses an op, layer or feature that tinygen does not support."""


class ToolMissingError(TinygenError):
    """An external program (compiler, emulator, uploader) is not installed."""
