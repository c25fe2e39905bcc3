"""Reading JSON Lines (and JSON row lists): the one reader, so that a bad line is the same one-line error everywhere
(``error: FILE, row N: invalid JSON (...)``). UTF-8 with or without a byte-order mark; blank lines are skipped; rows
are numbered by their line in the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Literal

from safealign.errors import DataError
from safealign.utils.text_file import read_text

OnError = Literal["raise", "yield", "skip"]


def iter_jsonl(
    path: str | os.PathLike, on_error: OnError = "raise", torn_tail: bool = False
) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line. A missing file is a DataError. A line that is not JSON:
    ``on_error="raise"`` raises a DataError naming the file and row, ``"yield"`` yields that DataError in place of the
    value (for readers that gather every error), ``"skip"`` drops the line. ``torn_tail``: an unparsable LAST line is
    dropped whatever ``on_error`` says (the half-written end of a file another process is appending to)."""
    path = Path(path)
    lines = read_text(path).splitlines()
    last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=0)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            if on_error == "skip" or (torn_tail and lineno == last):
                continue
            error = DataError(f"invalid JSON ({e.msg} at column {e.colno})", file=str(path), row=lineno)
            if on_error == "raise":
                raise error from None
            yield lineno, error


def read_jsonl(path: str | os.PathLike, objects: bool = True, torn_tail: bool = False) -> list[Any]:
    """Every row of a JSON Lines file; with ``objects`` a row that is not a JSON object is a DataError. See
    :func:`iter_jsonl` for ``torn_tail``."""
    rows = []
    for lineno, row in iter_jsonl(path, torn_tail=torn_tail):
        if objects and not isinstance(row, dict):
            raise DataError("expected a JSON object", file=str(path), row=lineno)
        rows.append(row)
    return rows


def read_json_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The objects of a ``.json`` file holding a list of them, or of a JSON Lines file (any other name)."""
    path = Path(path)
    if path.suffix != ".json":
        return read_jsonl(path)
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON ({e.msg})", file=str(path), row=e.lineno) from None
    if not isinstance(data, list):
        raise DataError("expected a JSON list of objects", file=str(path))
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", file=str(path), row=i)
    return data
