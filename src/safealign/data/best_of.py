"""Best-of-n selection (rejection sampling): per prompt, the highest-scored of a policy's own sampled answers.

The rows it returns are supervised data in the policy's own words, e.g. the benign half of a PPO run's PTX loss, so
that the supervised term pulls towards the policy's best behaviour instead of towards another writer's style (Llama 2
fine-tuned on such rows between its RLHF rounds). The input is ``safealign data collect``'s answers file scored by
``safealign score`` (any JSONL with prompt, answer or response, and a score).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Union

from safealign.config import BaseConfig, help_field
from safealign.data.io import read_jsonl_rows
from safealign.errors import DataError


@dataclass
class BestOfConfig(BaseConfig):
    """Best-of-n (rejection sampling): keep each prompt's highest-scored answer, in the policy's own words.

    Typical round: data collect (N samples per prompt) -> score -m REWARD -> best-of -> ptx_data of a PPO run."""

    scored: str = help_field(
        help="Scored answers JSONL: `safealign score` output on data collect's <stem>.answers.jsonl (prompt, answer, "
        "score).",
        positional=True,
    )
    out: str = help_field(
        help="Output JSONL of supervised rows (prompt, system, response, score, candidates); usable as SFT data or a "
        "PPO run's ptx_data.",
        positional=True,
    )
    score_key: str = help_field("score", "The field that ranks the answers.")
    keep_unsafe: bool = help_field(
        False, "Let answers the collect judge marked unsafe compete.", flags=("--keep-unsafe",)
    )
    keep_refusals: bool = help_field(
        False, "Let refusals compete (by default they are passed over: best-of-n is for helpful answers).",
        flags=("--keep-refusals",),
    )
    min_score: Optional[float] = help_field(None, "Drop a prompt whose best answer scores under this.")
    as_json: bool = help_field(False, "Print the counts as JSON on stdout.", flags=("--json",))


def best_of(
    rows: Union[str, Path, Iterable[dict[str, Any]]],
    *,
    score_key: str = "score",
    skip_unsafe: bool = True,
    skip_refusals: bool = True,
    min_score: Optional[float] = None,
) -> list[dict[str, Any]]:
    """One row per distinct (system, prompt): the answer with the highest ``score_key``.

    Answers marked ``unsafe`` or ``refusal`` (by ``data collect``'s judge) are passed over unless told otherwise; a
    prompt left with no candidate, or whose best score is under ``min_score``, gives no row. Ties keep the first
    answer. Output rows: prompt, system (when set), response, score, candidates (how many answers competed); in the
    order the prompts first appear."""
    src = str(rows) if isinstance(rows, (str, Path)) else "rows"
    data = read_jsonl_rows(rows) if isinstance(rows, (str, Path)) else list(rows)
    best: dict[tuple[Optional[str], str], dict[str, Any]] = {}
    count: dict[tuple[Optional[str], str], int] = {}
    for n, r in enumerate(data, 1):
        prompt = r.get("prompt")
        answer = r.get("answer", r.get("response"))
        if not isinstance(prompt, str) or not isinstance(answer, str):
            field = "prompt" if not isinstance(prompt, str) else "answer"
            raise DataError(
                "missing or not a string (need prompt and answer or response)", file=src, row=n, field=field
            )
        score = r.get(score_key)
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise DataError(
                "missing or not a number (score the answers with `safealign score`)", file=src, row=n, field=score_key
            )
        if (skip_unsafe and r.get("unsafe")) or (skip_refusals and r.get("refusal")):
            continue
        key = (r.get("system") or None, prompt)
        count[key] = count.get(key, 0) + 1
        if key not in best or score > best[key]["score"]:
            best[key] = {
                "prompt": prompt,
                **({"system": key[0]} if key[0] else {}),
                "response": answer,
                "score": float(score),
            }
    out = []
    for key, row in best.items():
        if min_score is not None and row["score"] < min_score:
            continue
        out.append(row | {"candidates": count[key]})
    return out
