"""Our own JSONL schema ("safealign"): one JSON object per line whose keys are a record's fields.

A line may carry ``"record_type"`` (``safety_pair`` / ``system_pair`` / ``system_example`` / ``prompt`` /
``rubric_item``); without it the type is inferred from the keys. Images are stored as file paths relative to the
JSONL file (``images: ["images/knife.png"]`` for SafetyPair, ``image: "images/x.png"`` for PromptRecord), or as
``{"bytes": <base64>}``.

  safety_pair:    prompt, responses [2], better 0/1, safer 0/1, is_safe [2 bools], severity [2 ints 0..3],
                  categories [[...], [...]], system?, images?, prompt_category?, id?
  system_pair:    system, prompt, chosen, rejected, preference_set?, constraints?, id?, main_source?
  system_example: system, prompt, response, preference_set?, constraints?, id?, main_source?
  prompt:         prompt, system?, image?, category?, label? ("harmful"/"benign"), id?
  rubric_item:    system, prompt, reference_answer, rubrics [{criteria, score_descriptions {"1".."5"}}], ...
"""

from __future__ import annotations

import base64
import io
from typing import Any, Callable, Mapping, Optional

from ..records import LABELS, PromptRecord, Record, RubricItem, SafetyPair, SystemExample, SystemPair
from ._common import (
    RowContext,
    check_pair,
    load_image,
    optional_str,
    parse_bool,
    parse_index,
    parse_preference_set,
    parse_rubrics,
    parse_severity,
    require,
    require_str,
)

NAME = "safealign"

RECORD_TYPES = {
    SafetyPair: "safety_pair",
    SystemPair: "system_pair",
    SystemExample: "system_example",
    PromptRecord: "prompt",
    RubricItem: "rubric_item",
}


def record_type_of(row: Mapping[str, Any]) -> Optional[str]:
    """The record type of one of our rows, or None if the row is not in our schema."""
    rt = row.get("record_type")
    if isinstance(rt, str) and rt in RECORD_TYPES.values():
        return rt
    keys = set(row)
    if {"responses", "better", "safer", "is_safe"} <= keys:
        return "safety_pair"
    if {"system", "chosen", "rejected"} <= keys and isinstance(row.get("chosen"), str):
        return "system_pair"
    if {"system", "prompt", "response"} <= keys:
        return "system_example"
    return None


def matches(row: Mapping[str, Any]) -> bool:
    return record_type_of(row) is not None


def _pair(value: Any, ctx: RowContext, field: str) -> list[Any]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ctx.error("expected a list of exactly 2 items", field)
    return list(value)


