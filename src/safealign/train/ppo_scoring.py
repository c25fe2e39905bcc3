"""What a PPO-Lagrangian step reads from its frozen models: the reference policy's log-probs and the reward and cost
models' end scores (with the hidden states the critics read), on the scoring view of a rollout.

- Scoring view: R and C read each episode in their training format: the chat template's end-of-turn suffix is
  appended after the response (a truncated one too) and the end score read there; it still lands on the last
  response token of the reward / cost streams (:func:`safealign.train.rollout.with_turn_suffix`).
- Re-tokenized score models: a score model whose tokenizer or chat template differs from the actor's
  (:mod:`safealign.models.compat`, mode ``text``) reads the episodes re-tokenized through text, in its own format
  (:mod:`safealign.train.score_view`); its critic reads that text view, each read-out's ``critic_input``.
- Shared frozen trunk: the lower decoder layers that the reference, R and C hold bit-identically (e.g. score models
  trained with ``train_mode: top``) run once for the three; each then runs only its own upper layers. The depth is
  found once, tensor by tensor, and a padded probe checks that the split forward reproduces the full ones
  (:meth:`FrozenScoring.find_shared_trunk`).
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Optional, Sequence

import torch

from safealign.errors import ConfigError


def is_vision(model: Any) -> bool:
    """A LLaVA-style image+text model (its config has a vision tower)."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "vision_config", None) is not None


def reads_images(score_model: Any) -> bool:
    """A score model that reads images (a vision score model, or one on an image+text backbone)."""
    return bool(score_model.score_config.is_vision) or is_vision(score_model.backbone)


