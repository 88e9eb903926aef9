"""Shared fixtures: where the real trained models of ../shared/models are; Hypothesis profiles.

Hypothesis runs derandomized by default (the examples follow from each test's code), so the suite gives the same
verdict on every machine and every run: CI never fails on an example a local run did not try. To search new
examples, run with ``--hypothesis-profile explore`` (random, more of them): a failure it finds is a bug; add its
falsifying example to the test's ``@example`` list (see tests/test_op_hard_swish.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("TINYGEN_HYPOTHESIS_PROFILE", "deterministic"))

REPO = Path(__file__).resolve().parent.parent
SHARED_MODELS = Path(os.environ.get("TINYGEN_SHARED_MODELS", REPO.parent / "shared" / "models"))


@pytest.fixture(scope="session")
def shared_models() -> Path:
    """The folder of real int8 models; tests using it skip (with the reason) where it is absent."""
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"real-model folder {SHARED_MODELS} is absent (set TINYGEN_SHARED_MODELS)")
    return SHARED_MODELS
