"""Shared fixtures: tiny random models (seconds) and, for tests marked slow, the embedded default model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The suite runs on the CPU, where its expected values were computed (fp32, no mixed precision), also on a machine
# with a GPU: CUDA is hidden from this process and from the CPU processes the multi-process tests start. The GPU
# checks (test_gpu.py) run in subprocesses that get the GPUs back (GPU_ENV_KEY holds the original setting).
GPU_ENV_KEY = "SAFEALIGN_TEST_ORIGINAL_CUDA_VISIBLE_DEVICES"
os.environ.setdefault(GPU_ENV_KEY, os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
os.environ["CUDA_VISIBLE_DEVICES"] = ""

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


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """accelerate keeps one process-wide state (distributed type, mixed precision) that the first Accelerator sets:
    reset it after each test so that no test inherits another's settings."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()


@pytest.fixture(autouse=True)
def _restore_process_settings():
    """What one test changes process-wide comes back after it: torch's thread count (accelerate sets it to the
    physical cores per process when it starts a CPU process group, e.g. in the in-process DeepSpeed tests; with a
    different count, float sums run in another order) and the environment (the CLI, run in-process by CliRunner,
    sets DS_ACCELERATOR, TRANSFORMERS_VERBOSITY, HF_HUB_DISABLE_PROGRESS_BARS, ...)."""
    import torch

    own = "PYTEST_CURRENT_TEST"  # pytest's own, set per phase
    threads, env = torch.get_num_threads(), {k: v for k, v in os.environ.items() if k != own}
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    for key in set(os.environ) - set(env) - {own}:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if os.environ.get(k) != v})


@pytest.fixture(autouse=True)
def _fresh_chat_format_cache():
    """models.chat_format caches each template's probed form process-wide: start every test without another test's
    probes (a test's tiny tokenizer may share a template string with an earlier test's)."""
    if "safealign.models.chat_format" in sys.modules:
        sys.modules["safealign.models.chat_format"].clear_cache()
    yield
