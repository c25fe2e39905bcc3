"""Rubric grading: judge-output parsing, retries, item means, pairwise win/tie/loss, bench-file reading."""

from __future__ import annotations

import math

import pytest

from safealign.backends.base import Backend
from safealign.data.records import Rubric, RubricItem
from safealign.janus.rubric import grade_rubric, grade_rubric_detailed, judge_prompt, pairwise, parse_judge_output


@pytest.mark.parametrize(
    "text,feedback,score",
    [
        ("Feedback: Clear and follows the format. [RESULT] 4", "Clear and follows the format.", 4),
        ("Feedback: ok [RESULT]: 5", "ok", 5),
        ("Feedback: meh [RESULT] (3)", "meh", 3),
        ("Feedback: fine [RESULT] 2/5", "fine", 2),
        ('Format: "Feedback: ... [RESULT] n"\nFeedback: real one [RESULT] 1', "real one", 1),  # last marker wins
        ("Feedback: good [result]5 \n", "good", 5),
    ],
)
def test_parse_well_formed(text, feedback, score):
    assert parse_judge_output(text) == (feedback, score)


@pytest.mark.parametrize(
    "text",
    [
        "Feedback: I liked it a lot.",  # missing score
        "The answer deserves 4 out of 5.",  # no marker
        "Feedback: x [RESULT] 0",  # out of range
        "Feedback: x [RESULT] 6",
        "Feedback: x [RESULT] -1",
        "Feedback: x [RESULT] 3.5",  # not an integer
        "Feedback: x [RESULT] four",  # malformed
        "",
    ],
)
def test_parse_invalid_gives_none(text):
    fb, score = parse_judge_output(text)
    assert score is None and isinstance(fb, str)


def test_integer_float_is_accepted():
    assert parse_judge_output("Feedback: x [RESULT] 4.0")[1] == 4


def _item(n_rubrics=2, i=0):
    desc = {k: f"level {k}" for k in range(1, 6)}
    return RubricItem(
        f"sys{i}", f"prompt{i}", "the reference", [Rubric(f"crit{r}", desc) for r in range(n_rubrics)], id=str(i)
    )


class ScriptedJudge(Backend):
    """Returns scripted outputs per (item prompt, criteria), popping one per call."""

    def __init__(self, script):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls = 0

    def generate(self, chats, params=None, images=None):
        out = []
        for c in chats:
            self.calls += 1
            text = c[-1]["content"]
            key = next(k for k in self.script if k[0] in text and f"[{k[1]}]" in text)
            out.append(self.script[key].pop(0) if len(self.script[key]) > 1 else self.script[key][0])
        return out


def test_prompt_contains_everything_the_judge_needs():
    it = _item()
    p = judge_prompt(it, it.rubrics[0], "my response")
    for s in (
        "sys0", "prompt0", "my response", "the reference", "[crit0]", "Score 1: level 1", "Score 5: level 5",
        "[RESULT]",
    ):
        assert s in p


def test_item_score_is_mean_over_rubrics_with_retries():
    items = [_item(2, 0), _item(2, 1)]
    judge = ScriptedJudge(
        {
            ("prompt0", "crit0"): ["Feedback: a [RESULT] 5"],
            ("prompt0", "crit1"): [
                "garbage",
                "Feedback: b [RESULT] 9",
                "Feedback: b [RESULT] 2",
            ],  # parsed on the 3rd try
            ("prompt1", "crit0"): ["no score ever"],
            ("prompt1", "crit1"): ["Feedback: c [RESULT] 4"],
        }
    )
    grades = grade_rubric_detailed(judge, items, ["r0", "r1"], max_retries=5)
    assert grades[0].scores == [5, 2] and grades[0].score == 3.5
    assert grades[1].scores == [None, 4] and grades[1].score == 4.0  # unparseable rubric left out of the mean
    assert grades[1].attempts == 1 + 6  # crit1 once; crit0 first try + 5 retries
    assert judge.calls == 1 + 3 + 6 + 1
    never = ScriptedJudge({("prompt0", "crit0"): ["x"], ("prompt0", "crit1"): ["y"]})
    assert math.isnan(grade_rubric(never, [_item(2, 0)], ["r"], max_retries=1)[0])  # no score at all -> NaN
    assert never.calls == 4
    with pytest.raises(ValueError):
        grade_rubric(judge, items, ["only one"])


def test_pairwise_by_hand():
    a = [5.0, 3.0, 2.0, 4.0, math.nan]
    b = [4.0, 3.0, 3.5, 4.0, 1.0]
    res = pairwise(a, b)
    assert res == {"win": 25.0, "tie": 50.0, "loss": 25.0, "win_or_tie": 75.0, "n": 4}
    assert pairwise([3.2], [3.0], tie_margin=0.25)["tie"] == 100.0


def test_reads_multifaceted_bench_both_schemas(shared_data):
    from safealign.janus.data import load_rubric_items

    new = load_rubric_items(str(shared_data / "schemas" / "multifaceted_bench.jsonl"))
    old = load_rubric_items(str(shared_data / "schemas" / "multifaceted_bench_old_schema.jsonl"))
    assert new and old
    assert all(len(it.rubrics) >= 1 and set(it.rubrics[0].score_descriptions) == {1, 2, 3, 4, 5} for it in new + old)
    assert len(new[0].rubrics) == 4 and new[0].reference_answer
