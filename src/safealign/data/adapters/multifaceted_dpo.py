"""kaist-ai/Multifaceted-Collection-DPO and -ORPO: ``system`` (separate field), ``prompt``, and ``chosen`` /
``rejected`` as message lists ``[{content, role}]`` (user then assistant). The rejected answer is the gold answer
written for another system message of the same prompt."""

from __future__ import annotations

from typing import Any, Mapping

from ..records import SystemPair
from ._common import RowContext, optional_str, parse_preference_set, require, require_str

NAME = "multifaceted_dpo"
RECORD = SystemPair


def detect(keys: set[str]) -> bool:
    return {"system", "chosen", "rejected"} <= keys


def _assistant(value: Any, ctx: RowContext, field: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise ctx.error("expected a list of {role, content} messages", field)
    for m in reversed(value):
        if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
            raise ctx.error("expected a list of {role, content} messages", field)
        if m["role"] == "assistant":
            if not isinstance(m["content"], str) or not m["content"].strip():
                raise ctx.error("assistant message has no text", field)
            return m["content"]
    raise ctx.error("no assistant message", field)


def _user(value: Any) -> str | None:
    if isinstance(value, list):
        for m in value:
            if isinstance(m, Mapping) and m.get("role") == "user" and isinstance(m.get("content"), str):
                return m["content"]
    return None


def decode(row: Mapping[str, Any], ctx: RowContext) -> SystemPair:
    chosen = require(row, "chosen", ctx)
    prompt = row.get("prompt")
    if prompt is None:
        prompt = _user(chosen)
        if prompt is None:
            raise ctx.error("missing required field", "prompt")
    else:
        prompt = require_str(row, "prompt", ctx)
    return SystemPair(
        system=require_str(row, "system", ctx),
        prompt=prompt,
        chosen=_assistant(chosen, ctx, "chosen"),
        rejected=_assistant(require(row, "rejected", ctx), ctx, "rejected"),
        preference_set=parse_preference_set(row.get("preference_set"), ctx),
        id=optional_str(row, "id", ctx),
        main_source=optional_str(row, "main_source", ctx),
    )
