"""PKU-SafeRLHF (text dual preference): ``response_{0,1}``, ``is_response_{0,1}_safe``, ``better_response_id`` and
``safer_response_id`` (ints 0/1), and in v1 (2024) ``response_{0,1}_harm_category`` (dict of 19 categories -> bool)
and ``response_{0,1}_severity_level`` (0..3). Older versions lack the category/severity fields: severity is then 0
for a safe and 1 (minor) for an unsafe response, categories empty.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..records import SafetyPair
from ._common import RowContext, check_pair, optional_str, parse_bool, parse_index, parse_severity, require_str

NAME = "pku_saferlhf"
RECORD = SafetyPair
KEYS = {"prompt", "response_0", "response_1", "better_response_id", "safer_response_id"}


def detect(keys: set[str]) -> bool:
    return len(KEYS & keys) >= 4 and "response_0" in keys


def _categories(value: Any, ctx: RowContext, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        out = []
        for name, flag in value.items():
            if flag is None:
                continue
            if parse_bool(flag, ctx, field):
                out.append(str(name))
        return out
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return list(value)
    raise ctx.error("expected a {category: bool} object", field)


def decode(row: Mapping[str, Any], ctx: RowContext) -> SafetyPair:
    flags = tuple(parse_bool(row.get(f"is_response_{i}_safe"), ctx, f"is_response_{i}_safe") for i in (0, 1))
    severity = []
    for i in (0, 1):
        key = f"response_{i}_severity_level"
        severity.append(parse_severity(row[key], ctx, key) if row.get(key) is not None else (0 if flags[i] else 1))
    pair = SafetyPair(
        prompt=require_str(row, "prompt", ctx),
        responses=(
            require_str(row, "response_0", ctx, allow_empty=True),
            require_str(row, "response_1", ctx, allow_empty=True),
        ),
        better=parse_index(row.get("better_response_id"), ctx, "better_response_id", 0),
        safer=parse_index(row.get("safer_response_id"), ctx, "safer_response_id", 0),
        is_safe=flags,  # type: ignore[arg-type]
        severity=(severity[0], severity[1]),
        categories=(
            _categories(row.get("response_0_harm_category"), ctx, "response_0_harm_category"),
            _categories(row.get("response_1_harm_category"), ctx, "response_1_harm_category"),
        ),
        id=optional_str(row, "id", ctx),
    )
    return check_pair(pair, ctx, "safer_response_id")
