"""The arithmetic of one PPO-Lagrangian step between scoring and the updates, and what the phases hand each other.
Every formula comes from :mod:`safealign.losses` (called through the module, so tests can watch them).

    Scored       what the frozen models and the old policy say about a rollout (scoring phase)
    Advantages   KL-shaped reward / cost streams, GAE per stream and the combined advantage
                 A = (A_R - sum_k lambda_k A_C,k) / (1 + sum_k lambda_k)        (:func:`advantages`)
    UpdateStats  losses and timings of the actor / critic minibatch updates
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

import torch

from safealign import losses as L


def now(device: torch.device) -> float:
    """perf_counter after the device's queued work: GPU kernels run asynchronously, so a phase's time is only its own
    once the device has caught up."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass
class Scored:
    """The scoring phase's read-out of a rollout of B episodes, T response tokens, K constraints."""

    old_lp: torch.Tensor  # [B, T] the acting policy's log-probs
    ref_lp: torch.Tensor  # [B, T] the reference's log-probs
    r_out: Any  # the reward model's read-out (end_scores [B, 1+], hidden states for the critic or None)
    c_out: Any  # the cost model's read-out (end_scores [B, outputs], hidden or None)
    old_rv: torch.Tensor  # [B, T] reward critic values (raw score units)
    old_cv: torch.Tensor  # [B, T, K] cost critic values (raw)
    reward: torch.Tensor  # [B] end reward
    costs: torch.Tensor  # [B, K] end cost of each constraint (0 where it does not apply)
    valid: torch.Tensor  # [B, K] bool: the constraint applies to the episode
    mask: torch.Tensor  # [B, T] response tokens
    # the critics' forwards of the scoring phase kept for their update ([B, T, 1] and [B, T, K], with their graphs),
    # where one minibatch of one epoch reads the very values the old values are; None: the update runs its own
    live_values: Optional[tuple[torch.Tensor, torch.Tensor]] = None


@dataclass
class Advantages:
    """The advantage phase's output, in the scaled units the critics are read in (scale 1 without score scaling)."""

    scales: torch.Tensor  # [1+K] divisors of the reward and each cost stream
    old_rv: torch.Tensor  # [B, T] scaled old reward values
    old_cv: torch.Tensor  # [B, T, K] scaled old cost values
    advantages: torch.Tensor  # [B, T] combined advantage
    ret_r: torch.Tensor  # [B, T] reward returns
    adv_c: torch.Tensor  # [B, T, K] cost advantages
    ret_c: torch.Tensor  # [B, T, K] cost returns


def advantages(s: Scored, lambdas: list[float], scales: torch.Tensor, cfg: Any) -> Advantages:
    """KL-shaped streams (reward -beta*KL, each cost +beta*KL; end scores clipped), GAE per stream against the old
    critic values, and the combined advantage (only the constraints that apply to an episode, see
    :func:`safealign.losses.combined_advantage`). With score scaling the advantages read scaled scores, and the critics,
    whose heads start as the score models and so speak raw units, are read in the same scaled units."""
    mask = s.mask
    s_reward, s_costs = s.reward / scales[0], s.costs / scales[1:]
    old_rv, old_cv = s.old_rv / scales[0], s.old_cv / scales[1:]
    r_stream = L.kl_penalised_scores(s_reward, s.old_lp, s.ref_lp, mask, cfg.kl_coef, -1.0, cfg.clip_range_score)
    adv_r, ret_r = L.gae(r_stream, old_rv, mask, cfg.gamma, cfg.gae_lambda)
    adv_c, ret_c = [], []
    for k in range(len(lambdas)):
        c_stream = L.kl_penalised_scores(
            s_costs[:, k], s.old_lp, s.ref_lp, mask, cfg.kl_coef, +1.0, cfg.clip_range_score
        )
        a, g = L.gae(c_stream, old_cv[..., k], mask, cfg.gamma, cfg.gae_lambda)
        adv_c.append(a)
        ret_c.append(g)
    combined = L.combined_advantage(adv_r, adv_c, lambdas, applies=s.valid, normalize=cfg.advantage_normalization)
    return Advantages(
        scales=scales, old_rv=old_rv, old_cv=old_cv, advantages=combined, ret_r=ret_r,
        adv_c=torch.stack(adv_c, -1), ret_c=torch.stack(ret_c, -1),
    )


@dataclass
class UpdateStats:
    """Per-minibatch losses of the update phase, and its time split between actor and critics."""

    actor_losses: list[float] = field(default_factory=list)
    clip_fracs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    ptx_losses: list[float] = field(default_factory=list)
    reward_value_losses: list[float] = field(default_factory=list)
    cost_value_losses: list[float] = field(default_factory=list)
    t_actor: float = 0.0
    t_critic: float = 0.0
    ptx: Optional[float] = None  # the step's PTX loss (unweighted), when there is PTX data

    def means(self) -> dict[str, float]:
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        return {
            "entropy": mean(self.entropies),
            "clip_frac": mean(self.clip_fracs),
            "actor_loss": mean(self.actor_losses),
            "reward_value_loss": mean(self.reward_value_losses),
            "cost_value_loss": mean(self.cost_value_losses),
        }


def ptx_loss(actor: Any, processing_class: Any, rows: list[dict[str, Any]], device: Any) -> torch.Tensor:
    """The supervised LM loss of the PTX rows (prompt [, system], response) under the actor: the chat template's
    prompt, then the response, whose tokens alone are scored."""
    from safealign.models.chat_format import render_messages, tokenizer_of
    from safealign.models.conversation import build_messages

    tok = tokenizer_of(processing_class)
    ids, labels = [], []
    for row in rows:
        system = row.get("system")
        prompt = render_messages(processing_class, build_messages(row["prompt"], None, system), True)
        full = render_messages(processing_class, build_messages(row["prompt"], row["response"], system))
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        ids.append(f_ids)
        labels.append([-100] * len(p_ids) + f_ids[len(p_ids) :])
    L_max = max(len(x) for x in ids)
    pad = tok.pad_token_id
    input_ids = torch.tensor([x + [pad] * (L_max - len(x)) for x in ids], device=device)
    attn = torch.tensor([[1] * len(x) + [0] * (L_max - len(x)) for x in ids], device=device)
    lab = torch.tensor([y + [-100] * (L_max - len(y)) for y in labels], device=device)
    logits = actor(input_ids=input_ids, attention_mask=attn, use_cache=False).logits
    return L.sft_loss(logits, lab)
