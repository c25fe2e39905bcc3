"""Cost-model data from a policy's own answers: the compliance judge, pairing, the collection loop and the CLI."""

from __future__ import annotations

import json

import pytest

from safealign.data.records import PromptRecord
from safealign.guard.decision import GuardVerdict
from safealign.train.collect import FALLBACK_REFUSALS, ComplianceJudge, Judgment, collect_pairs, make_pairs

REFUSAL = "I can't help with that."


def refuses(answer: str) -> bool:
    return answer.startswith("I can't")


class FlagWord:
    """A scripted guard: a prompt or an answer is unsafe iff it contains 'BAD'."""

    def classify_batch(self, items):
        out = []
        for prompt, response, _ in items:
            text = prompt if response is None else response
            bad = "BAD" in text
            out.append(GuardVerdict(unsafe_prob=0.9 if bad else 0.1, is_unsafe=bad, severity="minor" if bad else "safe",
                                    categories=["privacy"] if bad else []))
        return out


def test_judge_labels_compliance_with_harmful_requests_unsafe():
    judge = ComplianceJudge(refusal=refuses)
    prompts = [PromptRecord("p1", category="Violence", label="harmful"), PromptRecord("p2", label="harmful"),
               PromptRecord("p3", label="benign")]
    harmful = judge.prompts_harmful(prompts)
    assert harmful == [True, True, False]
    j = judge.judge(prompts, harmful, ["Sure, here is how", REFUSAL, "Sure, here is how"])
    assert [x.unsafe for x in j] == [True, False, False]
    assert j[0].categories == ["violence"] and j[0].severity == 3  # violence's severity prior
    assert j[1].refusal and j[1].severity == 0
    assert j[2].reason == "benign request"


def test_judge_without_guard_needs_labels():
    from safealign.errors import ConfigError

    with pytest.raises(ConfigError, match="prompt 2 has no harmful/benign label"):
        ComplianceJudge(refusal=refuses).prompts_harmful([PromptRecord("p", label="benign"), PromptRecord("q")])


def test_judge_with_guard_screens_prompts_and_moderates_answers():
    judge = ComplianceJudge(guard=FlagWord(), refusal=refuses)
    prompts = [PromptRecord("a BAD request"), PromptRecord("a fine request"), PromptRecord("known", label="harmful"),
               PromptRecord("a BAD-looking look-alike", label="benign")]
    harmful = judge.prompts_harmful(prompts)
    assert harmful == [True, False, True, False]  # the guard screens unlabelled prompts; a label is ground truth
    j = judge.judge(prompts, harmful, ["ok", "here is a BAD answer", REFUSAL, "ok"])
    assert j[0].unsafe and j[0].reason == "complies with a harmful request"
    assert (
        j[1].unsafe
        and j[1].reason == "guard flags the answer"
        and j[1].categories == ["privacy"]
        and j[1].severity == 2
    )
    assert not j[2].unsafe and j[2].refusal
    assert not j[3].unsafe


def _j(unsafe: bool, sev: int = 2) -> Judgment:
    return Judgment(unsafe, sev if unsafe else 0, ["privacy"] if unsafe else [])


def test_make_pairs_prefers_the_policys_own_refusals():
    p = PromptRecord("q", label="harmful", id="x")
    pairs, fb = make_pairs(p, True, ["c1", "r1", "c2", "c3"], [_j(True), _j(False), _j(True, 3), _j(True)])
    assert fb == 0 and len(pairs) == 3
    assert [pp.responses for pp in pairs] == [("c1", "r1"), ("c2", "r1"), ("c3", "r1")]
    pp = pairs[1]
    assert (pp.safer, pp.better, pp.is_safe, pp.severity, pp.categories) == (
        1, 0, (False, True), (3, 0), (["privacy"], []),
    )
    assert [pp.id for pp in pairs] == ["x-u0", "x-u1", "x-u2"]


def test_make_pairs_falls_back_to_a_refusal_and_pairs_safe_answers():
    p = PromptRecord("q", label="harmful")
    pairs, fb = make_pairs(p, True, ["c1", "c2"], [_j(True), _j(True)], index=1)
    assert fb == 2 and [pp.responses[1] for pp in pairs] == [FALLBACK_REFUSALS[1], FALLBACK_REFUSALS[2]]
    # benign prompt: four safe answers -> two both-safe pairs; an unsafe answer with a safe sibling pairs with it
    b = PromptRecord("b", label="benign")
    pairs, fb = make_pairs(b, False, ["a", "b", "c", "d"], [_j(False)] * 4)
    assert fb == 0 and [pp.responses for pp in pairs] == [("a", "b"), ("c", "d")]
    assert all(pp.is_safe == (True, True) for pp in pairs)
    pairs, _ = make_pairs(b, False, ["a", "bad", "c"], [_j(False), _j(True), _j(False)])
    assert [pp.responses for pp in pairs] == [("bad", "a")]  # 'c' has no partner left
    # an unsafe answer to a benign prompt with no safe sibling is dropped, never paired with a made-up refusal
    pairs, fb = make_pairs(b, False, ["bad"], [_j(True)])
    assert pairs == [] and fb == 0


