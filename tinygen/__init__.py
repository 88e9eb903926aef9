"""tinygen: an ahead-of-time int8 TinyML code generator for Cortex-M microcontrollers."""

from __future__ import annotations

import os

# TensorFlow (imported lazily by the Keras paths) logs start-up chatter to stderr; keep the CLI quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

from tinygen.errors import TinygenError  # noqa: E402

__all__ = ["TinygenError", "__version__"]
