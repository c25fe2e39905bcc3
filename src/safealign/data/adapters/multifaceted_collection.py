"""kaist-ai/Multifaceted-Collection (Janus SFT): ``system``, ``prompt``, ``output``, ``preference_set`` (list of
{dimension, subdimension, preference, description}), ``main_source``, ``original_source``."""

from __future__ import annotations

from typing import Any, Mapping

from ..records import SystemExample
from ._common import RowContext, optional_str, parse_preference_set, require_str

NAME = "multifaceted_sft"
RECORD = SystemExample


def detect(keys: set[str]) -> bool:
    return {"system", "prompt", "output"} <= keys


def decode(row: Mapping[str, Any], ctx: RowContext) -> SystemExample:
    return SystemExample(
        system=require_str(row, "system", ctx),
        prompt=require_str(row, "prompt", ctx),
        response=require_str(row, "output", ctx),
        preference_set=parse_preference_set(row.get("preference_set"), ctx),
        id=optional_str(row, "id", ctx),
        main_source=optional_str(row, "main_source", ctx),
    )
