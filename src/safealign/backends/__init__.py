"""Generation backends behind one interface (:class:`Backend`): a local transformers model, or any
OpenAI-compatible HTTP endpoint (:mod:`safealign.backends.openai_compat`)."""

from safealign.backends.base import Backend, GenerationParams, Messages

__all__ = ["Backend", "GenerationParams", "Messages"]
