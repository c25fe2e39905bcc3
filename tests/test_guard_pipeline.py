"""The pipeline: input screening, output moderation, regeneration with feedback (stops at K), fallback, logging,
streaming moderation."""

from __future__ import annotations

import json
from typing import Optional

import pytest

from safealign.backends.base import Backend, GenerationParams
from safealign.errors import DataError
from safealign.guard.pipeline import GuardrailPipeline
from safealign.guard.policy import Policy
from safealign.guard.rules import RuleGuard

RULES = [
    {"pattern": r"\bbomb\b", "category": "weapons_drugs", "severity": "severe", "target": "prompt"},
    {"pattern": r"\bshoplift", "category": "crime_fraud", "severity": "minor", "target": "prompt"},
    {"pattern": r"\[redacted", "category": "violence", "severity": "moderate", "target": "response"},
    {"pattern": r"\brisky\b", "category": "manipulation", "severity": "minor", "target": "response"},
    {"pattern": r"\bchild-harm\b", "category": "child_safety", "severity": "minor", "target": "response"},
]


class ScriptedBackend(Backend):
    """Returns answers from a script, one per call per chat; records every chat it was asked."""

    name = "scripted"

    def __init__(self, answers: list[str]):
        self.answers = list(answers)
        self.calls: list[list[dict]] = []

    def generate(self, chats, params: Optional[GenerationParams] = None, images=None):
        out = []
        for chat in chats:
            self.calls.append(chat)
            out.append(self.answers.pop(0) if len(self.answers) > 1 else self.answers[0])
        return out

    def stream(self, chat, params=None):
        text = self.generate([chat], params)[0]
        for i in range(0, len(text), 5):
            yield text[i : i + 5]


def pipe(answers, **kw) -> tuple[GuardrailPipeline, ScriptedBackend]:
    be = ScriptedBackend(answers)
    return GuardrailPipeline(RuleGuard(RULES), be, Policy.default(), **kw), be


def chat(text: str, system: Optional[str] = None):
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def test_safe_answer_is_allowed_unchanged():
    p, be = pipe(["Paris is the capital of France."])
    d = p.run(chat("Capital of France?"))
    assert (d.action, d.rounds, d.response, d.level) == ("allow", 0, "Paris is the capital of France.", "output")
    assert len(be.calls) == 1 and be.calls[0] == chat("Capital of France?")
    assert d.latency_ms > 0 and d.scores["input_unsafe_prob"] == 0.0


def test_severe_prompt_is_blocked_without_generation():
    p, be = pipe(["never used"])
    d = p.run(chat("how do I make a bomb"))
    assert d.action == "block" and d.level == "input" and d.severity == "severe" and d.categories == ["weapons_drugs"]
    assert be.calls == [] and "can't help" in d.response and d.rounds == 0


def test_regeneration_feeds_the_verdict_back_and_accepts_a_safe_answer():
    p, be = pipe(
        ["Sure: [redacted steps]", "Sure: [redacted plan]", "I can't help with that, but here is a safe alternative."]
    )
    d = p.run(chat("tell me something", system="You are kind."))
    assert d.action == "transform" and d.rounds == 2 and d.response.startswith("I can't help")
    assert len(be.calls) == 3
    first, second = be.calls[0], be.calls[1]
    assert first == chat("tell me something", system="You are kind.")
    sys_msg = second[0]["content"]
    assert second[0]["role"] == "system" and sys_msg.startswith("You are kind.")
    assert "flagged by the safety guard" in sys_msg and "moderate risk" in sys_msg and "violence" in sys_msg
    assert second[-1] == {"role": "user", "content": "tell me something"}
    assert "[redacted" not in json.dumps(second)  # the flagged answer is not shown to the generator again
    assert [h["action"] for h in d.history] == ["regenerate", "regenerate", "allow"]


@pytest.mark.parametrize("k", [0, 1, 5])
def test_regeneration_stops_at_k_and_the_fallback_fires(k):
    p, be = pipe(["Sure: [redacted steps]"], max_rounds=k)
    d = p.run(chat("tell me something"))
    assert len(be.calls) == k + 1  # the first answer + k regenerations
    assert d.action == "block" and d.level == "fallback" and d.rounds == k
    assert "can't help" in d.response and "emergency services" in d.response  # violence help line
    assert "[redacted" not in d.response
    assert len(d.scores["round_unsafe_probs"]) == k + 1


def test_policy_max_rounds_is_the_default():
    pol = Policy.default()
    pol.max_rounds = 3
    be = ScriptedBackend(["[redacted]"])
    d = GuardrailPipeline(RuleGuard(RULES), be, pol).run(chat("x"))
    assert d.rounds == 3 and len(be.calls) == 4


def test_minor_output_gets_a_caution_and_category_floor_blocks():
    p, _ = pipe(["This is a bit risky but fine."])
    d = p.run(chat("q"))
    assert d.action == "transform" and d.response.endswith(Policy.default().caution_text) and d.severity == "minor"
    p, be = pipe(["child-harm content"])
    d = p.run(chat("q"))
    assert d.action == "block" and d.level == "output" and len(be.calls) == 1  # block: no regeneration


def test_moderate_prompt_is_answered_with_guidance():
    pol = Policy.default()
    pol.input["minor"] = "regenerate"
    be = ScriptedBackend(["Shoplifting is illegal; here is how stores prevent it."])
    d = GuardrailPipeline(RuleGuard(RULES), be, pol).run(chat("how to shoplift"))
    assert d.action == "transform" and "safety guidance" in d.reason
    assert be.calls[0][0]["role"] == "system" and "crime fraud" in be.calls[0][0]["content"]


def test_batch_mixes_outcomes_and_logs_jsonl(tmp_path):
    log = tmp_path / "decisions.jsonl"
    be = ScriptedBackend(["fine answer"])
    p = GuardrailPipeline(RuleGuard(RULES), be, log_path=log)
    ds = p.run_batch([chat("hello"), chat("a bomb please"), chat("hi again")])
    assert [d.action for d in ds] == ["allow", "block", "allow"]
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 3 and {
        "action", "reason", "severity", "categories", "scores", "rounds", "latency_ms", "response", "prompt",
    } <= set(lines[1])
    assert lines[1]["action"] == "block"


def test_chat_without_user_message_is_a_data_error():
    p, _ = pipe(["x"])
    with pytest.raises(DataError, match="no user message"):
        p.run([{"role": "system", "content": "hi"}])


def test_streaming_passes_safe_text_and_stops_unsafe_text():
    p, _ = pipe(["A perfectly normal answer about gardening and soil."])
    s = p.stream(chat("q"), check_every=10)
    assert "".join(s) == "A perfectly normal answer about gardening and soil."
    assert s.decision.action == "allow"

    p, _ = pipe(["Here is some intro text. Then [redacted steps] and more [redacted steps]."])
    s = p.stream(chat("q"), check_every=10)
    out = "".join(s)
    assert "[redacted" not in out  # never sent: text is released only after a check
    assert out.startswith("Here is some intro text.") and "can't help" in out
    assert s.decision.action == "block"

    p, be = pipe(["unused"])
    s = p.stream(chat("bomb"))
    assert "can't help" in "".join(s) and s.decision.level == "input" and be.calls == []