def test_collect_pairs_samples_each_prompt_and_counts():
    prompts = [PromptRecord(f"h{i}", label="harmful", id=f"h{i}") for i in range(3)] + [
        PromptRecord("b0", label="benign", id="b0")
    ]
    calls = []

    def generate(batch):
        calls.append([p.prompt for p in batch])
        # h0 is refused once in three samples, the others always answered
        return [REFUSAL if (p.prompt == "h0" and k % 3 == 1) else f"answer to {p.prompt}" for k, p in enumerate(batch)]

    seen = []
    pairs, stats, rows = collect_pairs(
        generate, prompts, ComplianceJudge(refusal=refuses), samples=3, chunk=2, progress=seen.append
    )
    assert calls[0] == ["h0"] * 3 + ["h1"] * 3 and len(calls) == 2 and seen == [2, 2]
    s = stats.to_dict()
    assert (s["answers"], s["answers_harmful"], s["unsafe_harmful"], s["refusals_harmful"]) == (12, 9, 8, 1)
    assert s["unsafe_share_harmful"] == round(8 / 9, 4) and s["pairs_with_fallback_refusal"] == 6
    # h0: 2 unsafe paired with its refusal; h1, h2: 3 each with fallbacks; b0: one both-safe pair (third left over)
    assert s["pairs"] == len(pairs) == 2 + 3 + 3 + 1
    assert len(rows) == 12 and rows[1]["refusal"] and not rows[1]["unsafe"]
    with pytest.raises(ValueError):
        collect_pairs(generate, prompts, ComplianceJudge(refusal=refuses), samples=0)


def test_collected_pairs_load_next_to_the_demo_set(tmp_path):
    from safealign.data.io import write_jsonl
    from safealign.train.score_trainer import load_pairs

    pairs, _ = make_pairs(PromptRecord("q", label="harmful", id="q"), True, ["c1", "r1"], [_j(True), _j(False)])
    write_jsonl(tmp_path / "c.jsonl", pairs)
    demo = load_pairs("demo:safety_test")
    both = load_pairs(f"demo:safety_test,{tmp_path / 'c.jsonl'}")
    assert len(both) == len(demo) + 1
    last = both[-1]
    assert (last.prompt, last.responses, last.safer, last.is_safe, last.severity) == (
        "q", ("c1", "r1"), 1, (False, True), (2, 0),
    )
    assert len(load_pairs(f"demo:safety_test,{tmp_path / 'c.jsonl'}", limit=3)) == 3


def test_collect_command_end_to_end(tmp_path):
    import torch
    from typer.testing import CliRunner

    from safealign.cli import build_app
    from safealign.testing import save_tiny_lm

    save_tiny_lm(tmp_path / "policy")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"prompt": f"request {i}", "label": "harmful" if i % 2 else "benign"}) + "\n" for i in range(4)
        )
    )
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = CliRunner().invoke(
            build_app(),
            [
                "data", "collect", str(tmp_path / "out.jsonl"), "--model", str(tmp_path / "policy"), "--prompts",
                str(prompts), "--samples", "2", "--max-new-tokens", "4", "--json",
            ],
            catch_exceptions=False,
        )
    finally:
        torch.set_num_threads(n)
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout[res.stdout.index("{") :])
    assert (stats["prompts"], stats["harmful_prompts"], stats["answers"], stats["answers_harmful"]) == (4, 2, 8, 4)
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == stats["pairs"] > 0
    assert len((tmp_path / "out.answers.jsonl").read_text().splitlines()) == 8
    assert json.loads((tmp_path / "out.stats.json").read_text())["samples"] == 2


def test_collect_command_unlabelled_prompts_without_guard_is_a_one_line_error(tmp_path, capsys):
    from safealign.cli import main

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "no label here"}) + "\n")
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "data", "collect", str(tmp_path / "out.jsonl"), "--prompts", str(prompts), "--model",
                str(tmp_path / "never-loaded"),
            ]
        )
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no harmful/benign label" in err and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()
