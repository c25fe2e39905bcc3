"""Scoring passes and critics for PPO-Lagrangian.

A frozen score model (reward R or cost C) is read once per rollout by :func:`score_rollout`: one batched forward
of its trunk gives the end scores (frozen head at the last non-pad token) AND the hidden states at the response
positions. The critics are initialised from the score models (REFERENCE.md: V_R from R, V_C from C):

- ``mode="head"`` (default, cheap): the critic SHARES the frozen trunk; only a linear value head is trained. Its
  inputs are the hidden states cached by the scoring pass, so neither the rollout nor the critic update costs a
  second forward of the trunk.
- ``mode="full"``: a trainable copy of the whole score model (the papers' setting; for GPU users).

A critic has K outputs (one per cost stream for per-category constraints). Values are [B, T, K], aligned with the
response tokens (the value at the state before each response token; see :mod:`safealign.train.rollout`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import torch
from torch import nn

from safealign.losses import last_token_index
from safealign.models.score import ScoreModel
from safealign.train.rollout import Rollout

CriticMode = Literal["head", "full"]


@dataclass
class ScoringResult:
    end_scores: torch.Tensor  # [B, K_model] normalised scores at the last non-pad token (frozen head)
    hidden: Optional[torch.Tensor]  # [B, T, H] trunk states at the response positions (detached), for head critics


def _trunk_hidden(backbone: nn.Module, rollout: Rollout) -> torch.Tensor:
    out = backbone(**rollout.model_inputs(), use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]  # [B, L, H]


def _normalised_head(model: ScoreModel, h: torch.Tensor) -> torch.Tensor:
    cfg = model.score_config
    return (model.head(h.to(model.head.weight.dtype)).float() - cfg.normalizer_mean) / cfg.normalizer_std


@torch.no_grad()
def score_rollout(model: ScoreModel, rollout: Rollout, keep_hidden: bool = False) -> ScoringResult:
    """One batched forward of a frozen score model over (prompt, response); the same pixel values as the actor."""
    hidden = _trunk_hidden(model.backbone, rollout)  # [B, L, H]
    idx = last_token_index(rollout.attention_mask)  # last response token (or last prompt token for empty replies)
    end_h = hidden[torch.arange(hidden.size(0), device=hidden.device), idx]  # [B, H]
    end = _normalised_head(model, end_h)  # [B, K]
    resp_h = None
    if keep_hidden:
        P, T = rollout.prompt_len, rollout.response_mask.size(1)
        resp_h = hidden[:, P - 1 : P + T - 1].detach()  # state before each response token
    return ScoringResult(end_scores=end, hidden=resp_h)


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


class Critic(nn.Module):
    """V(s_t) for K streams, initialised from a score model; see the module docstring for the two modes."""

    def __init__(self, score_model: ScoreModel, rows: Sequence[int] = (0,), mode: CriticMode = "head"):
        super().__init__()
        self.mode = mode
        self.num_outputs = len(rows)
        if mode == "head":
            self.value_head = _init_head_from(score_model, rows)
        elif mode == "full":
            model = copy.deepcopy(score_model)
            model.head = _init_head_from(score_model, rows)
            model.score_config = copy.deepcopy(score_model.score_config)
            model.score_config.normalizer_mean, model.score_config.normalizer_std = 0.0, 1.0
            model.requires_grad_(True)
            model.freeze_vision_tower()
            model.train()
            self.model = model
        else:
            raise ValueError(f"unknown critic mode {mode!r} (head | full)")

    @property
    def needs_hidden(self) -> bool:
        return self.mode == "head"

    def forward(self, rollout: Rollout, hidden: Optional[torch.Tensor] = None) -> torch.Tensor:
        """[B, T, K] values at the response positions (zero where ``response_mask`` is 0)."""
        mask = rollout.response_mask.unsqueeze(-1)
        if self.mode == "head":
            if hidden is None:
                raise ValueError("a head critic reads the hidden states cached by score_rollout(keep_hidden=True)")
            return self.value_head(hidden.to(self.value_head.weight.dtype)).float() * mask
        P, T = rollout.prompt_len, rollout.response_mask.size(1)
        h = _trunk_hidden(self.model.backbone, rollout)[:, P - 1 : P + T - 1]
        return self.model.head(h.to(self.model.head.weight.dtype)).float() * mask
