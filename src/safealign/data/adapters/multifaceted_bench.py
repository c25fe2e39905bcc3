"""kaist-ai/Multifaceted-Bench: ``system``, ``prompt``, ``reference_answer``, ``rubrics`` (4 x {criteria,
score_descriptions {"1".."5"}}), ``preference_set``. The older schema names the key ``rubric`` and has no
``preference_set``."""

from __future__ import annotations

from typing import Any, Mapping

from ..records import RubricItem
from ._common import RowContext, optional_str, parse_preference_set, parse_rubrics, require_str

NAME = "multifaceted_bench"
RECORD = RubricItem


def detect(keys: set[str]) -> bool:
    return "reference_answer" in keys and bool({"rubrics", "rubric"} & keys)


def decode(row: Mapping[str, Any], ctx: RowContext) -> RubricItem:
    key = "rubrics" if row.get("rubrics") is not None else "rubric"
    if row.get(key) is None:
        raise ctx.error("missing required field", "rubrics")
    return RubricItem(
        system=require_str(row, "system", ctx),
        prompt=require_str(row, "prompt", ctx),
        reference_answer=require_str(row, "reference_answer", ctx),
        rubrics=parse_rubrics(row[key], ctx, key),
        preference_set=parse_preference_set(row.get("preference_set"), ctx),
        id=optional_str(row, "id", ctx),
    )
