"""The guard interface shared by the trained cascade (:class:`safealign.guard.classifier.Guard`) and the
generative judge (:class:`safealign.guard.judge.JudgeGuard`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional, Sequence

from safealign.guard.decision import GuardVerdict

# one item to check: (prompt, response or None, image or None)
GuardItem = tuple[str, Optional[str], Any]


class BaseGuard(ABC):
    name: str = "guard"

    @abstractmethod
    def classify_batch(self, items: Sequence[GuardItem]) -> list[GuardVerdict]:
        ...

    def classify(self, prompt: str, response: Optional[str] = None, image: Any = None) -> GuardVerdict:
        """Check a prompt (input screening) or a prompt + response (output moderation)."""
        return self.classify_batch([(prompt, response, image)])[0]
