"""A rule guard: regular expressions -> (category, severity). No model, microseconds a check.

Useful as a hard blocklist in front of a trained guard (``AnyGuard``: unsafe if either says so), for
deterministic tests, and for a deployment that only needs a few fixed rules. A rule with ``target="response"``
only looks at responses; ``"prompt"`` only at prompts; ``"any"`` at the text being checked (the response when
there is one, else the prompt).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Sequence

from safealign.guard.base import BaseGuard, GuardItem
from safealign.guard.decision import SEVERITIES, GuardVerdict


@dataclass
class Rule:
    pattern: str
    category: str
    severity: str = "moderate"
    target: str = "any"  # any / prompt / response

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES[1:]:
            raise ValueError(f"rule severity must be minor/moderate/severe, got {self.severity!r}")
        if self.target not in ("any", "prompt", "response"):
            raise ValueError("rule target must be any/prompt/response")
        self.regex = re.compile(self.pattern, re.IGNORECASE)


class RuleGuard(BaseGuard):
    name = "rules"

    def __init__(self, rules: Sequence[Rule | dict]):
        self.rules = [r if isinstance(r, Rule) else Rule(**r) for r in rules]
        self.categories = sorted({r.category for r in self.rules})

    def _check(self, prompt: str, response: str | None) -> GuardVerdict:
        text = response if response is not None else prompt
        hits = []
        for r in self.rules:
            if r.target == "prompt" and response is not None:
                continue
            if r.target == "response" and response is None:
                continue
            if r.regex.search(text):
                hits.append(r)
        if not hits:
            return GuardVerdict(0.0, False, stage="rules")
        sev = max((h.severity for h in hits), key=SEVERITIES.index)
        cats = list(dict.fromkeys(h.category for h in hits))
        return GuardVerdict(1.0, True, sev, cats, stage="rules", category_probs={c: 1.0 for c in cats})

    def classify_batch(self, items: Sequence[GuardItem]) -> list[GuardVerdict]:
        t0 = time.perf_counter()
        out = [self._check(p, r) for p, r, _ in items]
        ms = (time.perf_counter() - t0) * 1000 / max(1, len(items))
        for v in out:
            v.latency_ms = ms
        return out


class AnyGuard(BaseGuard):
    """Unsafe if any of the guards says unsafe (the first unsafe verdict is reported); else the first verdict."""

    name = "any"

    def __init__(self, *guards: BaseGuard):
        self.guards = guards
        self.categories = list(dict.fromkeys(c for g in guards for c in getattr(g, "categories", [])))

    def classify_batch(self, items: Sequence[GuardItem]) -> list[GuardVerdict]:
        results = [g.classify_batch(items) for g in self.guards]
        out = []
        for i in range(len(items)):
            vs = [r[i] for r in results]
            out.append(next((v for v in vs if v.is_unsafe), vs[0]))
        return out
