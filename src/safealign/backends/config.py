"""Which model answers: a local model or an OpenAI-compatible endpoint, with its generation settings (the options
of the commands that answer through either, e.g. ``safealign eval adherence``). Light to import: the backend is
made on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from safealign.backends.base import Backend, GenerationConfig
from safealign.config import help_field
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP


@dataclass
class BackendConfig(GenerationConfig):
    """The model that answers (a local model or an OpenAI-compatible endpoint) and how it generates."""

    model: str = help_field(
        "default", "Model that answers: 'default', a hub id or a path (the model name with --model-url)."
    )
    model_url: Optional[str] = help_field(
        None, "Answer with an OpenAI-compatible endpoint at this base URL instead of a local model."
    )
    api_key_env: str = help_field("OPENAI_API_KEY", "Environment variable holding the endpoint's API key.")
    chat_template: str = help_field("auto", "Chat template of the local model that answers. " + CHAT_TEMPLATE_HELP)
    concurrency: int = help_field(8, "Requests in flight to an endpoint.")

    def backend(self, model: Optional[str] = None, url: Optional[str] = None) -> "Backend":
        """The backend of ``model`` at ``url`` (default: this config's ``model`` and ``model_url``): a local model, or
        an OpenAI-compatible endpoint (:func:`safealign.backends.openai_compat.make_backend`)."""
        import os

        from safealign.backends.openai_compat import make_backend

        return make_backend(
            model or self.model, url if model else self.model_url, os.environ.get(self.api_key_env), self.concurrency,
            batch_size=self.batch_size, chat_template=self.chat_template,
        )
