"""Keep TensorFlow's start-up banner off the command line's output.

TensorFlow's native libraries print two lines to file descriptor 2 when they load ("All log messages before
absl::InitializeLog() is called are written to STDERR" and the oneDNN notice), twice, whatever
``TF_CPP_MIN_LOG_LEVEL`` says. :func:`install` (called by the ``tinygen`` command only, never on import of the
library) wraps the first ``import tensorflow`` so that file descriptor 2 goes to a temporary file while it
runs; everything captured except those known lines is written back to stderr, so a real warning or error of
the import still shows.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
from types import ModuleType
from typing import Any, Sequence

#: the banner lines dropped (substrings)
BANNER = ("All log messages before absl::InitializeLog() is called", "oneDNN custom operations are on")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders do the rest
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.inner.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                text = captured.read().decode("utf-8", errors="replace")
                kept = [line for line in text.splitlines(keepends=True) if not any(b in line for b in BANNER)]
                if kept:
                    sys.stderr.write("".join(kept))
                    sys.stderr.flush()


def install() -> None:
    """Quiet the first ``import tensorflow`` of this process (nothing when TensorFlow is already imported)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
