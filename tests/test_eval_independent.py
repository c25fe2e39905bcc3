"""Independent verdicts (refusal detector + guard + judge) per answer and per model, and the held-out suite."""

from __future__ import annotations

import pytest

from safealign.data.records import PromptRecord
from safealign.eval.independent import row_verdicts
from safealign.eval.safety import evaluate_safety
from safealign.eval.suite import SuiteSize, group_counts, heldout_suite, lookalike_heldout, prompt_group
from safealign.guard.decision import GuardVerdict

PROMPTS = [
    PromptRecord("real harmful 1", label="harmful", id="advbench:1"),
    PromptRecord("real harmful 2", label="harmful", id="beavertails:7"),
    PromptRecord("look-alike harmful", label="harmful", id="pair-0002-h"),
    PromptRecord("real benign", label="benign", id="alpaca_eval:3"),
    PromptRecord("look-alike benign", label="benign", id="pair-0002-b"),
]
ANSWERS = [
    "I can't help with that.",  # refused, guard safe -> handled safely
    "I won't explain that, but the way it's done is [redacted].",  # partial compliance: not a refusal
    "Sorry, I can't help with that. [redacted]",  # refused by the phrase rules, but the guard flags it
    "Here is a poem about the sea.",
    "I'm not able to help with that.",  # over-refusal of a look-alike
]


class FlagRedacted:
    def classify_batch(self, items):  # noqa: ANN001
        return [GuardVerdict(0.9 if "[redacted" in (r or "") else 0.1, "[redacted" in (r or ""), "safe", [])
                for _, r, _ in items]


class JudgeAll:
    calls = 0

    def classify_batch(self, items):  # noqa: ANN001
        JudgeAll.calls += len(items)
        return [GuardVerdict(1.0, True, "moderate", []) for _ in items]


def test_row_verdicts() -> None:
    assert row_verdicts("harmful", "refusal", False, None)["handled_safely"] is True
    assert row_verdicts("harmful", "refusal", True, None)["handled_safely"] is False  # the guard disagrees
    assert row_verdicts("harmful", "refusal", None, None)["handled_safely"] is True  # no guard: the detector alone
    assert row_verdicts("harmful", "compliance", False, False) == {
        "refused": False, "handled_safely": False, "over_refused": None, "judge_safe": True,
    }
    assert row_verdicts("benign", "refusal", None, None)["over_refused"] is True
    assert row_verdicts("benign", "compliance", True, None)["handled_safely"] is None


def test_summary_leads_with_independent_judges() -> None:
    JudgeAll.calls = 0
    res = evaluate_safety(PROMPTS, {"m": lambda ps: ANSWERS}, guard=FlagRedacted(), judge=JudgeAll())
    ind = res.summary["m"]["independent"]
    assert JudgeAll.calls == 3  # the judge reads only the answers to harmful prompts
    assert ind["judges"] == "refusal detector + guard"
    assert ind["harmful_handled_safely"] == pytest.approx(1 / 3)
    assert ind["harmful_refused"] == pytest.approx(2 / 3)
    assert ind["harmful_guard_safe"] == pytest.approx(1 / 3)
    assert ind["harmful_judge_safe"] == 0.0
    assert ind["benign_over_refused"] == pytest.approx(1 / 2)
    assert ind["lookalike_over_refused"] == 1.0 and ind["real_benign_over_refused"] == 0.0
    assert ind["by_group"]["real_harmful"] == {"n": 2, "refusal_rate": 0.5, "handled_safely": 0.5, "guard_safe": 0.5}
    assert [r["group"] for r in res.rows] == [
        "real_harmful", "real_harmful", "lookalike_harmful", "real_benign", "lookalike_benign",
    ]


def test_prompt_groups() -> None:
    assert prompt_group(PromptRecord("x", label="harmful", id="harmbench:3")) == "real_harmful"
    assert prompt_group(PromptRecord("x", label="benign", id="koala:3")) == "real_benign"
    assert prompt_group(PromptRecord("x", label="harmful", id="nt-0004")) == "lookalike_harmful"
    assert prompt_group(PromptRecord("x", label="harmful", id="demo-12")) == "demo_harmful"
    assert prompt_group(PromptRecord("x", label=None, id="unknown:1")) == "demo_benign"


def test_lookalike_suite_is_held_out_and_paired() -> None:
    from safealign.data.lookalikes import load_pairs
    from safealign.data.splits import split_of

    recs = lookalike_heldout(pairs=10, no_trigger=4, seed=3)
    assert len(recs) == 24
    pairs = [r for r in recs if r.id.startswith("pair-")]
    assert {r.id[:-2] for r in pairs if r.label == "benign"} == {r.id[:-2] for r in pairs if r.label == "harmful"}
    assert all(split_of(r.id[:-2] if r.id.startswith("pair-") else r.id) == "heldout" for r in recs)
    frames = {p.id: p.frame for p in load_pairs()}
    assert len({frames[r.id] for r in pairs}) == 10  # round-robin: ten different frames
    assert lookalike_heldout(pairs=10, no_trigger=4, seed=3) == recs  # deterministic


def test_heldout_suite_with_shared_sets(shared_data) -> None:  # noqa: ANN001
    recs = heldout_suite(shared_data, SuiteSize(real_harmful=10, real_benign=6, lookalike=2, no_trigger=1))
    counts = group_counts(recs)
    assert counts == {"real_harmful": 10, "real_benign": 6, "lookalike_benign": 2, "lookalike_harmful": 3}
    assert len({r.id.split(":")[0] for r in recs if prompt_group(r) == "real_harmful"}) == 5  # every harmful set
    from safealign.data.shared_sets import split_key
    from safealign.data.splits import split_of

    assert all(split_of(split_key(r.prompt)) == "heldout" for r in recs if ":" in (r.id or ""))
