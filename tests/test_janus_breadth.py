"""Janus at breadth: deterministic repair / break-one edits, the generalisation splits and evaluation sets, and the
best-of-n synthesis from the families (verified rows, statistics, dedup, resume)."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from safealign.backends.base import Backend
from safealign.cli import build_app, main
from safealign.errors import ConfigError
from safealign.janus.breadth import DPO_FILE, SFT_FILE, STATE_FILE, BreadthConfig, choose, plan_item, synthesize_breadth
from safealign.janus.construct import FIXERS, break_one, failing_indices, repair
from safealign.janus.families import REGISTRY, check_all, load_stylistic, sample_system
from safealign.janus.generalisation import SIDES, evaluate_generalisation, evaluation_sets, make_splits

ANSWER = (
    "Rain forms when water vapour cools into droplets. The droplets join and grow heavy! Then they fall from the "
    "clouds, which is what we call rain. It waters plants and fills rivers."
)


# ------------------------------------------------------------------ construct


@pytest.mark.parametrize(
    "constraints",
    [
        [{"type": "max_words", "value": 10}],
        [{"type": "bullet_count", "value": 3}, {"type": "no_commas"}],
        [{"type": "numbered_steps", "value": 4}, {"type": "ends_with", "text": "Stay dry."}],
        [{"type": "json_output", "keys": ["answer", "source"]}],
        [{"type": "all_uppercase"}, {"type": "required_words", "words": ["umbrella"]}, {"type": "no_digits"}],
        [{"type": "exact_sentences", "value": 2}, {"type": "starts_with", "text": "Good question!"}],
        [{"type": "markdown_table", "columns": 2, "rows": 2}],
    ],
)
def test_repair_meets_every_constraint(constraints):
    assert failing_indices(ANSWER, constraints)  # the answer fails before
    fixed = repair(ANSWER, constraints)
    assert fixed is not None and all(check_all(fixed, constraints).values()), fixed


def test_repair_gives_up_on_what_no_edit_can_fix():
    assert "language" not in FIXERS
    assert repair(ANSWER, [{"type": "language", "value": "fr"}]) is None
    # an answer that already passes is returned unchanged
    assert repair(ANSWER, [{"type": "min_words", "value": 5}]) == ANSWER


def test_break_one_fails_exactly_the_target():
    cons = [{"type": "bullet_count", "value": 3}, {"type": "no_commas"}, {"type": "forbidden_words", "words": ["hail"]}]
    chosen = repair(ANSWER, cons)
    assert chosen is not None
    for t in range(len(cons)):
        broken = break_one(chosen, cons, t)
        assert broken is not None and failing_indices(broken, cons) == [t]


def test_repair_and_break_cover_most_sampled_messages():
    """Over 300 sampled messages the fixers repair most of them and a break-one edit exists for most constraints."""
    rng = random.Random(3)
    repaired = total = broken = checked = 0
    for _ in range(300):
        s = sample_system(rng)
        total += 1
        fixed = repair(ANSWER, s.constraints)
        if fixed is None:
            continue
        repaired += 1
        assert all(check_all(fixed, s.constraints).values())
        for t in range(len(s.constraints)):
            checked += 1
            broken += break_one(fixed, s.constraints, t) is not None
    assert repaired / total > 0.6 and broken / checked > 0.6


# ------------------------------------------------------------------ splits and evaluation sets


def test_splits_are_disjoint_and_cover_the_registry():
    sp = make_splits(0)
    assert set(sp.train_families).isdisjoint(sp.held_families)
    assert set(sp.train_families) | set(sp.held_families) == set(REGISTRY.names)
    assert len(sp.held_families) >= 0.25 * len(REGISTRY)
    assert set(sp.train_phrasings).isdisjoint(sp.held_phrasings)
    assert set(sp.train_pairs).isdisjoint(sp.held_pairs) and sp.held_pairs
    assert make_splits(0) == sp and make_splits(1) != sp


def test_evaluation_sets_keep_each_side_unseen():
    sp = make_splits(0)
    sets = evaluation_sets(["What is rain?", "How do tides work?"], sp, 40, seed=1)
    assert set(sets) == set(SIDES) and all(len(v) == 40 for v in sets.values())
    held_f, train_f = set(sp.held_families), set(sp.train_families)
    held_p, train_p = set(sp.held_phrasings), set(sp.train_phrasings)
    held_pairs = set(sp.held_pairs)
    for r in sets["unseen_families"]:
        assert {c["type"] for c in r.constraints} <= held_f
    for r in sets["unseen_phrasings"]:
        assert {c["type"] for c in r.constraints} <= train_f and set(r.phrasing_ids) <= held_p
    for r in sets["unseen_combinations"]:
        assert len(r.constraints) == 2 and frozenset(c["type"] for c in r.constraints) in held_pairs
        assert set(r.phrasing_ids) <= train_p
    for r in sets["seen"]:
        types = [c["type"] for c in r.constraints]
        assert set(types) <= train_f and set(r.phrasing_ids) <= train_p
        assert all(frozenset(p) not in held_pairs for p in zip(types, types[1:]))
    assert [r.system for r in evaluation_sets(["What is rain?", "How do tides work?"], sp, 40, 1)["seen"]] == [
        r.system for r in sets["seen"]
    ]


class EchoBackend(Backend):
    """Answers every chat with a fixed text; counts the chats it was asked."""

    name = "echo"

    def __init__(self, answers=(ANSWER,), fail_after_calls=None):
        self.answers, self.calls, self.chats, self.fail_after_calls = list(answers), 0, 0, fail_after_calls

    def generate(self, chats, params=None, images=None):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        self.chats += len(chats)
        return [self.answers[i % len(self.answers)] for i in range(len(chats))]


def test_evaluate_generalisation_reports_each_side():
    sets = evaluation_sets(["What is rain?"], make_splits(0), 5)
    rep = evaluate_generalisation(EchoBackend(), sets)
    assert set(rep) == set(SIDES)
    for side, r in rep.items():
        expected = [ok for rec in sets[side] for ok in check_all(ANSWER, rec.constraints).values()]
        assert r["n_responses"] == 5 and r["overall"] == round(100 * sum(expected) / len(expected), 2)


# ------------------------------------------------------------------ synthesis


def _cfg(tmp_path, **kw):
    return BreadthConfig(instructions="x.txt", output_dir=str(tmp_path / "out"), best_of=2, chunk_size=3, **kw)


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_choose_prefers_a_passing_sample_then_repairs():
    cfg = BreadthConfig(instructions="x")
    item = plan_item(0, ["What is rain?"], make_splits(0), cfg, load_stylistic())
    item.constraints = [{"type": "max_words", "value": 8}, {"type": "no_commas"}]
    good, one_bad = "Rain is water that falls.", "Rain is water, falling."
    res = choose(item, [one_bad, good], True, random.Random(0))
    assert res["chosen"] == good and res["chosen_source"] == "model"
    assert res["rejected"] == one_bad and res["rejected_source"] == "model" and res["broken"] == 1
    res = choose(item, [ANSWER], True, random.Random(0))
    assert res["chosen_source"] == "repair" and not failing_indices(res["chosen"], item.constraints)
    assert res["rejected_source"] == "edit" and len(failing_indices(res["rejected"], item.constraints)) == 1
    res = choose(item, [ANSWER], False, random.Random(0))
    assert res["chosen"] is None and res["chosen_source"] is None


def test_synthesis_rows_are_verified_and_statistics_add_up(tmp_path):
    cfg = _cfg(tmp_path, n_items=12)
    teacher = EchoBackend()
    s = synthesize_breadth(["What is rain?", "Why is the sky blue?"], teacher, cfg)
    assert teacher.chats == 12 * 2  # best_of samples per item
    sft, dpo = _rows(tmp_path / "out" / SFT_FILE), _rows(tmp_path / "out" / DPO_FILE)
    assert s["items"] == 12 and s["sft_rows"] == len(sft) and s["dpo_pairs"] == len(dpo)
    assert sum(s["chosen"].values()) == 12 and s["chosen"]["model"] + s["chosen"]["repair"] == len(sft)
    assert s["acceptance_rate_with_repair"] == round(100 * len(sft) / 12, 2)
    train = set(make_splits(0).train_families)
    for r in sft:
        assert all(check_all(r["output"], r["constraints"]).values())
        assert {c["type"] for c in r["constraints"]} <= train
    for r in dpo:
        assert all(check_all(r["chosen"][-1]["content"], r["constraints"]).values())
        bad = [t for t, ok in check_all(r["rejected"][-1]["content"], r["constraints"]).items() if not ok]
        assert bad == [r["broken"]]
    assert s["families_used"] == len(s["per_family"]) and s["combinations_used"] >= 1
    assert set(s["splits"]["held_out_families"]).isdisjoint(s["per_family"])


def test_synthesis_resumes_after_a_kill_and_deduplicates(tmp_path):
    prompts = ["What is rain?", "Why is the sky blue?", "How do magnets work?"]
    with pytest.raises(KeyboardInterrupt):
        synthesize_breadth(prompts, EchoBackend(fail_after_calls=2), _cfg(tmp_path, n_items=12))
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    assert len(state["done"]) == 6  # two chunks of 3 finished
    # a torn last line from the killed run is dropped too
    with (tmp_path / "out" / SFT_FILE).open("a") as f:
        f.write('{"id": "item11", "torn')
    teacher = EchoBackend()
    s = synthesize_breadth(prompts, teacher, _cfg(tmp_path, n_items=12))
    assert teacher.chats == 6 * 2 and s["items"] == 12
    fresh = tmp_path / "fresh"
    ref = synthesize_breadth(prompts, EchoBackend(), _cfg(fresh, n_items=12))
    assert _rows(tmp_path / "out" / SFT_FILE) == _rows(fresh / "out" / SFT_FILE)
    assert {k: v for k, v in s.items() if k != "output_dir"} == {k: v for k, v in ref.items() if k != "output_dir"}
    keys = [r["key"] for r in _rows(tmp_path / "out" / SFT_FILE)]
    assert len(keys) == len(set(keys))


def test_duplicate_messages_are_skipped(tmp_path):
    # one instruction, one family, one phrasing: the space is tiny, so repeats must be skipped, not written twice
    cfg = _cfg(tmp_path, n_items=30, max_constraints=1, stylistic_prob=0.0)
    s = synthesize_breadth(["What is rain?"], EchoBackend(), cfg)
    keys = [r["key"] for r in _rows(tmp_path / "out" / SFT_FILE)]
    assert len(keys) == len(set(keys)) and s["items"] + s["duplicates_skipped"] == 30


def test_config_errors_and_cli(tmp_path, capsys):
    with pytest.raises(ConfigError, match="instructions"):
        BreadthConfig().validate()
    with pytest.raises(ConfigError, match="min-constraints"):
        BreadthConfig(instructions="x", min_constraints=3, max_constraints=2).validate()
    with pytest.raises(SystemExit) as e:
        main(["data", "synthesize-breadth", "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--instructions is required" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:
        main(["data", "synthesize-breadth", "--instructions", str(tmp_path / "missing.txt")])
    assert e.value.code == 2 and "missing.txt" in capsys.readouterr().err
    r = CliRunner().invoke(build_app(), ["data", "synthesize-breadth", "--help"])
    assert r.exit_code == 0 and "--best-of" in r.output
