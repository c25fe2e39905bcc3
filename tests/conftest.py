"""Shared fixtures: tiny random models (seconds) and, for tests marked slow, the embedded default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def tiny_lm():
    from safealign.testing import tiny_lm as build

    return build()


@pytest.fixture()
def tiny_vlm():
    from safealign.testing import tiny_vlm as build

    return build()


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct, converted once to the safetensors cache."""
    from safealign.models.loading import ensure_default_model

    return ensure_default_model()
