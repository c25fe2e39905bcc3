"""Shared row-level validation for adapters: every failure is a DataError naming file, row and field."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from safealign.errors import DataError

from ..records import Preference, Rubric, SafetyPair

_TRUE = {"yes", "true", "1", "y", "t", "safe"}
_FALSE = {"no", "false", "0", "n", "f", "unsafe"}


class RowContext:
    """Where a row came from, so every error can say file, row and field."""

    def __init__(self, file: str | None, row: int | None, base_dir: Optional[Path] = None):
        self.file, self.row, self.base_dir = file, row, base_dir

    def error(self, message: str, field: str | None = None) -> DataError:
        return DataError(message, file=self.file, row=self.row, field=field)


def require(row: Mapping[str, Any], key: str, ctx: RowContext) -> Any:
    if key not in row or row[key] is None:
        raise ctx.error("missing required field", key)
    return row[key]


def require_str(row: Mapping[str, Any], key: str, ctx: RowContext, allow_empty: bool = False) -> str:
    value = require(row, key, ctx)
    if not isinstance(value, str):
        raise ctx.error(f"expected text, got {type(value).__name__}", key)
    if not allow_empty and not value.strip():
        raise ctx.error("empty text", key)
    return value


def optional_str(row: Mapping[str, Any], key: str, ctx: RowContext) -> Optional[str]:
    value = row.get(key)
    if value is None or (isinstance(value, float) and value != value):  # NaN from pandas
        return None
    if not isinstance(value, (str, int)):
        raise ctx.error(f"expected text, got {type(value).__name__}", key)
    return str(value)


def parse_bool(value: Any, ctx: RowContext, field: str) -> bool:
    """Accept bools and any case of yes/no/true/false/1/0 (BeaverTails-V spells its flags variously)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    if value is None:
        raise ctx.error("missing required field", field)
    raise ctx.error(f"not a boolean safety flag: {value!r} (expected yes/no/true/false/1/0)", field)


def parse_index(value: Any, ctx: RowContext, field: str, base: int) -> int:
    """A response id as a 0-based index. ``base`` = 0 for PKU-SafeRLHF ints 0/1, 1 for BeaverTails-V "1"/"2"."""
    if value is None:
        raise ctx.error("missing required field", field)
    if isinstance(value, bool):
        raise ctx.error(f"response id must be {base} or {base + 1}, got {value!r}", field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value not in (base, base + 1):
        raise ctx.error(f"response id out of range: {value!r} (expected {base} or {base + 1})", field)
    return value - base


def parse_severity(value: Any, ctx: RowContext, field: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ctx.error(f"severity must be an integer 0..3, got {value!r}", field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 3:
        raise ctx.error(f"severity must be an integer 0..3, got {value!r}", field)
    return value


def parse_int(value: Any, ctx: RowContext, field: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ctx.error(f"expected an integer, got {value!r}", field)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ctx.error(f"out of range [{lo}, {hi}]: {value}", field)
    return value


def load_image(value: Any, ctx: RowContext, field: str) -> Any:
    """A PIL image from a PIL image, a {bytes, path} struct, raw bytes, base64 text, or a file path."""
    from PIL import Image, UnidentifiedImageError

    if value is None:
        raise ctx.error("missing required field", field)
    if isinstance(value, Image.Image):
        return value
    data: bytes | None = None
    path: str | None = None
    if isinstance(value, Mapping):
        raw = value.get("bytes")
        if isinstance(raw, str):
            try:
                data = base64.b64decode(raw, validate=True)
            except Exception:
                raise ctx.error("image bytes are not valid base64", field) from None
        elif raw is not None:
            data = bytes(raw)
        path = value.get("path")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, (str, os.PathLike)):
        path = str(value)
    else:
        raise ctx.error(f"unsupported image value of type {type(value).__name__}", field)
    try:
        if data is not None:
            img = Image.open(io.BytesIO(data))
        elif path:
            p = Path(path)
            if not p.is_absolute() and ctx.base_dir is not None:
                p = ctx.base_dir / p
            if not p.exists():
                raise ctx.error(f"image file not found: {p}", field)
            img = Image.open(p)
        else:
            raise ctx.error("image has neither bytes nor path", field)
        img.load()
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ctx.error(f"unreadable image ({type(e).__name__})", field) from None
    return img


def parse_preference_set(value: Any, ctx: RowContext, field: str = "preference_set") -> list[Preference]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ctx.error("expected a list of {dimension, subdimension, preference, description}", field)
    prefs = []
    for i, p in enumerate(value):
        if not isinstance(p, Mapping):
            raise ctx.error(f"item {i} is not an object", field)
        for key in ("dimension", "subdimension", "preference"):
            if not isinstance(p.get(key), str):
                raise ctx.error(f"item {i} lacks text '{key}'", field)
        prefs.append(Preference(p["dimension"], p["subdimension"], p["preference"], str(p.get("description") or "")))
    return prefs


def parse_rubrics(value: Any, ctx: RowContext, field: str) -> list[Rubric]:
    if not isinstance(value, list) or not value:
        raise ctx.error("expected a non-empty list of {criteria, score_descriptions}", field)
    rubrics = []
    for i, r in enumerate(value):
        if not isinstance(r, Mapping) or not isinstance(r.get("criteria"), str):
            raise ctx.error(f"rubric {i} lacks text 'criteria'", field)
        sd = r.get("score_descriptions")
        if not isinstance(sd, Mapping):
            raise ctx.error(f"rubric {i} lacks 'score_descriptions'", field)
        descs: dict[int, str] = {}
        for k, v in sd.items():
            if v is None:  # parquet structs fill absent keys with null
                continue
            try:
                score = int(k)
            except (TypeError, ValueError):
                raise ctx.error(f"rubric {i} has a non-numeric score key {k!r}", field) from None
            if not 1 <= score <= 5:
                raise ctx.error(f"rubric {i} score key out of range 1..5: {k!r}", field)
            descs[score] = str(v)
        if sorted(descs) != [1, 2, 3, 4, 5]:
            raise ctx.error(f"rubric {i} must describe scores 1..5, has {sorted(descs)}", field)
        rubrics.append(Rubric(r["criteria"], descs))
    return rubrics


def check_pair(pair: SafetyPair, ctx: RowContext, safer_field: str) -> SafetyPair:
    """Reject the contradiction the reference raises on: safer labelled unsafe while the other is labelled safe."""
    if pair.is_contradictory():
        raise ctx.error(
            f"contradiction: response {pair.safer} is marked safer but labelled unsafe while the other is labelled "
            "safe",
            safer_field,
        )
    return pair
