"""C identifiers from model, layer and file names (a graph's name prefixes every emitted C symbol)."""

from __future__ import annotations

import keyword
import re

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Bool _Complex _Imaginary".split()
)


def c_identifier(text: str) -> str:
    """A valid C (and Python) identifier from ``text``: other characters become ``_``."""
    ident = re.sub(r"[^0-9A-Za-z_]", "_", text.strip()) or "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in _C_KEYWORDS or keyword.iskeyword(ident):
        ident = "model_" + ident
    return ident
