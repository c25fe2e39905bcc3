"""Deterministic, balanced picks from several prompt sets (evaluation suites, training mixes).

Each set is put in a seeded order (SHA-256 of the seed and the record's id, so the order of a set never depends on
the others or on the machine), then records are taken from the sets in turn, so every set is represented.
"""

from __future__ import annotations

import hashlib
from typing import Mapping, Sequence

from safealign.data.records import PromptRecord


def seeded_order(records: Sequence[PromptRecord], seed: int) -> list[PromptRecord]:
    return sorted(records, key=lambda r: hashlib.sha256(f"{seed}:{r.id}:{r.prompt}".encode("utf-8")).hexdigest())


def round_robin(by_set: Mapping[str, Sequence[PromptRecord]], n: int, seed: int = 0) -> list[PromptRecord]:
    """``n`` records taken in turn from each set (sets in name order, each in its seeded order); fewer when the sets
    hold fewer."""
    queues = {k: seeded_order(v, seed) for k, v in sorted(by_set.items()) if v}
    out: list[PromptRecord] = []
    pos = dict.fromkeys(queues, 0)
    while len(out) < n and any(pos[k] < len(q) for k, q in queues.items()):
        for k, q in queues.items():
            if pos[k] < len(q) and len(out) < n:
                out.append(q[pos[k]])
                pos[k] += 1
    return out
