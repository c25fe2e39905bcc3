"""Generalisation splits of the constraint families and the evaluation sets built from them.

One seed fixes three held-out sides (the rule of :mod:`safealign.janus.families.splits`: units ranked by
``sha256(f"{seed}:{unit}")``):

- **unseen families**: whole groups of families (all JSON shapes, all casing rules, ...) never seen in training;
- **unseen phrasings**: of the training families, some phrasings (wordings) are never used in training;
- **unseen combinations**: of the training families, some compatible pairs never appear together in training.

Training messages (:meth:`Splits.train_sampler_kwargs`) use the training families, the training phrasings and the
training pairs only. :func:`evaluation_sets` builds one set of prompt records per held-out side (plus ``seen``:
training-like messages on held-out prompts, the reference point), each record carrying its ``constraints``;
:func:`evaluate_generalisation` scores a backend on each set with the checkers, one report per side.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any, Optional

from safealign.data.records import PromptRecord
from safealign.errors import ConfigError
from safealign.janus.adherence import evaluate_adherence
from safealign.janus.families import sample_system, split_families, split_pairs, split_phrasings

SIDES = ("seen", "unseen_families", "unseen_phrasings", "unseen_combinations")


@dataclass
class Splits:
    train_families: list[str]
    held_families: list[str]
    train_phrasings: list[str]
    held_phrasings: list[str]
    train_pairs: list[frozenset[str]]
    held_pairs: list[frozenset[str]]

    def train_sampler_kwargs(self) -> dict[str, Any]:
        """Restrictions for :func:`safealign.janus.families.sample_system` that keep every held-out side unseen."""
        return {"families": self.train_families, "phrasing_ids": self.train_phrasings, "pairs": self.train_pairs}

    def summary(self) -> dict[str, Any]:
        return {
            "train_families": self.train_families,
            "held_out_families": self.held_families,
            "train_phrasings": len(self.train_phrasings),
            "held_out_phrasings": len(self.held_phrasings),
            "train_pairs": len(self.train_pairs),
            "held_out_pairs": len(self.held_pairs),
        }


def make_splits(
    seed: int = 0, held_out_families: float = 0.25, held_out_phrasings: float = 0.2, held_out_pairs: float = 0.2
) -> Splits:
    """Families held out by whole groups; phrasings and pairs held out among the training families."""
    train_f, held_f = split_families(seed, held_out_families, unit="group")
    train_p, held_p = split_phrasings(seed, held_out_phrasings, families=train_f)
    train_pairs, held_pairs = split_pairs(seed, held_out_pairs, families=train_f)
    return Splits(train_f, held_f, train_p, held_p, train_pairs, held_pairs)


def _side_kwargs(splits: Splits, side: str) -> dict[str, Any]:
    if side == "seen":
        return {**splits.train_sampler_kwargs(), "n_constraints": (1, 3)}
    if side == "unseen_families":
        return {"families": splits.held_families, "n_constraints": (1, 2)}
    if side == "unseen_phrasings":
        return {"families": splits.train_families, "phrasing_ids": splits.held_phrasings, "n_constraints": (1, 2)}
    if side == "unseen_combinations":
        return {
            "families": splits.train_families,
            "phrasing_ids": splits.train_phrasings,
            "pairs": splits.held_pairs,
            "n_constraints": 2,
        }
    raise ConfigError(f"unknown evaluation side {side!r} (known: {', '.join(SIDES)})")


def evaluation_sets(
    prompts: list[str], splits: Splits, n_per_side: int, seed: int = 0, sides: tuple[str, ...] = SIDES
) -> dict[str, list[PromptRecord]]:
    """``{side: n_per_side records}``: a sampled system message of that side on a prompt (prompts cycle in a
    seed-shuffled order). Deterministic in (prompts, splits, n_per_side, seed)."""
    if not prompts:
        raise ConfigError("no evaluation prompts")
    out: dict[str, list[PromptRecord]] = {}
    for side in sides:
        rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{side}".encode()).digest()[:8], "big"))
        order = prompts[:]
        rng.shuffle(order)
        recs = []
        for i in range(n_per_side):
            s = sample_system(rng, **_side_kwargs(splits, side))
            rec = PromptRecord(order[i % len(order)], s.text, id=f"{side}-{i}")
            rec.constraints = s.constraints  # type: ignore[attr-defined]
            rec.phrasing_ids = s.phrasing_ids  # type: ignore[attr-defined]
            recs.append(rec)
        out[side] = recs
    return out


def evaluate_generalisation(
    backend: Any, sets: dict[str, list[PromptRecord]], params: Optional[Any] = None
) -> dict[str, dict[str, Any]]:
    """``{side: adherence report}`` (see :func:`safealign.janus.adherence.adherence_score`), one per side."""
    return {side: evaluate_adherence(backend, recs, params)[0] for side, recs in sets.items()}
