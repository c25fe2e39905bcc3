"""The public prompt sets of a ``shared/data/external`` folder, labelled and split by the project's fixed rule.

The package never depends on these files: a command reads them only when it is given the folder (``--shared-data``),
and tests and benchmarks find them at ``../shared/data`` beside the checkout. Each set is read with the plain-prompt
adapter, labelled (every prompt of a harmful set is harmful by construction; the instruction sets are benign), given
a stable id ``<set>:<row id or row number>`` and split by :func:`safealign.data.splits.split_of` on its normalised
text (:func:`split_key`: lower case, whitespace collapsed), so that a prompt found in two sets (FLASK repeats
Self-Instruct and Koala prompts) falls in the same split in both.

    from safealign.data.shared_sets import load_shared_prompts
    train = load_shared_prompts("../shared/data", split="train")                 # every set's train part
    held = load_shared_prompts("../shared/data", sets=["advbench"], split="heldout")
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Optional

from safealign.data.io import load_prompts
from safealign.data.records import PromptRecord
from safealign.data.splits import check_split, split_of
from safealign.errors import DataError


@dataclass(frozen=True)
class SharedSet:
    name: str
    file: str
    label: str  # harmful / benign
    trainable: bool = True  # False: the set's licence or README says evaluation only
    category_column: Optional[str] = None  # overrides the adapter's choice of category column


SHARED_SETS: dict[str, SharedSet] = {
    s.name: s
    for s in (
        SharedSet("beavertails", "beavertails_evaluation.json", "harmful"),
        SharedSet("advbench", "advbench_harmful_behaviors.csv", "harmful"),
        SharedSet("saferlhf_redteam", "saferlhf_redteam_problems.json", "harmful"),
        SharedSet("harmbench", "harmbench_behaviors_text_all.csv", "harmful"),
        SharedSet("simple_safety_tests", "simple_safety_tests.csv", "harmful", category_column="harm_area"),
        SharedSet("alpaca_eval", "alpaca_eval_prompts.json", "benign"),
        SharedSet("self_instruct_user", "self_instruct_user_oriented.jsonl", "benign"),
        SharedSet("self_instruct_seed", "self_instruct_seed_tasks.jsonl", "benign"),
        SharedSet("mt_bench", "mt_bench_questions.jsonl", "benign"),
        SharedSet("flask", "flask_evaluation.jsonl", "benign"),
        # the Koala test set's README: for evaluation only, not for training
        SharedSet("koala", "koala_test_set.jsonl", "benign", trainable=False),
    )
}
HARMFUL_SETS = tuple(n for n, s in SHARED_SETS.items() if s.label == "harmful")
BENIGN_SETS = tuple(n for n, s in SHARED_SETS.items() if s.label == "benign")


def external_dir(root: str | os.PathLike) -> Path:
    """``root`` may be the shared folder, its ``data`` folder or ``data/external`` itself."""
    root = Path(root)
    for cand in (root / "data" / "external", root / "external", root):
        if (cand / SHARED_SETS["advbench"].file).exists() or (cand / SHARED_SETS["alpaca_eval"].file).exists():
            return cand
    raise DataError(f"{root}: no shared prompt sets found (expected e.g. {SHARED_SETS['advbench'].file} in it)")


def split_key(prompt: str) -> str:
    """The key the split rule hashes: the prompt's text, lower-cased with whitespace collapsed."""
    return "prompt:" + " ".join(prompt.lower().split())


def _row_category(record: PromptRecord, raw_category: Optional[str]) -> Optional[str]:
    return raw_category if raw_category is not None else record.category


def load_shared_set(root: str | os.PathLike, name: str, split: Optional[str] = None) -> list[PromptRecord]:
    """One set's prompts (labelled, with stable ids), all of them or one split's."""
    check_split(split)
    if name not in SHARED_SETS:
        raise DataError(f"unknown shared set {name!r}; known: {', '.join(SHARED_SETS)}")
    spec = SHARED_SETS[name]
    path = external_dir(root) / spec.file
    if not path.exists():
        raise DataError(f"{path}: file not found (shared set {name!r})")
    records = load_prompts(path, label=spec.label)
    categories: list[Optional[str]] = [None] * len(records)
    if spec.category_column:  # a CSV whose adapter-chosen category column is not the harm category
        with open(path, newline="", encoding="utf-8") as f:
            categories = [row.get(spec.category_column) or None for row in csv.DictReader(f)]
        if len(categories) != len(records):
            raise DataError(f"{path}: {len(categories)} rows read as CSV but {len(records)} prompts")
    out = []
    for i, rec in enumerate(records):
        key = f"{name}:{rec.id if rec.id is not None else i}"
        rec = replace(rec, id=key, label=spec.label, category=_row_category(rec, categories[i]))
        if split is None or split_of(split_key(rec.prompt)) == split:
            out.append(rec)
    return out


def load_shared_prompts(
    root: str | os.PathLike,
    sets: Optional[Iterable[str]] = None,
    split: Optional[str] = None,
    trainable_only: bool = False,
) -> list[PromptRecord]:
    """Several sets at once (default: all), in the table's order."""
    names = list(sets) if sets is not None else list(SHARED_SETS)
    return [
        r
        for n in names
        if not (trainable_only and not SHARED_SETS[n].trainable)
        for r in load_shared_set(root, n, split)
    ]
