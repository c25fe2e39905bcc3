"""Helpfulness pairs against over-refusal: on a benign prompt, an answer is more helpful than a refusal.

A reward model trained only on pairs of two real answers may never have seen a refusal of an everyday request, and
then scores one about as high as an answer ("I'm not going to help with storing rice, but I can suggest something
else" can outscore the answer it replaced). A PPO-Lagrangian policy pushed towards refusals by its cost constraint
then over-refuses benign look-alikes at no cost in reward. Safe RLHF's helpfulness annotators rank a refusal below
an answer that helps; these pairs teach the reward model that ranking in the policy's own words.

Input: ``safealign data collect``'s ``<stem>.answers.jsonl`` of a policy that over-refuses (prompt, answer,
harmful_prompt, unsafe, refusal, as its judge wrote them), optionally with best-of rows (``safealign data best-of``:
prompt, response) as the preferred helpful side. Per benign prompt, each refusal is paired with a helpful answer:
the best-of answer first, then the policy's own safe non-refusing answers in turn. Harmful prompts are left out (a
refusal is the right answer there; helpfulness vs harm is the cost model's job), as are answers the judge marked
unsafe, and prompts with no refusal or no helpful answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from safealign.config import BaseConfig, help_field
from safealign.data.io import read_jsonl_rows
from safealign.data.records import SafetyPair
from safealign.errors import DataError

Rows = Union[str, Path, Iterable[dict[str, Any]]]


@dataclass
class RefusalPairsConfig(BaseConfig):
    """Helpfulness pairs against over-refusal: on each benign prompt, a helpful answer beats each refusal.

    Typical round: data collect (benign prompts, an over-refusing policy) -> refusal-pairs -> train reward.

    Harmful prompts and answers the judge marked unsafe are left out."""

    answers: list[str] = help_field(
        help="data collect's <stem>.answers.jsonl of a policy that over-refuses (prompt, answer, harmful_prompt, "
        "unsafe, refusal); comma-separated for several.",
        positional=True,
    )
    out: str = help_field(
        help="Output JSONL of helpfulness pairs in our schema (the answer is 'better' than the refusal); add it to a "
        "reward model's --data.",
        positional=True,
    )
    helpful: Optional[str] = help_field(
        None,
        "best-of rows (prompt, response): the preferred helpful side of each prompt's pairs, before the policy's own "
        "non-refusing answers.",
    )
    as_json: bool = help_field(False, "Print the counts as JSON on stdout.", flags=("--json",))


@dataclass
class RefusalPairStats:
    benign_prompts: int = 0  # distinct (system, prompt) keys of benign prompts seen
    refusals: int = 0  # refusals to benign prompts
    pairs: int = 0
    prompts_without_helpful: int = 0  # benign prompts that drew refusals but no helpful answer (no pairs)

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def _text(row: dict[str, Any], src: str, n: int, keys: tuple[str, ...]) -> str:
    for k in keys:
        if isinstance(row.get(k), str):
            return row[k]
    raise DataError(f"missing or not a string (need {' or '.join(keys)})", file=src, row=n, field=keys[0])


def _sources(source: Union[Rows, list[Union[str, Path]]], name: str = "rows") -> list[tuple[str, list[dict[str, Any]]]]:
    """(name for errors, rows) of one file, several files, or rows given directly (named ``name``)."""
    if isinstance(source, (str, Path)):
        return [(str(source), read_jsonl_rows(source))]
    source = list(source)
    if source and all(isinstance(a, (str, Path)) for a in source):
        return [(str(a), read_jsonl_rows(a)) for a in source]
    return [(name, source)]


def refusal_pairs(answers: Union[Rows, list[Union[str, Path]]], helpful: Optional[Rows] = None
                  ) -> tuple[list[SafetyPair], RefusalPairStats]:
    """Pairs (helpful answer, refusal) with ``better = 0``, both safe, in the order the prompts first appear.

    ``answers``: one answers file, several (their answers to the same prompt pool together), or rows."""
    best: dict[tuple[Optional[str], str], str] = {}
    for hsrc, hrows in _sources(helpful if helpful is not None else [], name="helpful rows"):
        for n, r in enumerate(hrows, 1):
            key = (r.get("system") or None, _text(r, hsrc, n, ("prompt",)))
            best.setdefault(key, _text(r, hsrc, n, ("response", "answer")))

    refusals: dict[tuple[Optional[str], str], list[str]] = {}
    own: dict[tuple[Optional[str], str], list[str]] = {}
    ids: dict[tuple[Optional[str], str], str] = {}
    for src, rows in _sources(answers):
        for n, r in enumerate(rows, 1):
            prompt, answer = _text(r, src, n, ("prompt",)), _text(r, src, n, ("answer", "response"))
            if not isinstance(r.get("refusal"), bool):
                raise DataError("missing or not true/false (label the answers with `safealign data collect`)",
                                file=src, row=n, field="refusal")
            if r.get("harmful_prompt") or r.get("label") == "harmful" or r.get("unsafe"):
                continue
            key = (r.get("system") or None, prompt)
            ids.setdefault(key, str(r.get("id") or f"benign-{len(ids)}"))
            refusals.setdefault(key, [])
            (refusals if r["refusal"] else own).setdefault(key, []).append(answer)

    stats = RefusalPairStats(benign_prompts=len(ids))
    pairs: list[SafetyPair] = []
    for key, refused in refusals.items():
        stats.refusals += len(refused)
        candidates = ([best[key]] if key in best else []) + own.get(key, [])
        if refused and not candidates:
            stats.prompts_without_helpful += 1
            continue
        for k, refusal in enumerate(refused):
            pairs.append(SafetyPair(prompt=key[1], responses=(candidates[k % len(candidates)], refusal), better=0,
                                    safer=1, is_safe=(True, True), system=key[0], id=f"{ids[key]}-r{k}"))
    stats.pairs = len(pairs)
    return pairs, stats
