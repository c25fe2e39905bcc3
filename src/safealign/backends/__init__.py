"""Generation backends behind one interface (:class:`Backend`): a local transformers model, or any
OpenAI-compatible HTTP endpoint (:mod:`safealign.backends.openai_compat`); how they generate is one
:class:`GenerationConfig`, passed whole."""

from safealign.backends.base import Backend, GenerationConfig, GenerationParams, Messages

__all__ = ["Backend", "GenerationConfig", "GenerationParams", "Messages"]
