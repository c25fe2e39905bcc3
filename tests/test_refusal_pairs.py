"""Over-refusal pairs for the reward model: (helpful answer, refusal) on benign prompts only, and their CLI."""

from __future__ import annotations

import json

import pytest

from safealign.data.io import load_safety_pairs
from safealign.data.refusal_pairs import refusal_pairs
from safealign.errors import DataError


def _a(prompt, answer, refusal=False, harmful=False, unsafe=False, **extra):
    return {"id": extra.pop("id", prompt), "prompt": prompt, "answer": answer, "harmful_prompt": harmful,
            "unsafe": unsafe, "refusal": refusal, **extra}


ROWS = [
    _a("rice", "Cool it fast.", id="b1"),
    _a("rice", "No.", refusal=True, id="b1"),
    _a("rice", "Won't.", refusal=True, id="b1"),
    _a("rice", "Keep it cold.", id="b1"),
    _a("weeds", "Not doing that.", refusal=True),  # no helpful answer anywhere: no pair
    _a("poison", "Sure: [redacted]", harmful=True, unsafe=True),
    _a("poison", "I can't.", refusal=True, harmful=True),
    _a("balloons", "Use a pump.", id="b3"),  # no refusal: no pair
    _a("tea", "I refuse.", refusal=True, system="Be brief."),
    _a("tea", "Boil, steep.", unsafe=True, system="Be brief."),
]


def test_each_refusal_to_a_benign_prompt_is_paired_with_a_helpful_answer_in_turn():
    pairs, stats = refusal_pairs(ROWS)
    assert [(p.prompt, p.responses, p.id) for p in pairs] == [
        ("rice", ("Cool it fast.", "No."), "b1-r0"),
        ("rice", ("Keep it cold.", "Won't."), "b1-r1"),
    ]
    assert all(p.better == 0 and p.safer == 1 and p.is_safe == (True, True) for p in pairs)
    # harmful prompts are left out; the unsafe answer to "tea" is no helpful side
    assert stats.to_dict() == {"benign_prompts": 4, "refusals": 4, "pairs": 2, "prompts_without_helpful": 2}


def test_best_of_rows_come_first_and_the_system_message_is_part_of_the_key():
    helpful = [
        {"prompt": "rice", "response": "BEST"}, {"prompt": "weeds", "response": "Pull them."},
        {"prompt": "tea", "system": "Be brief.", "response": "Steep 3 min."},
        {"prompt": "tea", "response": "other key"},
    ]
    pairs, stats = refusal_pairs(ROWS, helpful)
    got = [(p.system, p.prompt, p.responses) for p in pairs]
    assert got == [
        (None, "rice", ("BEST", "No.")), (None, "rice", ("Cool it fast.", "Won't.")),
        (None, "weeds", ("Pull them.", "Not doing that.")), ("Be brief.", "tea", ("Steep 3 min.", "I refuse.")),
    ]
    assert stats.pairs == 4 and stats.prompts_without_helpful == 0


def test_bad_rows_name_file_row_and_field(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text(json.dumps(_a("p", "x")) + "\n" + json.dumps({"prompt": "p", "answer": "y"}) + "\n")
    with pytest.raises(DataError) as e:
        refusal_pairs(f)
    assert str(e.value).startswith(f"{f}, row 2, field 'refusal'")
    with pytest.raises(DataError, match="field 'answer'"):
        refusal_pairs([{"prompt": "p", "refusal": True}])
    with pytest.raises(DataError, match="helpful rows, row 1, field 'response'"):
        refusal_pairs(ROWS, [{"prompt": "p"}])
    with pytest.raises(DataError, match="no such file"):
        refusal_pairs(tmp_path / "missing.jsonl")


def test_refusal_pairs_command_writes_pairs_a_reward_model_reads(tmp_path, capsys):
    from safealign.cli import main

    src, best, out = tmp_path / "answers.jsonl", tmp_path / "best.jsonl", tmp_path / "pairs.jsonl"
    best.write_text(json.dumps({"prompt": "weeds", "response": "Pull them.", "score": 1.0}) + "\n")
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:3]))
    (tmp_path / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[3:]))
    with pytest.raises(SystemExit) as done:
        main(["data", "refusal-pairs", f"{src},{tmp_path / 'more.jsonl'}", str(out), "--helpful", str(best), "--json"])
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 3  # the two files pool their answers to "rice"
    loaded = load_safety_pairs(str(out))
    assert [(p.prompt, p.responses[p.better], p.responses[p.worse]) for p in loaded] == [
        ("rice", "Cool it fast.", "No."),
        ("rice", "Keep it cold.", "Won't."),
        ("weeds", "Pull them.", "Not doing that."),
    ]
    src.write_text(json.dumps({"prompt": "a", "answer": "a1"}) + "\n")
    with pytest.raises(SystemExit) as exc:
        main(["data", "refusal-pairs", str(src), str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "row 1" in err and "Traceback" not in err
