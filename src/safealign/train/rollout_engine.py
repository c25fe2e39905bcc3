"""The rollout-engine seam of PPO-Lagrangian: every rollout of the trainer goes through one :class:`RolloutEngine`, so
an inference engine (vLLM, SGLang, ...) can replace the built-in generator on GPU machines without touching the trainer.

An engine does two things:

- ``generate(records, generation)``: one sampled response per prompt record, as a
  :class:`~safealign.train.rollout.Rollout` (left-padded prompt, right-padded response, masks; see
  :mod:`safealign.train.rollout`). An engine that samples token ids elsewhere builds it with
  :func:`~safealign.train.rollout.rollout_from_responses` and leaves ``log_probs`` None: the trainer then computes
  the old policy's log-probs with its own forward (an engine's kernels round differently from the training forward, and
  the PPO ratio must start at 1).
- ``sync_weights(actor)``: called by the trainer after every update of the actor (the PPO minibatches and the PTX
  step), with the unwrapped actor; an engine that holds its own copy of the weights loads them here (for a LoRA actor:
  merge the adapter, or load it as the engine's LoRA adapter). Under sharded training (FSDP, ZeRO-3) every process
  calls it; the full weights come from ``safealign.train.sharding.full_state_dict``.

The built-in :class:`GenerateEngine` runs transformers' ``generate`` on the actor itself (no copy: nothing to sync),
with a LoRA adapter merged into the base weights for the rollout (:func:`safealign.train.ppo_models.merged_lora`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from safealign.backends.base import GenerationConfig
from safealign.data.records import PromptRecord
from safealign.train.rollout import Rollout


@runtime_checkable
class RolloutEngine(Protocol):
    """Samples the rollouts of a PPO run; see the module docstring."""

    def generate(self, records: Sequence[PromptRecord], generation: GenerationConfig) -> Rollout:
        """One sampled response per record (the configuration's max_new_tokens, temperature, top_p)."""
        ...

    def sync_weights(self, actor: Any) -> None:
        """The actor was updated: make the next :meth:`generate` sample from these weights."""
        ...


class GenerateEngine:
    """transformers' ``generate`` on the training actor itself, KV-cached, stopping at EOS, with the unwarped
    policy's per-token log-probs (``record_log_probs``). ``actor``: a callable returning the actor to sample from (the
    trainer's unwrapped actor, read at each call); ``gathered``: a context manager factory around each rollout (the
    trainer's: an FSDP root's parameters gathered); ``merge_lora``: merge a LoRA adapter into the base weights for the
    rollout (off where parameters are sharded)."""

    def __init__(
        self,
        actor: Callable[[], Any],
        processing_class: Any,
        record_log_probs: bool = True,
        merge_lora: bool = True,
        gathered: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ):
        self.actor, self.processing_class = actor, processing_class
        self.record_log_probs, self.merge_lora, self.gathered = record_log_probs, merge_lora, gathered

    def generate(self, records: Sequence[PromptRecord], generation: GenerationConfig) -> Rollout:
        from safealign.train.ppo_models import merged_lora
        from safealign.train.rollout import generate_rollout

        with self.gathered():
            model = self.actor()
            with merged_lora(model) if self.merge_lora else nullcontext(model) as m:
                return generate_rollout(m, self.processing_class, records, generation, self.record_log_probs)

    def sync_weights(self, actor: Any) -> None:
        """Nothing to do: the rollouts run on the actor's own weights."""
