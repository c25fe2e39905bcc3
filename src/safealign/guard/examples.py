"""One labelled item the guard trains on (shared by the frozen-embedding and the fine-tuned guard)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class GuardExample:
    """``response`` None: a prompt-level example. ``severity`` 1..3 (None: unknown), ``categories`` canonical names
    (None: unknown). ``source`` names where it came from (counted by :func:`safealign.guard.training_data.assemble`)."""

    prompt: str
    response: Optional[str] = None
    unsafe: bool = False
    severity: Optional[int] = None
    categories: Optional[list[str]] = None
    source: str = ""
