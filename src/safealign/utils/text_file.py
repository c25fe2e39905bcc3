"""Reading a user's text file: a missing file, or bytes that are not UTF-8, is one DataError line naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from safealign.errors import DataError


def read_text(path: str | os.PathLike) -> str:
    """The UTF-8 text of ``path`` (a byte-order mark dropped)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("no such file", file=str(p))
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})", file=str(p)) from None
