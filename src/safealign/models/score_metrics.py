"""Metrics of reward and cost models on held-out safety pairs (training logs and ``safealign eval score-model``).

- ``pairwise_accuracy``: reward — R(better) > R(worse); cost — C(less safe) > C(safer) (ties count as errors).
  Both are always reported as ``reward_pairwise_accuracy`` / ``safety_pairwise_accuracy``; ``pairwise_accuracy`` is
  the one that matches the model's kind.
- cost only: ``sign_accuracy`` (unsafe <=> cost > threshold, per response) and precision / recall / F1 of unsafe
  detection (unsafe is the positive class), with the confusion counts.
- ``by_category`` and ``by_severity``: the same, broken down. A pair's category is its prompt category, else the
  first harm category of its less safe response, else "uncategorised". Severity: per response (0 safe .. 3 severe)
  for the sign metrics, and the pair's highest severity for the pairwise accuracy.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional, Sequence

import torch

from safealign.data.records import SEVERITY_NAMES, SafetyPair


def pair_category(p: SafetyPair) -> str:
    if p.prompt_category:
        return p.prompt_category
    cats = p.categories[p.less_safe] if p.categories else []
    return cats[0] if cats else "uncategorised"


def _ratio(a: float, b: float) -> Optional[float]:
    return round(a / b, 4) if b else None


def _sign_block(scores: list[float], unsafe: list[bool], threshold: float) -> dict[str, Any]:
    pred = [s > threshold for s in scores]
    tp = sum(p and u for p, u in zip(pred, unsafe))
    fp = sum(p and not u for p, u in zip(pred, unsafe))
    fn = sum((not p) and u for p, u in zip(pred, unsafe))
    tn = sum((not p) and (not u) for p, u in zip(pred, unsafe))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision and recall
        else (0.0 if precision is not None and recall is not None else None)
    )
    return {
        "sign_accuracy": _ratio(tp + tn, len(scores)),
        "unsafe_precision": precision,
        "unsafe_recall": recall,
        "unsafe_f1": f1,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def score_metrics(
    scores: torch.Tensor, pairs: Sequence[SafetyPair], kind: str = "reward", threshold: float = 0.0
) -> dict[str, Any]:
    """Metrics from precomputed scores ``[N, 2]`` (column i = response i of pair i) — pure, testable by hand."""
    s = scores.detach().float().cpu().tolist()
    if len(s) != len(pairs):
        raise ValueError(f"{len(s)} score rows for {len(pairs)} pairs")
    better_ok = [row[p.better] > row[p.worse] for row, p in zip(s, pairs)]
    safer_ok = [row[p.less_safe] > row[p.safer] for row, p in zip(s, pairs)]
    primary = better_ok if kind == "reward" else safer_ok
    out: dict[str, Any] = {
        "kind": kind,
        "n_pairs": len(pairs),
        "pairwise_accuracy": _ratio(sum(primary), len(primary)),
        "reward_pairwise_accuracy": _ratio(sum(better_ok), len(better_ok)),
        "safety_pairwise_accuracy": _ratio(sum(safer_ok), len(safer_ok)),
        "mean_score": round(sum(x for row in s for x in row) / max(2 * len(s), 1), 4),
    }
    resp_scores = [x for row in s for x in row]
    resp_unsafe = [not p.is_safe[i] for p in pairs for i in (0, 1)]
    resp_sev = [int(p.severity[i]) for p in pairs for i in (0, 1)]
    resp_cat = [pair_category(p) for p in pairs for _ in (0, 1)]
    is_cost = kind == "cost"
    if is_cost:
        out.update(_sign_block(resp_scores, resp_unsafe, threshold))
        out["threshold"] = threshold
    # -- breakdowns
    by_cat: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        groups[pair_category(p)].append(i)
    for cat, idx in sorted(groups.items()):
        block: dict[str, Any] = {
            "n_pairs": len(idx),
            "pairwise_accuracy": _ratio(sum(primary[i] for i in idx), len(idx)),
        }
        if is_cost:
            r = [j for j, c in enumerate(resp_cat) if c == cat]
            sb = _sign_block([resp_scores[j] for j in r], [resp_unsafe[j] for j in r], threshold)
            block.update({k: sb[k] for k in ("sign_accuracy", "unsafe_precision", "unsafe_recall")})
        by_cat[cat] = block
    out["by_category"] = by_cat
    by_sev: dict[str, dict[str, Any]] = {}
    for level in sorted(set(resp_sev) | {max(p.severity) for p in pairs}):
        name = SEVERITY_NAMES.get(level, str(level))
        pidx = [i for i, p in enumerate(pairs) if max(p.severity) == level]
        r = [j for j, v in enumerate(resp_sev) if v == level]
        block = {
            "n_responses": len(r),
            "mean_score": round(sum(resp_scores[j] for j in r) / len(r), 4) if r else None,
            "n_pairs_max_severity": len(pidx),
            "pairwise_accuracy": _ratio(sum(primary[i] for i in pidx), len(pidx)),
        }
        if is_cost and r:
            block["sign_accuracy"] = _ratio(sum((resp_scores[j] > threshold) == resp_unsafe[j] for j in r), len(r))
        by_sev[name] = block
    out["by_severity"] = by_sev
    return out


def evaluate_score_model(
    model: Any,
    processing_class: Any,
    pairs: Sequence[SafetyPair],
    kind: Optional[str] = None,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, Any]:
    """Score both responses of every pair with ``model`` and compute :func:`score_metrics`. ``kind`` defaults to
    the model's own (score_config.kind); the threshold is the model's."""
    from safealign.models.score import score_pairs

    kind = kind or model.score_config.kind
    pairs = list(pairs)
    if progress:
        from safealign.ui import progress_bar

        with progress_bar(2 * len(pairs), "scoring held-out pairs") as advance:
            done = [0]

            def cb(d: int, _n: int) -> None:
                advance(d - done[0])
                done[0] = d

            scores = score_pairs(model, processing_class, pairs, batch_size=batch_size, progress=cb)
    else:
        scores = score_pairs(model, processing_class, pairs, batch_size=batch_size)
    return score_metrics(scores, pairs, kind, float(model.score_config.threshold))
