"""The structured outcome of the guardrail: a :class:`GuardVerdict` per check and a :class:`Decision` per call.

``Decision.action`` is one of ``allow`` (answer passed unchanged), ``transform`` (answer changed: a caution was
added or it was regenerated with the guard's feedback) or ``block`` (the prompt was refused or every round stayed
unsafe: the answer is the policy's safe fallback). Decisions serialise to one JSON object (one JSONL line).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

SEVERITIES = ("safe", "minor", "moderate", "severe")  # index == severity level 0..3 (as in data.records)
Action = Literal["allow", "transform", "block"]


def severity_level(name_or_level: str | int) -> int:
    if isinstance(name_or_level, int):
        if not 0 <= name_or_level <= 3:
            raise ValueError(f"severity level must be 0..3, got {name_or_level}")
        return name_or_level
    name = str(name_or_level).strip().lower()
    if name not in SEVERITIES:
        raise ValueError(f"unknown severity {name_or_level!r}; expected one of {list(SEVERITIES)}")
    return SEVERITIES.index(name)


@dataclass
class GuardVerdict:
    """One guard check of a prompt (or prompt + response)."""

    unsafe_prob: float
    is_unsafe: bool
    severity: str = "safe"  # safe / minor / moderate / severe
    categories: list[str] = field(default_factory=list)
    stage: str = "stage1"  # which part of the cascade decided: stage1 / stage2 / judge / ...
    category_probs: dict[str, float] = field(default_factory=dict)
    latency_ms: float = 0.0
    raw: Optional[str] = None  # a generative judge's raw output

    @property
    def severity_level(self) -> int:
        return severity_level(self.severity)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["unsafe_prob"] = round(float(self.unsafe_prob), 6)
        d["category_probs"] = {k: round(float(v), 6) for k, v in self.category_probs.items()}
        d["latency_ms"] = round(float(self.latency_ms), 3)
        if d["raw"] is None:
            d.pop("raw")
        return d

    def describe(self) -> str:
        """Human-readable, for reasons and for the feedback sent to the generator."""
        if not self.is_unsafe:
            return f"safe (p_unsafe={self.unsafe_prob:.2f})"
        cats = ", ".join(c.replace("_", " ") for c in self.categories) or "unspecified harm"
        return f"{self.severity} risk ({cats}; p_unsafe={self.unsafe_prob:.2f})"


@dataclass
class Decision:
    """What the guardrail did for one call (returned by the Python API, logged as JSONL, sent by the server)."""

    action: Action
    reason: str
    severity: str = "safe"
    categories: list[str] = field(default_factory=list)
    scores: dict[str, Any] = field(default_factory=dict)
    rounds: int = 0  # regeneration rounds used (0 = the first answer was accepted or generation was skipped)
    latency_ms: float = 0.0
    response: Optional[str] = None
    level: str = "output"  # the level that decided: input / output / fallback
    history: list[dict[str, Any]] = field(default_factory=list)  # per-round {response, verdict, action}

    def to_dict(self, include_history: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d["latency_ms"] = round(float(self.latency_ms), 3)
        if not include_history:
            d.pop("history")
        return d

    def to_json(self, include_history: bool = True) -> str:
        return json.dumps(self.to_dict(include_history), ensure_ascii=False, default=str)


class DecisionLog:
    """Append decisions as JSONL lines; safe to call from several threads (each line is written whole)."""

    def __init__(self, path: str | Path, include_history: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.include_history = include_history
        self._lock = threading.Lock()

    def write(self, decision: Decision, **extra: Any) -> None:
        obj = decision.to_dict(self.include_history)
        obj.update(extra)
        line = json.dumps(obj, ensure_ascii=False, default=str) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
