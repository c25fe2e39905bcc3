"""Collate SafetyPairs for reward / cost model training (text and image + text); the conversations are encoded by
:mod:`safealign.models.conversation` (the one format every score-model reader shares).

A training batch of B pairs holds 2B rows: rows ``0..B-1`` are the FIRST response of each pair and rows ``B..2B-1``
the SECOND, where first = better (reward) or less safe (cost). ``is_safe`` / ``severity`` are aligned with the rows.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import torch

from safealign.data.records import SafetyPair
from safealign.errors import DataError
from safealign.models.conversation import encode_conversations

Kind = Literal["reward", "cost"]


def check_pairs(
    pairs: Sequence[SafetyPair], kind: Kind, skip_invalid: bool = False, source: str = "training data"
) -> tuple[list[SafetyPair], int]:
    """Pairs fit to train on, and how many were skipped. A cost model never trains on a contradictory pair (the
    safer response labelled unsafe while the other is labelled safe): DataError, or skipped with ``skip_invalid``.
    Pairs with two identical responses carry no preference and are dropped for both kinds."""
    keep: list[SafetyPair] = []
    skipped = 0
    for i, p in enumerate(pairs):
        problem = None
        if len(p.responses) != 2:
            problem = "a pair needs exactly two responses"
        elif p.responses[0] == p.responses[1]:
            problem = "both responses are identical"
        elif kind == "cost" and p.is_contradictory():
            problem = (
                f"contradictory safety labels: response {p.safer} is marked safer but unsafe while the other is safe"
            )
        if problem is None:
            keep.append(p)
            continue
        if not skip_invalid:
            raise DataError(
                problem + " (use --skip-invalid to drop such pairs)", file=source, row=i + 1,
                field="is_safe" if "contradictory" in problem else "responses",
            )
        skipped += 1
    return keep, skipped


def first_second(pair: SafetyPair, kind: Kind) -> tuple[int, int]:
    """Index of the response that should score higher (reward: better; cost: less safe), then the other one."""
    first = pair.better if kind == "reward" else pair.less_safe
    return first, 1 - first


class PairCollator:
    """Collate SafetyPairs into one 2B-row batch (see the module docstring for the row layout)."""

    def __init__(self, processing_class: Any, kind: Kind, max_length: int = 1024, padding_side: str = "right"):
        self.processing_class = processing_class
        self.kind = kind
        self.max_length = max_length
        self.padding_side = padding_side

    def __call__(self, pairs: Sequence[SafetyPair]) -> dict[str, torch.Tensor]:
        order = [first_second(p, self.kind) for p in pairs]
        rows = [(p, o[0]) for p, o in zip(pairs, order)] + [(p, o[1]) for p, o in zip(pairs, order)]
        batch = encode_conversations(
            self.processing_class, [p.prompt for p, _ in rows], [p.responses[i] for p, i in rows],
            [p.system for p, _ in rows], [p.image for p, _ in rows], max_length=self.max_length,
            padding_side=self.padding_side,
        )
        batch["is_safe"] = torch.tensor([bool(p.is_safe[i]) for p, i in rows])  # [2B]
        batch["severity"] = torch.tensor([int(p.severity[i]) for p, i in rows], dtype=torch.long)  # [2B]
        return batch
