"""Every formula of the papers in one place: the score-model losses and PPO-Lagrangian of Safe RLHF / Safe RLHF-V
(reward and cost models, KL-penalised rewards, GAE, the combined advantage, clipped actor and value losses, the
multiplier step) and the PTX loss.

Shapes: B = batch, T = response length. ``mask`` is 1.0 on real response tokens and 0.0 on padding; every
reduction over tokens is a masked mean so that padding never contributes. Each function has a unit test
against values computed by hand (tests/test_losses_preference.py for the score-model losses,
tests/test_losses_rl.py for PPO-Lagrangian).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------- masking utilities


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: Optional[int] = None) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (global token mean when ``dim`` is None)."""
    mask = mask.to(x.dtype)
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp_min(1.0)
    return (x * mask).sum(dim) / mask.sum(dim).clamp_min(1.0)


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last non-pad token of each row, correct for left AND right padding.  [B, L] -> [B]"""
    L = attention_mask.size(-1)
    flipped_first = attention_mask.flip(-1).long().argmax(-1)  # position of the first 1 from the right
    return (L - 1) - flipped_first


def gather_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(labels) from logits without materialising a full log-softmax copy.  [B, T, V], [B, T] -> [B, T]"""
    picked = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return picked.float() - torch.logsumexp(logits.float(), dim=-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Per-token entropy of the categorical distribution.  [B, T, V] -> [B, T]"""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


# ----------------------------------------------------------------------------------------- preference models


def score_regulariser(*scores: torch.Tensor) -> torch.Tensor:
    """mean(R^2) over all given scores (keeps score magnitudes bounded)."""
    return torch.stack([s.float() for s in scores]).square().mean()


def reward_loss(better: torch.Tensor, worse: torch.Tensor, regularization: float = 0.0) -> torch.Tensor:
    """Bradley-Terry: -log sigma(R(y_better) - R(y_worse)), averaged, + eta * mean(R^2).  [B], [B] -> scalar"""
    loss = -F.logsigmoid(better.float() - worse.float()).mean()
    if regularization > 0:
        loss = loss + regularization * score_regulariser(better, worse)
    return loss


def cost_loss(
    cost_unsafer: torch.Tensor,
    cost_safer: torch.Tensor,
    sign_unsafer: torch.Tensor,
    sign_safer: torch.Tensor,
    weight_unsafer: Optional[torch.Tensor] = None,
    weight_safer: Optional[torch.Tensor] = None,
    regularization: float = 0.0,
) -> torch.Tensor:
    """Safe RLHF cost loss.

    -log sigma(C(y_u) - C(y_s)) - w_u * log sigma(s(y_u) C(y_u)) - w_s * log sigma(s(y_s) C(y_s)),
    with s(y) = +1 if y is unsafe and -1 if safe, y_u the less safe response. The sign terms make sign(C) a safety
    classifier; the optional weights (e.g. from severity, :func:`severity_weight`) grade them.  All [B] -> scalar.
    """
    cu, cs = cost_unsafer.float(), cost_safer.float()
    wu = torch.ones_like(cu) if weight_unsafer is None else weight_unsafer.float()
    ws = torch.ones_like(cs) if weight_safer is None else weight_safer.float()
    per_pair = (
        -F.logsigmoid(cu - cs)
        - wu * F.logsigmoid(sign_unsafer.float() * cu)
        - ws * F.logsigmoid(sign_safer.float() * cs)
    )
    loss = per_pair.mean()
    if regularization > 0:
        loss = loss + regularization * score_regulariser(cu, cs)
    return loss


DEFAULT_SEVERITY_WEIGHTS = (1.0, 1.0, 1.5, 2.0)  # safe, minor, moderate, severe


def severity_weight(severity: torch.Tensor, weights: Sequence[float] = DEFAULT_SEVERITY_WEIGHTS) -> torch.Tensor:
    """Weight of a response's sign term by its severity level (0 safe .. 3 severe).  [B] long -> [B] float"""
    table = torch.tensor(list(weights), dtype=torch.float32, device=severity.device)
    return table[severity.long().clamp(0, len(weights) - 1)]


def safety_sign(is_safe: torch.Tensor) -> torch.Tensor:
    """s(y): +1 for unsafe, -1 for safe.  [B] bool -> [B] float"""
    return torch.where(is_safe.bool(), -1.0, 1.0)


# --------------------------------------------------------------------------------------------- PPO-Lagrangian


def kl_penalised_scores(
    end_score: torch.Tensor,
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    sign: float,
    clip_range_score: float = 50.0,
) -> torch.Tensor:
    """Per-token reward (sign=-1) or cost (sign=+1) stream.

    r_t = sign * beta * (log pi - log pi_ref) on every response token, plus the clipped end score on the last
    response token. Reward stream: sign=-1 (r = -beta*kl + R); cost stream: sign=+1 (c = +beta*kl + C).
    end_score [B], log_probs/ref_log_probs/mask [B, T] -> [B, T] (zero on padding).
    """
    mask = mask.to(log_probs.dtype)
    kl = (log_probs - ref_log_probs) * mask
    scores = sign * kl_coef * kl
    last = last_token_index(mask)
    clipped = end_score.to(scores.dtype).clamp(-clip_range_score, clip_range_score)
    return scores.scatter_add(1, last.unsqueeze(1), clipped.unsqueeze(1)) * mask


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens.

    delta_t = r_t + gamma * V_{t+1} - V_t ;  A_t = delta_t + gamma * lam * A_{t+1}; V and r are zero past the end
    of each response (mask). Returns (advantages, returns = A + V), both [B, T] and zero on padding.
    """
    mask = mask.to(values.dtype)
    values = values * mask
    rewards = rewards * mask
    T = rewards.size(1)
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(rewards[:, 0])
    next_value = torch.zeros_like(values[:, 0])
    for t in reversed(range(T)):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_adv = (delta + gamma * lam * next_adv) * mask[:, t]
        adv[:, t] = next_adv
        next_value = values[:, t]
    returns = (adv + values) * mask
    return adv.detach(), returns.detach()


def combined_advantage(
    reward_adv: torch.Tensor,
    cost_advs: torch.Tensor | Sequence[torch.Tensor],
    lambdas: torch.Tensor | Sequence[float] | float,
    applies: Optional[torch.Tensor] = None,
    normalize: str = "episode",
) -> torch.Tensor:
    """(A_R - sum_k lambda_k A_C,k) / (1 + sum_k lambda_k), lambda detached; one cost stream is the paper's case.

    ``applies`` [B, K] (bool, B = the episodes, the first dim of ``reward_adv``): which constraints count for each
    episode, for constraints on prompt labels or categories. A constraint that does not apply to an episode adds
    nothing to that episode's penalty (its cost stream there holds only the KL term and the critic's guess), and with
    ``normalize="episode"`` nothing to its denominator either: each episode is normalised by 1 + the sum of its own
    constraints' lambdas, so an episode under no constraint follows A_R at full scale. ``normalize="global"`` divides
    every episode by 1 + sum_k lambda_k. When every constraint applies to every episode both are the paper's formula."""
    if isinstance(cost_advs, torch.Tensor) and cost_advs.dim() == reward_adv.dim():
        cost_advs = [cost_advs]
    lams = torch.as_tensor(lambdas, dtype=reward_adv.dtype, device=reward_adv.device).detach().reshape(-1)
    if lams.numel() != len(cost_advs):
        raise ValueError(f"{lams.numel()} multipliers for {len(cost_advs)} cost streams")
    if normalize not in ("episode", "global"):
        raise ValueError(f"normalize must be 'episode' or 'global', not {normalize!r}")
    if applies is None:
        penalty = sum(lam * a for lam, a in zip(lams, cost_advs))
        return (reward_adv - penalty) / (1.0 + lams.sum())
    if applies.shape != (reward_adv.size(0), lams.numel()):
        raise ValueError(f"applies must be [episodes, constraints] = {(reward_adv.size(0), lams.numel())}, not "
                         f"{tuple(applies.shape)}")
    shape = (-1,) + (1,) * (reward_adv.dim() - 1)
    on = applies.to(reward_adv.dtype)
    penalty = sum(lams[k] * on[:, k].reshape(shape) * a for k, a in enumerate(cost_advs))
    denom = 1.0 + ((on * lams).sum(-1).reshape(shape) if normalize == "episode" else lams.sum())
    return (reward_adv - penalty) / denom


