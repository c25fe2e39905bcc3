"""Plain prompt lists (JSON / JSONL / CSV / Parquet): one prompt per row, in the first column found of
``prompt`` (BeaverTails eval, Safe RLHF red-team, Koala), ``goal`` (AdvBench), ``Behavior`` (HarmBench; a non-empty
``ContextString`` is put before it), ``prompts_final`` (SimpleSafetyTests), ``instruction`` (Self-Instruct, AlpacaEval,
FLASK; Self-Instruct's first instance input is appended), ``turns`` (MT-Bench; the first turn), ``question``.
A JSON list of strings also works. Category from ``category`` / ``SemanticCategory`` / ``harm_area`` / ``dataset``;
id from ``id`` / ``question_id`` / ``BehaviorID`` / ``idx``; optional ``label`` (harmful/benign), ``system``, ``image``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ..records import LABELS, PromptRecord
from ._common import RowContext, load_image, optional_str

NAME = "prompts"
RECORD = PromptRecord
PROMPT_COLUMNS = ("prompt", "goal", "Behavior", "prompts_final", "instruction", "turns", "question")
CATEGORY_COLUMNS = ("category", "SemanticCategory", "harm_area", "dataset")
ID_COLUMNS = ("id", "question_id", "BehaviorID", "idx")


def detect(keys: set[str]) -> bool:
    return any(c in keys for c in PROMPT_COLUMNS)


def prompt_column(keys: set[str]) -> Optional[str]:
    return next((c for c in PROMPT_COLUMNS if c in keys), None)


def make_decoder(
    keys: set[str], label: Optional[str] = None
) -> Callable[[Mapping[str, Any], RowContext], PromptRecord]:
    col = prompt_column(keys)
    cat_col = next((c for c in CATEGORY_COLUMNS if c in keys), None)
    id_col = next((c for c in ID_COLUMNS if c in keys), None)

    def decode(row: Mapping[str, Any], ctx: RowContext) -> PromptRecord:
        if col is None or row.get(col) is None:
            raise ctx.error("missing required field", col or "prompt")
        value = row[col]
        if col == "turns":
            if isinstance(value, list) and value and isinstance(value[0], str):
                value = value[0]
            elif not isinstance(value, str):
                raise ctx.error("expected a non-empty list of turns", col)
        if not isinstance(value, str) or not value.strip():
            raise ctx.error(
                "empty prompt" if isinstance(value, str) else f"expected text, got {type(value).__name__}", col
            )
        text = value
        context = row.get("ContextString")
        if col == "Behavior" and isinstance(context, str) and context.strip():
            text = f"{context.strip()}\n\n{text}"
        instances = row.get("instances")
        if col == "instruction" and isinstance(instances, list) and instances and isinstance(instances[0], Mapping):
            extra = instances[0].get("input")
            if isinstance(extra, str) and extra.strip():
                text = f"{text}\n\n{extra.strip()}"
        row_label = optional_str(row, "label", ctx) or label
        if row_label is not None and row_label not in LABELS:
            raise ctx.error(f"label must be 'harmful' or 'benign', got {row_label!r}", "label")
        image = row.get("image")
        return PromptRecord(
            prompt=text,
            system=optional_str(row, "system", ctx),
            image=None if image is None else load_image(image, ctx, "image"),
            category=optional_str(row, cat_col, ctx) if cat_col else None,
            label=row_label,  # type: ignore[arg-type]
            id=optional_str(row, id_col, ctx) if id_col else None,
        )

    return decode
