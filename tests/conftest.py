"""Shared fixtures: where the real trained models of ../shared/models are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("TINYGEN_SHARED_MODELS", REPO.parent / "shared" / "models"))


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The folder of real int8 models; tests using it skip (with the reason) where it is absent."""
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"real-model folder {SHARED_MODELS} is absent (set TINYGEN_SHARED_MODELS)")
    return SHARED_MODELS
