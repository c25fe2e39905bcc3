"""BeaverTails-V (Safe RLHF-V, image + question): ``question``, ``image`` (a PIL image from ``datasets``, a parquet
struct ``{bytes, path}``, raw bytes or a file path), ``category`` (one of 20 harm categories, the dataset config),
``image_severity``, ``response_{1,2}``, ``more_helpful_response_id`` and ``safer_response_id`` (the STRINGS "1"/"2",
1-based), ``is_response_{1,2}_safe`` (strings spelled variously: any case of yes/no/true/false/1/0), and
``response_{1,2}_harmless_rate`` / ``_helpful_rate`` (ints about -3..3).

Severity of an unsafe response = clamp(-harmless_rate, 1, 3) (1 when the rate is missing or non-negative); safe
responses have severity 0. An unsafe response's categories = [category].
"""

from __future__ import annotations

from typing import Any, Mapping

from ..records import SafetyPair
from ._common import RowContext, check_pair, load_image, optional_str, parse_bool, parse_index, parse_int, require_str

NAME = "beavertails_v"
RECORD = SafetyPair
KEYS = {"question", "response_1", "response_2", "more_helpful_response_id", "safer_response_id"}


def detect(keys: set[str]) -> bool:
    return len(KEYS & keys) >= 4 and "response_2" in keys


def decode(row: Mapping[str, Any], ctx: RowContext) -> SafetyPair:
    question = require_str(row, "question", ctx)
    responses = (
        require_str(row, "response_1", ctx, allow_empty=True),
        require_str(row, "response_2", ctx, allow_empty=True),
    )
    flags = tuple(parse_bool(row.get(f"is_response_{i}_safe"), ctx, f"is_response_{i}_safe") for i in (1, 2))
    category = optional_str(row, "category", ctx)
    severity = []
    for i, safe in zip((1, 2), flags):
        key = f"response_{i}_harmless_rate"
        rate = row.get(key)
        rate = parse_int(rate, ctx, key, -3, 3) if rate is not None else None
        severity.append(0 if safe else (min(3, max(1, -rate)) if rate is not None else 1))
    images = [load_image(row.get("image"), ctx, "image")] if "image" in row else []
    if "image_severity" in row and row["image_severity"] is not None:
        parse_int(row["image_severity"], ctx, "image_severity", 0, 3)
    pair = SafetyPair(
        prompt=question,
        responses=responses,
        better=parse_index(row.get("more_helpful_response_id"), ctx, "more_helpful_response_id", 1),
        safer=parse_index(row.get("safer_response_id"), ctx, "safer_response_id", 1),
        is_safe=flags,  # type: ignore[arg-type]
        severity=(severity[0], severity[1]),
        categories=tuple([] if safe or category is None else [category] for safe in flags),  # type: ignore[arg-type]
        images=images,
        prompt_category=category,
        id=optional_str(row, "id", ctx),
    )
    return check_pair(pair, ctx, "safer_response_id")