def decode(row: Mapping[str, Any], ctx: RowContext, record_type: Optional[str] = None) -> Record:
    rt = record_type or record_type_of(row)
    if rt == "safety_pair":
        responses = _pair(require(row, "responses", ctx), ctx, "responses")
        for i, r in enumerate(responses):
            if not isinstance(r, str):
                raise ctx.error(f"response {i} is not text", "responses")
        flags = _pair(require(row, "is_safe", ctx), ctx, "is_safe")
        severity = _pair(row.get("severity", [0, 0]), ctx, "severity")
        cats = _pair(row.get("categories", [[], []]), ctx, "categories")
        for c in cats:
            if not isinstance(c, list) or not all(isinstance(x, str) for x in c):
                raise ctx.error("expected two lists of category names", "categories")
        images = row.get("images") or []
        if not isinstance(images, list):
            images = [images]
        pair = SafetyPair(
            prompt=require_str(row, "prompt", ctx),
            responses=(responses[0], responses[1]),
            better=parse_index(row.get("better"), ctx, "better", 0),
            safer=parse_index(row.get("safer"), ctx, "safer", 0),
            is_safe=(parse_bool(flags[0], ctx, "is_safe"), parse_bool(flags[1], ctx, "is_safe")),
            severity=(parse_severity(severity[0], ctx, "severity"), parse_severity(severity[1], ctx, "severity")),
            categories=(list(cats[0]), list(cats[1])),
            system=optional_str(row, "system", ctx),
            images=[load_image(im, ctx, "images") for im in images],
            prompt_category=optional_str(row, "prompt_category", ctx),
            id=optional_str(row, "id", ctx),
        )
        for i in (0, 1):
            if pair.is_safe[i] and pair.severity[i] > 0:
                raise ctx.error(f"response {i} is labelled safe but has severity {pair.severity[i]}", "severity")
        return check_pair(pair, ctx, "safer")
    if rt == "system_pair":
        return SystemPair(
            system=require_str(row, "system", ctx), prompt=require_str(row, "prompt", ctx),
            chosen=require_str(row, "chosen", ctx), rejected=require_str(row, "rejected", ctx),
            preference_set=parse_preference_set(row.get("preference_set"), ctx), id=optional_str(row, "id", ctx),
            main_source=optional_str(row, "main_source", ctx), constraints=_constraints(row, ctx),
        )
    if rt == "system_example":
        return SystemExample(
            system=require_str(row, "system", ctx), prompt=require_str(row, "prompt", ctx),
            response=require_str(row, "response", ctx),
            preference_set=parse_preference_set(row.get("preference_set"), ctx), id=optional_str(row, "id", ctx),
            main_source=optional_str(row, "main_source", ctx), constraints=_constraints(row, ctx),
        )
    if rt == "prompt":
        label = optional_str(row, "label", ctx)
        if label is not None and label not in LABELS:
            raise ctx.error(f"label must be 'harmful' or 'benign', got {label!r}", "label")
        image = row.get("image")
        return PromptRecord(
            prompt=require_str(row, "prompt", ctx),
            system=optional_str(row, "system", ctx),
            image=None if image is None else load_image(image, ctx, "image"),
            category=optional_str(row, "category", ctx),
            label=label,  # type: ignore[arg-type]
            id=optional_str(row, "id", ctx),
        )
    if rt == "rubric_item":
        return RubricItem(
            system=require_str(row, "system", ctx), prompt=require_str(row, "prompt", ctx),
            reference_answer=require_str(row, "reference_answer", ctx),
            rubrics=parse_rubrics(require(row, "rubrics", ctx), ctx, "rubrics"),
            preference_set=parse_preference_set(row.get("preference_set"), ctx), id=optional_str(row, "id", ctx),
        )
    raise ctx.error("cannot tell the record type (add a 'record_type' field)", "record_type")


def _constraints(row: Mapping[str, Any], ctx: RowContext) -> list[dict[str, Any]]:
    from ..records import CONSTRAINT_TYPES

    value = row.get("constraints") or []
    if not isinstance(value, list):
        raise ctx.error("expected a list of {type, value}", "constraints")
    for i, c in enumerate(value):
        if not isinstance(c, Mapping) or c.get("type") not in CONSTRAINT_TYPES:
            raise ctx.error(f"constraint {i} has an unknown type (known: {', '.join(CONSTRAINT_TYPES)})", "constraints")
    return [dict(c) for c in value]


def _image_to_json(img: Any, save_image: Optional[Callable[[Any], str]]) -> Any:
    if img is None:
        return None
    if isinstance(img, str):
        return img
    if save_image is not None:
        return save_image(img)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return {"bytes": base64.b64encode(buf.getvalue()).decode("ascii")}


def encode(rec: Record, save_image: Optional[Callable[[Any], str]] = None) -> dict[str, Any]:
    """One record as a JSON-ready dict in our schema. ``save_image(pil) -> relative path`` stores images as files;
    without it they are embedded as base64 PNG."""
    from dataclasses import asdict

    rt = RECORD_TYPES[type(rec)]
    if isinstance(rec, SafetyPair):
        fields = ("prompt", "responses", "better", "safer", "is_safe", "severity", "categories", "system",
                  "prompt_category", "id")
        d = {f: getattr(rec, f) for f in fields}
        d["responses"], d["is_safe"], d["severity"] = list(rec.responses), list(rec.is_safe), list(rec.severity)
        d["categories"] = [list(rec.categories[0]), list(rec.categories[1])]
        d["images"] = [_image_to_json(im, save_image) for im in rec.images]
    elif isinstance(rec, PromptRecord):
        d = {
            "prompt": rec.prompt,
            "system": rec.system,
            "image": _image_to_json(rec.image, save_image),
            "category": rec.category,
            "label": rec.label,
            "id": rec.id,
        }
    else:
        d = asdict(rec)
    return {"record_type": rt, **d}
