"""Synthesis pipeline: DPO pairs from other system messages, dedup, resume after an interruption, local teacher."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from safealign.backends.base import Backend, GenerationParams
from safealign.janus.data import load_instructions, load_system_examples, load_system_pairs
from safealign.janus.synthesize import DONE_FILE, DPO_FILE, SFT_FILE, instruction_key, plan_systems, synthesize
from safealign.janus.taxonomy import load_taxonomy

INSTRUCTIONS = [f"Explain topic number {i} to me." for i in range(7)]


class FakeTeacher(Backend):
    """Answers with a string naming the system message; can fail after N calls (a killed run)."""

    name = "fake"

    def __init__(self, fail_after_calls: int | None = None):
        self.calls = 0
        self.chats_seen: list = []
        self.fail_after_calls = fail_after_calls

    def generate(self, chats, params=None, images=None):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        self.chats_seen.extend(chats)
        return [f"ANSWER for <{c[0]['content']}> to <{c[1]['content']}>" for c in chats]


def _rows(path):
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def test_rows_follow_the_schemas_and_rejected_is_another_systems_gold(tmp_path):
    s = synthesize(INSTRUCTIONS[:4], FakeTeacher(), tmp_path, n_systems=3, seed=0, chunk_size=2)
    sft, dpo = _rows(tmp_path / SFT_FILE), _rows(tmp_path / DPO_FILE)
    assert s["new_sft_rows"] == len(sft) == 12 and s["new_dpo_rows"] == len(dpo) == 12
    assert set(sft[0]) == {
        "main_source", "original_source", "preference_set", "system", "prompt", "output", "constraints",
    }
    assert [p["dimension"] for p in sft[0]["preference_set"]] == [
        "style", "background_knowledge", "informativeness", "harmlessness",
    ]
    gold = {(r["prompt"], r["system"]): r["output"] for r in sft}
    systems_of = {}
    for r in sft:
        systems_of.setdefault(r["prompt"], []).append(r["system"])
    for prompt, systems in systems_of.items():
        assert len(set(systems)) == 3  # distinct system messages per instruction
    for r in dpo:
        assert r["chosen"][0] == {"content": r["prompt"], "role": "user"} and r["chosen"][1]["role"] == "assistant"
        chosen, rejected = r["chosen"][1]["content"], r["rejected"][1]["content"]
        assert chosen == gold[(r["prompt"], r["system"])]
        # the rejected answer is the gold answer of ANOTHER system message of the SAME instruction
        owners = [sys for (p, sys), out in gold.items() if out == rejected]
        assert len(owners) == 1 and owners[0] != r["system"] and (r["prompt"], owners[0]) in gold
    # the files read back through the project's loaders
    assert len(load_system_pairs(str(tmp_path / DPO_FILE))) == 12
    ex = load_system_examples(str(tmp_path / SFT_FILE))
    assert ex[0].constraints and ex[0].preference_set[0].dimension == "style"


def test_teacher_sees_system_turn_and_duplicates_are_dropped(tmp_path):
    teacher = FakeTeacher()
    dupes = INSTRUCTIONS[:3] + ["  explain TOPIC number 0   to me. "] + INSTRUCTIONS[:1]
    s = synthesize(dupes, teacher, tmp_path, n_systems=2)
    assert s["unique_instructions"] == 3 and s["duplicates_dropped"] == 2
    assert all(c[0]["role"] == "system" and c[1]["role"] == "user" for c in teacher.chats_seen)
    assert len(_rows(tmp_path / SFT_FILE)) == 6


def test_plan_is_deterministic_per_instruction():
    tax = load_taxonomy()
    a = plan_systems("Why is the sky blue?", tax, 3, seed=1)
    b = plan_systems("why is the  sky blue?", tax, 3, seed=1)  # normalised instruction -> same plan
    assert [p.system for p in a] == [p.system for p in b]
    assert [p.system for p in a] != [p.system for p in plan_systems("Why is the sky blue?", tax, 3, seed=2)]


def test_resume_after_interruption_has_no_duplicates_and_no_losses(tmp_path):
    # reference: one uninterrupted run
    ref = tmp_path / "ref"
    synthesize(INSTRUCTIONS, FakeTeacher(), ref, n_systems=3, chunk_size=2)
    # killed after 2 teacher calls (4 instructions done), plus a torn half-written line at the end
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        synthesize(INSTRUCTIONS, FakeTeacher(fail_after_calls=2), run, n_systems=3, chunk_size=2)
    assert len((run / DONE_FILE).read_text().split()) == 4
    with (run / SFT_FILE).open("a") as f:  # rows of an unfinished instruction + a torn line
        f.write(json.dumps({"prompt": INSTRUCTIONS[5], "system": "x", "output": "partial"}) + "\n" + '{"prompt": "torn')
    teacher = FakeTeacher()
    s = synthesize(INSTRUCTIONS, teacher, run, n_systems=3, chunk_size=2)
    assert s["resumed_instructions"] == 4 and s["partial_rows_dropped"] == 2
    assert {c[1]["content"] for c in teacher.chats_seen} == set(INSTRUCTIONS[4:])  # only the missing ones
    for name in (SFT_FILE, DPO_FILE):
        got, want = _rows(run / name), _rows(ref / name)
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        assert Counter(map(key, got)) == Counter(map(key, want))  # same rows, none duplicated, none lost
    # a third run is a no-op
    s3 = synthesize(INSTRUCTIONS, FakeTeacher(fail_after_calls=0), run, n_systems=3)
    assert s3["new_sft_rows"] == 0 and s3["resumed_instructions"] == len(INSTRUCTIONS)
    assert sorted((run / DONE_FILE).read_text().split()) == sorted(instruction_key(i) for i in INSTRUCTIONS)


def test_identical_answers_make_no_pair(tmp_path):
    class Same(Backend):
        def generate(self, chats, params=None, images=None):
            return ["same answer"] * len(chats)

    s = synthesize(INSTRUCTIONS[:2], Same(), tmp_path, n_systems=3)
    assert s["new_dpo_rows"] == 0 and s["pairs_skipped_identical"] == 6 and s["new_sft_rows"] == 6


def test_local_teacher_with_a_tiny_model(tmp_path, tiny_lm):
    from safealign.backends.local import LocalBackend

    model, tok = tiny_lm
    s = synthesize(
        INSTRUCTIONS[:2], LocalBackend(model, tok), tmp_path, n_systems=2,
        params=GenerationParams(max_new_tokens=6, temperature=0.0),
    )
    assert s["total_sft_rows"] == 4
    assert all(isinstance(r["output"], str) for r in _rows(tmp_path / SFT_FILE))


def test_instruction_files(tmp_path, shared_data):
    assert len(load_instructions(shared_data / "external" / "koala_test_set.jsonl")) == 180
    si = load_instructions(shared_data / "external" / "self_instruct_user_oriented.jsonl")
    assert len(si) == 252 and any("\n\n" in s for s in si)  # instance inputs appended
    assert len(load_instructions(shared_data / "external" / "mt_bench_questions.jsonl")) == 80
    t = tmp_path / "i.txt"
    t.write_text("a\n\nb\n")
    assert load_instructions(t) == ["a", "b"]