def ppo_actor_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate, masked mean over response tokens. Returns (loss, clip fraction)."""
    ratio = torch.exp(log_probs - old_log_probs)
    surr1 = ratio * advantages
    surr2 = ratio.clamp(1.0 - clip, 1.0 + clip) * advantages
    loss = masked_mean(-torch.minimum(surr1, surr2), mask)
    clipped = ((ratio - 1.0).abs() > clip).to(log_probs.dtype)
    return loss, masked_mean(clipped, mask).detach()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float = 5.0
) -> torch.Tensor:
    """1/2 * masked_mean(max((V - G)^2, (clip(V, V_old +- eps) - G)^2))."""
    clipped = torch.maximum(torch.minimum(values, old_values + clip), old_values - clip)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def lagrange_step(
    log_lambda: float, mean_cost: float, threshold: float, lr: float, lambda_max: Optional[float] = None
) -> float:
    """One SGD step on the multiplier loss -(J_C - d) * lambda w.r.t. log_lambda:

    log_lambda <- log_lambda + lr * lambda * (J_C - d), then capped at log(lambda_max).
    """
    lam = math.exp(log_lambda)
    new = log_lambda + lr * lam * (mean_cost - threshold)
    if lambda_max is not None:
        new = min(new, math.log(lambda_max))
    return new


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Next-token cross-entropy over labelled positions (used for the optional PTX term).  [B, L, V], [B, L]"""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    return F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=ignore_index
    )
