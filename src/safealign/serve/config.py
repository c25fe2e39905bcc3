"""Config of ``safealign serve``: the OpenAI-compatible server (:func:`safealign.serve.create_app`) with the
guardrail in front of a local model. Torch- and FastAPI-free, so that building the CLI stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from safealign.config import BaseConfig, help_field
from safealign.guard.config import DEFAULT_GUARD


@dataclass
class ServeConfig(BaseConfig):
    """Serve an OpenAI-compatible API (chat completions, moderations) with the guardrail in front of a local model.
    Each request says how to generate (max_tokens, temperature, top_p, seed); --default-max-tokens stands in for a
    request without max_tokens."""

    model: str = help_field(
        "default", "Local model behind the guard ('default', hub id or path).", flags=("--model", "-m")
    )
    guard: Optional[str] = help_field(
        None, f"Trained guard folder (default: {DEFAULT_GUARD}).", flags=("--guard", "-g")
    )
    judge: Optional[str] = help_field(
        None, "Use a generative judge as the guard (local model, or the model name with --judge-url)."
    )
    judge_url: Optional[str] = help_field(None, "OpenAI-compatible base URL of the judge.")
    policy: Optional[str] = help_field(None, "Policy YAML; default: the packaged policy.")
    max_rounds: Optional[int] = help_field(
        None, "Regeneration rounds before the fallback (default: the policy's, 5)."
    )
    host: str = help_field("127.0.0.1", "Address to listen on (127.0.0.1: this machine only).")
    port: int = help_field(8000, "Port to listen on.", flags=("--port", "-p"))
    api_key_env: str = help_field(
        "SAFEALIGN_API_KEY", "Environment variable holding the API key clients must send; unset = no key check."
    )
    served_model_name: str = help_field(
        "safealign-guarded", "Model id reported by /v1/models and in responses."
    )
    max_input_chars: int = help_field(
        32000, "Longest accepted input (characters, all messages together); longer gets 413."
    )
    default_max_tokens: int = help_field(256, "Answer length when a request gives no max_tokens.")
    log: Optional[str] = help_field(None, "Append every guard decision as a JSON line to this file.")
    batch_size: int = help_field(8, "Local generation batch size (regeneration rounds).")
