"""From a guard's logits to a verdict: temperature scaling, calibration error, the operating threshold for a stated
false-positive rate, and the :class:`GuardVerdict` of one item. Shared by the frozen-embedding and fine-tuned guards."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from safealign.guard.decision import SEVERITIES, GuardVerdict


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, steps: int = 200) -> float:
    """Temperature T minimising the NLL of sigmoid(logits / T) on held-out labels (temperature scaling)."""
    if logits.numel() == 0 or labels.min() == labels.max():
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=steps)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp().clamp(0.05, 20.0))
    return t if math.isfinite(t) else 1.0


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """ECE of binary probabilities: sum over equal-width bins of |accuracy - confidence| weighted by bin size."""
    if probs.numel() == 0:
        return 0.0
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (probs > lo) & (probs <= hi) if lo > 0 else (probs >= lo) & (probs <= hi)
        if sel.any():
            ece += sel.float().mean().item() * abs(labels[sel].float().mean().item() - probs[sel].mean().item())
    return ece


def threshold_for_fpr(safe_probs: Sequence[float], target_fpr: float, floor: float = 0.05, ceil: float = 0.99) -> float:
    """The lowest threshold t (P >= t is unsafe) that flags at most ``target_fpr`` of the safe items' probabilities:
    just above the k-th largest, k = floor(target_fpr * n). Clamped to [floor, ceil]; 0.5 with no safe items."""
    probs = sorted((float(p) for p in safe_probs), reverse=True)
    if not probs:
        return 0.5
    k = int(math.floor(target_fpr * len(probs)))  # this many safe items may be flagged
    if k >= len(probs):
        return floor
    t = math.nextafter(probs[k], 2.0)  # strictly above the (k+1)-th largest: exactly k items are >= t (ties aside)
    return min(max(t, floor), ceil)


def operating_threshold(
    safe_probs: Sequence[float],
    unsafe_probs: Sequence[float],
    target_fpr: float,
    floor: float = 0.05,
    ceil: float = 0.99,
) -> float:
    """The operating threshold on a dev split. The stated FPR is an upper bound (:func:`threshold_for_fpr` gives the
    lowest threshold within it); among the thresholds at or above that one, the one with the largest recall - FPR
    (ties: the lowest) is taken, then set midway between the lowest score it flags and the highest it does not (the
    same items are flagged), so that it keeps a margin on both sides instead of sitting just above a safe item."""
    t0 = threshold_for_fpr(safe_probs, target_fpr, floor, ceil)
    safe = [float(p) for p in safe_probs]
    unsafe = [float(p) for p in unsafe_probs]
    if not safe or not unsafe:
        return t0

    def youden(t: float) -> float:
        return sum(p >= t for p in unsafe) / len(unsafe) - sum(p >= t for p in safe) / len(safe)

    best, best_j = t0, youden(t0)
    for c in sorted({p for p in safe + unsafe if t0 < p <= ceil}):
        j = youden(c)
        if j > best_j + 1e-12:
            best, best_j = c, j
    scores = safe + unsafe
    flagged = [p for p in scores if p >= best]
    unflagged = [p for p in scores if p < best]
    if not flagged or not unflagged:
        return best
    return min(max((max(unflagged) + min(flagged)) / 2, floor), ceil)


def verdict_from_probs(
    p: float,
    sev: torch.Tensor,
    cat: torch.Tensor,
    names: list[str],
    threshold: float,
    stage: str,
    category_threshold: float = 0.5,
) -> GuardVerdict:
    """``p`` = P(unsafe); ``sev`` = P(severity | unsafe) [3]; ``cat`` = P(category) [K]."""
    unsafe = p >= threshold
    probs = {n: float(cat[j]) for j, n in enumerate(names)}
    cats = [n for n, q in sorted(probs.items(), key=lambda kv: -kv[1]) if q >= category_threshold] if unsafe else []
    if unsafe and not cats and probs:
        cats = [max(probs, key=probs.get)]  # an unsafe verdict names at least its most likely category
    severity = SEVERITIES[1 + int(torch.argmax(sev))] if unsafe else "safe"
    return GuardVerdict(
        unsafe_prob=p, is_unsafe=unsafe, severity=severity, categories=cats, stage=stage, category_probs=probs
    )
