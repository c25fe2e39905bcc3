"""Scoring passes and critics for PPO-Lagrangian.

A frozen score model (reward R or cost C) is read once per rollout by :func:`score_rollout`: one batched forward
of its trunk gives the end scores (frozen head at the last non-pad token) AND the hidden states a critic reads.
The critics are initialised from the score models (as in Safe RLHF-V: V_R from R, V_C from C):

- ``mode="head"`` (default, cheapest): the critic SHARES the frozen trunk; only a linear value head is trained. Its
  inputs are the trunk's final hidden states at the response positions, cached by the scoring pass, so neither the
  rollout nor the critic update costs a second forward of the trunk.
- ``mode="top"``: the critic shares the frozen LOWER layers of the trunk and owns trainable copies of its top
  ``top_layers`` decoder layers + final norm + a value head. The scoring pass caches the hidden states entering
  those layers (all positions: attention needs them); the critic runs its copies on them with the rollout's mask
  and positions. Running the top layers on cached states is the score trainer's ``train_mode: top`` mechanism
  (:class:`safealign.models.trunk.CachedTopScorer`), reused here.
- ``mode="full"``: a trainable copy of the whole score model (the papers' setting; for GPU users).

Training format: the PPO trainer scores a view of the rollout with the chat template's end-of-turn suffix appended
after each response (:func:`safealign.train.rollout.with_turn_suffix`), as R and C saw every conversation in training;
the critic states (prompt and response positions) do not depend on it (causal attention).

Shared frozen trunk: when R and C (and the reference) hold bit-identical lower layers, the PPO trainer runs them once
per rollout (:meth:`safealign.models.trunk.TrunkStates.compute`, see :func:`shared_trunk_states`) and
:func:`score_rollout` runs only the model's own upper layers on those states; end scores and critic states are the
same as from the model's full forward.

A critic has K outputs (one per cost stream for per-category constraints). Values are [B, T, K], aligned with the
response tokens (the value at the state before each response token; see :mod:`safealign.train.rollout`).

Re-tokenized episodes: for a score model whose tokenizer or template differs from the actor's, the scoring pass and
the critic read a :class:`safealign.train.score_view.TextView` instead of the rollout (the same interface: model
inputs, ``critic_columns``, ``response_states``); its states are gathered at the actor tokens' boundaries.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

import torch
from torch import nn

from safealign.errors import ConfigError
from safealign.losses import last_token_index
from safealign.models.score import ScoreModel
from safealign.models.trunk import CachedTopScorer, TrunkStates, decoder_layers, layer_slice
from safealign.train.rollout import Rollout

CriticMode = Literal["head", "top", "full"]


@dataclass
class ScoringResult:
    end_scores: torch.Tensor  # [B, K_model] normalised scores at the last non-pad token (frozen head)
    # detached trunk states for the critic: [B, T, H] final states at the response positions (head critics), or
    # [B, L, H] the states entering the top N layers at every position (top critics); None when not asked for
    hidden: Optional[torch.Tensor]
    critic_input: Any = None  # what the critic reads with ``hidden`` (the rollout, or a re-tokenized TextView)


def _last_hidden(out: object) -> torch.Tensor:
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]  # type: ignore[index, attr-defined]


def _trunk_hidden(backbone: nn.Module, rollout: Rollout) -> torch.Tensor:
    return _last_hidden(backbone(**rollout.model_inputs(), use_cache=False))  # [B, L, H]


def _normalised_head(model: ScoreModel, h: torch.Tensor) -> torch.Tensor:
    cfg = model.score_config
    return (model.head(h.to(model.head.weight.dtype)).float() - cfg.normalizer_mean) / cfg.normalizer_std


@torch.no_grad()
def score_rollout(
    model: ScoreModel,
    rollout: Rollout,
    keep_hidden: bool = False,
    top_layers: int = 0,
    trunk: Optional[TrunkStates] = None,
) -> ScoringResult:
    """One batched forward of a frozen score model over (prompt, response); the same pixel values as the actor.

    ``keep_hidden``: also return the states a critic reads — the final states at the response positions
    (``top_layers=0``, head critics) or the states entering the top ``top_layers`` decoder layers at every
    position (top critics). ``trunk``: the states a shared trunk computed for this rollout (text models whose lower
    ``trunk.depth`` layers are those of the model, see :func:`shared_trunk_states`); only the layers above run.

    ``rollout`` may be a scoring view (:func:`safealign.train.rollout.with_turn_suffix`: the template's end-of-turn
    suffix appended after each response, the format R and C were trained on): the end score is read at its last
    token, and the critic states are those of the prompt and response positions ([B, P+T, H] for top critics), so
    a critic reads them with the plain rollout."""
    top = keep_hidden and top_layers > 0
    keep_at = None
    if top:
        _, layers = decoder_layers(model.backbone)
        _check_top_layers(top_layers, len(layers))
        keep_at = len(layers) - top_layers  # the input of layer n-k (0: the embeddings)
    if trunk is None:
        out = model.backbone(**rollout.model_inputs(), use_cache=False, output_hidden_states=top)
        hidden = _last_hidden(out)  # [B, L, H]
        top_states = out.hidden_states[keep_at] if top else None
    else:
        hidden, top_states = trunk.finish(decoder_layers(model.backbone)[0], keep_at)
    idx = last_token_index(rollout.attention_mask)  # last response token (or last prompt token for empty replies)
    end_h = hidden[torch.arange(hidden.size(0), device=hidden.device), idx]  # [B, H]
    end = _normalised_head(model, end_h)  # [B, K]
    kept = None
    if top:
        kept = top_states[:, : rollout.critic_columns].detach()  # a scoring view's suffix columns dropped
    elif keep_hidden:
        kept = rollout.response_states(hidden).detach()  # state before each response token
    return ScoringResult(end_scores=end, hidden=kept)


@torch.no_grad()
def shared_trunk_states(model: ScoreModel, rollout: Rollout, depth: int, keep: Sequence[int] = ()) -> TrunkStates:
    """The embeddings + lower ``depth`` layers of a text score model's trunk over the rollout, once, for every model
    that holds the same lower layers (the rollout's mask and positions, as in a full forward); ``keep``: the layers
    below ``depth`` whose input states a top critic reads."""
    lm, _ = decoder_layers(model.backbone)
    return TrunkStates.compute(lm, rollout.input_ids, rollout.attention_mask, rollout.position_ids, depth, keep)


def _check_top_layers(k: int, n_layers: int) -> None:
    if k < 1 or k > n_layers:
        raise ConfigError(f"critic_top_layers must be between 1 and {n_layers} for this score model, got {k}")


def _init_head_from(model: ScoreModel, rows: Sequence[int]) -> nn.Linear:
    """A value head equal to the score model's (normalised) head, output rows picked by ``rows``."""
    cfg = model.score_config
    src = model.head
    head = nn.Linear(src.in_features, len(rows), bias=True)
    with torch.no_grad():
        w = src.weight.detach().float()[list(rows)] / cfg.normalizer_std
        b = (src.bias.detach().float()[list(rows)] - cfg.normalizer_mean) / cfg.normalizer_std
        head.weight.copy_(w)
        head.bias.copy_(b)
    return head.to(src.weight.device)


def _as_value_model(model: ScoreModel, score_model: ScoreModel, rows: Sequence[int]) -> ScoreModel:
    """Turn a copy of (part of) a score model into a trainable value model: value head from ``rows``, no normaliser."""
    model.head = _init_head_from(score_model, rows)
    model.score_config = copy.deepcopy(score_model.score_config)
    model.score_config.normalizer_mean, model.score_config.normalizer_std = 0.0, 1.0
    model.requires_grad_(True)
    model.train()
    return model


def _top_copy(score_model: ScoreModel, k: int) -> ScoreModel:
    """A score model whose trunk is a copy of only the top ``k`` decoder layers (+ final norm, rotary tables) of
    ``score_model``'s text decoder; it reads cached hidden states, so the embeddings are not copied."""
    lm, layers = decoder_layers(score_model.backbone)
    _check_top_layers(k, len(layers))
    emb = lm.get_input_embeddings() if hasattr(lm, "get_input_embeddings") else None
    memo = {id(emb): None} if emb is not None else {}
    with layer_slice(lm, len(layers) - k):  # lm.layers is the top k while it is copied
        trunk = copy.deepcopy(lm, memo)
    return ScoreModel(trunk, copy.deepcopy(score_model.score_config))


class Critic(nn.Module):
    """V(s_t) for K streams, initialised from a score model; see the module docstring for the three modes."""

    def __init__(
        self, score_model: ScoreModel, rows: Sequence[int] = (0,), mode: CriticMode = "head", top_layers: int = 2
    ):
        super().__init__()
        self.mode = mode
        self.num_outputs = len(rows)
        self.top_layers = top_layers if mode == "top" else 0
        if mode == "head":
            self.value_head = _init_head_from(score_model, rows)
        elif mode == "top":
            self.model = _as_value_model(_top_copy(score_model, top_layers), score_model, rows)
        elif mode == "full":
            self.model = _as_value_model(copy.deepcopy(score_model), score_model, rows)
            self.model.freeze_vision_tower()
        else:
            raise ValueError(f"unknown critic mode {mode!r} (head | top | full)")

    @property
    def needs_hidden(self) -> bool:
        """Whether :meth:`forward` reads states cached by ``score_rollout(keep_hidden=True,
        top_layers=self.top_layers)``."""
        return self.mode in ("head", "top")

    def forward(self, rollout: Rollout, hidden: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, T, K] values at the response positions (zero where ``response_mask`` is 0)."""
        mask = rollout.response_mask.unsqueeze(-1)
        if self.needs_hidden and hidden is None:
            raise ValueError(
                f"a {self.mode} critic reads the hidden states cached by score_rollout(keep_hidden=True, "
                f"top_layers={self.top_layers})"
            )
        if self.mode == "head":
            return self.value_head(hidden.to(self.value_head.weight.dtype)).float() * mask
        if self.mode == "top":
            # the top layers on the cached states, masked and positioned from the attention mask like every model
            param = next(self.model.parameters())
            scores = CachedTopScorer(self.model, self.top_layers)(
                hidden.to(param.dtype), rollout.attention_mask
            ).token_scores
            return rollout.response_states(scores) * mask
        h = rollout.response_states(_trunk_hidden(self.model.backbone, rollout))
        return self.model.head(h.to(self.model.head.weight.dtype)).float() * mask
