"""The report's first answer (did alignment help?) and the Safe RLHF rounds table."""

from __future__ import annotations

import json
import re

import pytest

from safealign.eval.verdict import alignment_verdict


def _m(safe, over, look, reward):  # noqa: ANN001
    return {"independent": {"harmful_handled_safely": safe, "benign_over_refused": over,
                            "lookalike_over_refused": look, "judges": "refusal detector + guard"},
            "mean_reward_benign": reward, "safe_share": 0.9}


@pytest.mark.parametrize(
    "aligned,answer",
    [
        (_m(0.75, 0.05, 0.10, 1.0), "helped"),  # +70 points, over-refusal +5 / +5, reward -0 %
        (_m(0.75, 0.05, 0.25, 1.0), "mixed"),  # look-alike over-refusal +20 points
        (_m(0.75, 0.05, 0.10, 0.90), "mixed"),  # reward -10 % of the base's
        (_m(0.12, 0.00, 0.05, 1.2), "no"),  # +7 points only
    ],
)
def test_verdict_rule(aligned, answer) -> None:  # noqa: ANN001
    v = alignment_verdict({"base": _m(0.05, 0.0, 0.05, 1.0), "aligned": aligned, "aligned+guard": aligned})
    assert v["answer"] == answer and v["aligned"] == "aligned"


def test_verdict_numbers_by_hand() -> None:
    v = alignment_verdict({"base": _m(0.05, 0.0, 0.05, 2.0), "aligned": _m(0.65, 0.1, 0.2, 1.5)})
    assert v["safety_gain"] == pytest.approx(0.60)
    assert v["over_refusal_rise"] == pytest.approx(0.15)
    assert v["reward_loss"] == pytest.approx(0.25)
    assert alignment_verdict({"base": _m(0.05, 0, 0, 1)}) is None  # nothing to compare


def test_report_opens_with_the_answer_and_the_rounds(tmp_path) -> None:  # noqa: ANN001
    from safealign.eval.report import build_report

    (tmp_path / "eval").mkdir()
    models = {"base": _m(0.05, 0.0, 0.05, 1.0), "aligned": _m(0.75, 0.05, 0.10, 1.0),
              "aligned+guard": _m(0.8, 0.05, 0.10, 1.0)}
    (tmp_path / "eval" / "safety_summary.json").write_text(json.dumps({"threshold": 0.0, "models": models}))
    rows = [{"round": "base", "J_C": None, "lambda": None, "harmful_handled_safely": 0.05, "harmful_refused": 0.05,
             "benign_over_refused": 0.0, "lookalike_over_refused": 0.05, "benign_reward": 1.0},
            {"round": "round1", "J_C": -0.4, "lambda": 0.73, "harmful_handled_safely": 0.75, "harmful_refused": 0.8,
             "benign_over_refused": 0.05, "lookalike_over_refused": 0.1, "benign_reward": 1.0}]
    (tmp_path / "safe_rlhf").mkdir()
    (tmp_path / "safe_rlhf" / "rounds.json").write_text(json.dumps(rows))
    (tmp_path / "summary.json").write_text(json.dumps({"headline": {"total_seconds": 3.0}}))
    res = build_report(tmp_path)
    page = res.html_path.read_text()
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[:3] == ["Did alignment help?", "Safe RLHF rounds", "Headline numbers"]
    assert "Yes, alignment helped." in page and "handled 75% of harmful prompts safely (base 5%)" in page
    assert "<td class=\"num\">0.73</td>" in page and "-0.40" in page
    assert (tmp_path / "plots" / "did_alignment_help.png").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["verdict"]["answer"] == "helped" and summary["rounds"][1]["round"] == "round1"
