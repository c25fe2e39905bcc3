"""The one fixed train / held-out rule of the project.

A row's key (a stable id: the set's name and the row's own id or its position) is hashed with SHA-256; the row is
held out when the first 8 hex digits, read as an integer, are divisible by 4 (about 25 %). The rule never changes:
a model trained on the ``train`` part of any set can be evaluated on its ``heldout`` part at any later commit.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "heldout"]
SPLITS: tuple[str, ...] = ("train", "heldout")


def split_of(key: str) -> Split:
    """``"heldout"`` when int(sha256(key)[:8 hex], 16) % 4 == 0, else ``"train"`` (fixed; never change it)."""
    return "heldout" if int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % 4 == 0 else "train"


def check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} (or none for all), got {split!r}")