class FrozenScoring:
    """The reference, R and C of a PPO run. ``reference``: a context manager factory yielding the reference policy
    (the frozen copy, or the actor with its LoRA adapter disabled); ``critics`` (where asked): the unwrapped reward and
    cost critics, whose mode says which hidden states to keep. ``processing_class``: the actor's tokenizer or
    processor; ``reward_processing_class`` / ``cost_processing_class``: a score model's own, when it reads the
    episodes re-tokenized through text (None: it reads the actor's token ids)."""

    def __init__(
        self,
        reward_model: Any,
        cost_model: Any,
        reference: Callable[[], ContextManager[Any]],
        suffix_ids: Sequence[int],
        eos_ids: Sequence[int],
        pad_id: int,
        device: Any,
        processing_class: Any = None,
        reward_processing_class: Any = None,
        cost_processing_class: Any = None,
    ):
        self.reward_model, self.cost_model = reward_model, cost_model
        self.processing_class = processing_class
        self.reward_processing_class, self.cost_processing_class = reward_processing_class, cost_processing_class
        self.reference = reference
        self.suffix_ids = list(suffix_ids)
        self.eos_ids, self.pad_id = list(eos_ids), pad_id
        self.device = device
        self.depth = 0  # lower layers run once for the three (find_shared_trunk)

    def view(self, rollout: Any) -> Any:
        """The rollout in the score models' training format: the chat template's end-of-turn suffix appended after each
        response (only its tail where the generated EOS is its first token); prompt and response tokens unchanged."""
        from safealign.train.rollout import with_turn_suffix

        return with_turn_suffix(rollout, self.suffix_ids, self.eos_ids, self.pad_id)

    def ref_log_probs(self, rollout: Any, trunk: Any = None) -> torch.Tensor:
        """Reference log-probs of the response tokens; with ``trunk`` (shared lower layers already run) only the
        reference's own upper layers + norm + LM head (response positions only) run."""
        from safealign.train.rollout import policy_log_probs

        with torch.no_grad(), self.reference() as ref:
            if trunk is None:
                return policy_log_probs(ref, rollout)[0]
            from safealign.models.trunk import decoder_layers, layer_slice

            with layer_slice(decoder_layers(ref)[0], trunk.depth):
                return policy_log_probs(ref, rollout, inputs_embeds=trunk.hidden)[0]

    def score(
        self, rollout: Any, critics: tuple[Any, Any], depth: Optional[int] = None
    ) -> tuple[torch.Tensor, Any, Any]:
        """(reference log-probs, R read-out, C read-out) of a rollout. ``depth``: how many lower layers run once for
        the three (default: the depth found at start; 0: three full forwards). Everything runs on the scoring view
        (:meth:`view`): R and C end scores are read at the end of the suffix, as in their training; the reference
        log-probs and the critic states are those of the response positions, which the suffix after them does not
        change. A score model that reads re-tokenized text scores its text view of the episodes; each read-out's
        ``critic_input`` is what its critic reads (the rollout, or that text view)."""
        from safealign.models.trunk import decoder_layers
        from safealign.train.critic import score_rollout, shared_trunk_states

        depth = self.depth if depth is None else depth
        plain, rollout = rollout, self.view(rollout)
        rc, cc = critics
        trunk = None
        if depth > 0:
            # states a top critic reads below the shared depth are kept while the trunk runs
            keep = [
                len(decoder_layers(m.backbone)[1]) - c.top_layers
                for m, c in ((self.reward_model, rc), (self.cost_model, cc))
                if c.top_layers
            ]
            trunk = shared_trunk_states(self.reward_model, rollout, depth, keep)
        ref_lp = self.ref_log_probs(rollout, trunk)
        outs = []
        for model, critic, pc in (
            (self.reward_model, rc, self.reward_processing_class),
            (self.cost_model, cc, self.cost_processing_class),
        ):
            view = rollout if pc is None else self.text_view(plain, model, pc)
            out = score_rollout(
                model, view, keep_hidden=critic.needs_hidden, top_layers=critic.top_layers,
                trunk=trunk if pc is None else None,
            )
            out.critic_input = plain if pc is None else view
            outs.append(out)
        return ref_lp, outs[0], outs[1]

    def text_view(self, rollout: Any, model: Any, processing_class: Any) -> Any:
        """The episodes re-tokenized through text in a score model's own format
        (:func:`safealign.train.score_view.text_view`)."""
        from safealign.train.score_view import text_view

        return text_view(
            rollout, self.processing_class, processing_class, pixel_dtype=next(model.parameters()).dtype
        )

    def find_shared_trunk(
        self, critics: tuple[Any, Any], enabled: bool, vision_actor: bool, sharded: bool, mixed_precision: bool
    ) -> tuple[int, str]:
        """(K, a line for the log): the number of lower decoder layers (with the embeddings) that the reference, R and
        C hold bit-identically, compared tensor by tensor once; 0 where sharing does not apply (not ``enabled``,
        vision models, sharded parameters, mixed precision). A 2-row padded probe then checks that the split forward
        reproduces the full ones on this architecture. Sets :attr:`depth`."""
        from safealign.models.trunk import decoder_layers, shared_depth

        self.depth = 0
        scorers = (self.reward_model, self.cost_model)
        if not enabled:
            return 0, "off (share_frozen_trunk: false)"
        if self.reward_processing_class is not None or self.cost_processing_class is not None:
            return 0, "off (a score model reads re-tokenized text)"
        if vision_actor or any(reads_images(m) for m in scorers):
            return 0, "off (vision models)"
        if sharded:
            return 0, "off (sharded parameters)"
        if mixed_precision:
            return 0, "off (mixed precision)"
        try:
            with self.reference() as ref:
                decoders = [decoder_layers(ref)[0]] + [decoder_layers(m.backbone)[0] for m in scorers]
        except ConfigError:
            return 0, "off (no decoder layer list found)"
        n = len(decoder_layers(self.reward_model.backbone)[1])
        depth = shared_depth(decoders)
        if depth == 0:
            return 0, "K=0 (the reference, R and C differ from the embeddings or layer 0 on)"
        if not self._split_matches(depth, critics):
            return (
                0,
                f"off ({depth} identical layers, but a split forward differs from a full one on this architecture)",
            )
        self.depth = depth
        return depth, f"K={depth} of {n} layers run once for the reference, R and C"

    def _split_matches(self, depth: int, critics: tuple[Any, Any]) -> bool:
        """Scoring with and without the shared trunk agree on a tiny padded probe (left-padded prompt, right-padded
        response); random token ids from a private generator (the global RNG stays untouched)."""
        from safealign.train.rollout import Rollout

        g = torch.Generator().manual_seed(0)
        vocab = int(self.reward_model.backbone.get_input_embeddings().num_embeddings)
        dev = self.device
        ids = torch.randint(0, vocab, (2, 7), generator=g).to(dev)
        attn = torch.tensor([[0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]], device=dev)
        probe = Rollout(ids, attn, 4, attn[:, 4:].float())
        with torch.no_grad():
            full, split = self.score(probe, critics, 0), self.score(probe, critics, depth)
        pairs = [(full[0], split[0])]
        for a, b in zip(full[1:], split[1:]):
            pairs.append((a.end_scores, b.end_scores))
            if a.hidden is not None:
                pairs.append((a.hidden, b.hidden))
        for a, b in pairs:
            tol = 1e-4 if a.dtype == torch.float32 else 2e-2
            if a.shape != b.shape or not torch.allclose(a.float(), b.float(), atol=tol, rtol=tol, equal_nan=True):
                return False
        return True
