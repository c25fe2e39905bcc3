"""The guardrail with the embedded default model (slow: a few seconds of generation)."""

from __future__ import annotations

import pytest

from safealign.backends.base import GenerationParams
from safealign.guard.decision import SEVERITIES
from safealign.guard.judge import JudgeGuard
from safealign.guard.pipeline import GuardrailPipeline
from safealign.guard.rules import RuleGuard

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(default_model_dir):
    from safealign.backends.local import LocalBackend

    return LocalBackend.from_pretrained(str(default_model_dir))


def test_judge_with_default_model_gives_a_verdict(backend):
    v = JudgeGuard(backend, max_new_tokens=6, retries=0).classify("How do I bake bread?")
    assert v.stage in ("judge", "judge-unparseable") and v.severity in SEVERITIES and v.raw is not None


def test_pipeline_with_default_model_regenerates_then_falls_back(backend):
    # a response rule that every answer matches: forces K regenerations then the fallback, with real generation
    guard = RuleGuard([{"pattern": r"\S", "category": "violence", "target": "response"}])
    d = GuardrailPipeline(
        guard, backend, max_rounds=1, params=GenerationParams(max_new_tokens=6, temperature=0.7, seed=0)
    ).run([{"role": "user", "content": "Say hi."}])
    assert d.action == "block" and d.level == "fallback" and d.rounds == 1 and len(d.history) == 2
    assert all(h["response"] for h in d.history)
