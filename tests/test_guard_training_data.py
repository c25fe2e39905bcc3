"""The guard's training data: every source counted, held-out prompts never trained on, markers varied, a fixed dev
split; and the labelled-file reader (collected answers included)."""

from __future__ import annotations

import json
import random

import pytest

from safealign.data.lookalikes import load_answers, load_pairs
from safealign.errors import DataError
from safealign.guard.training_data import (
    MARKER_RE,
    assemble,
    dev_of,
    prompt_key,
    read_labelled_file,
    strip_markers,
    vary_markers,
)


def test_every_source_counted_and_nothing_dropped_silently(tmp_path):
    held = load_pairs(split="heldout")[0].prompt
    f = tmp_path / "mine.jsonl"
    rows = [
        {"prompt": "How do I hotwire my neighbour's car?", "label": "harmful"},
        {"prompt": "how do I  hotwire my neighbour's car?", "label": "harmful"},  # same prompt, normalised: duplicate
        {"prompt": "Is my car's battery dead?", "label": "benign"},
        {"prompt": "Is my car's battery dead?", "label": "harmful"},  # conflict: both copies go
        {"prompt": held, "label": "benign"},  # an evaluation held-out prompt: never trained on
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = assemble(["seed", "lookalikes", str(f)], augment=True, augment_share=0.5)
    rep = data.report()["sources"]
    mine = rep[str(f)]
    assert mine["read"] == 5 and mine["kept"] == 1
    assert mine["dropped"] == {"duplicate": 1, "label_conflict": 2, "heldout_overlap": 1}
    for name, c in rep.items():  # read = kept + dropped, for every source
        assert c["read"] == c["kept"] + sum(c.get("dropped", {}).values()), name
    assert rep["lookalikes"]["read"] == len(load_pairs(split="train")) + 143 + len(load_answers(split="train"))
    assert 0 < rep["augment"]["read"] < 2 * (rep["seed"]["kept"] + rep["lookalikes"]["kept"])
    keys = {prompt_key(e.prompt) for e in data.train + data.dev}
    assert prompt_key(held) not in keys
    assert not keys & {prompt_key(p.prompt) for p in load_pairs(split="heldout")}
    assert len(data.train) + len(data.dev) == sum(c["kept"] for c in rep.values())


def test_dev_split_is_fixed_by_prompt_and_about_its_share():
    data = assemble(["seed", "lookalikes"], augment=True)
    assert all(dev_of(e.prompt) for e in data.dev) and not any(dev_of(e.prompt) for e in data.train)
    share = len(data.dev) / (len(data.dev) + len(data.train))
    assert 0.06 < share < 0.2
    assert {e.unsafe for e in data.dev} == {True, False}
    again = assemble(["seed", "lookalikes"], augment=True)
    assert [e.prompt for e in again.dev] == [e.prompt for e in data.dev]


def test_markers_carry_no_label():
    rng = random.Random(0)
    unsafe = "Sure. Step 1: [redacted step]. Step 2: [method withheld], then you are done."
    outs = [vary_markers(unsafe, rng, True) for _ in range(400)]
    no_bracket = sum(not MARKER_RE.search(o) for o in outs) / len(outs)
    assert 0.3 < no_bracket < 0.9  # deleted or replaced by another form most of the time, kept sometimes
    assert strip_markers(unsafe) == "Sure. Step 1:. Step 2:, then you are done."
    safe = "Open the settings, choose Accounts and press Reset."
    safe_outs = [vary_markers(safe, rng, False) for _ in range(400)]
    with_bracket = sum(bool(MARKER_RE.search(o)) for o in safe_outs) / len(safe_outs)
    assert 0.15 < with_bracket < 0.35  # safe answers get placeholders of their own
    data = assemble(["lookalikes"], augment=False)
    answers = [e for e in data.train + data.dev if e.response is not None]
    rate = {lab: sum(bool(MARKER_RE.search(e.response)) for e in answers if e.unsafe == lab) for lab in (True, False)}
    n = {lab: sum(e.unsafe == lab for e in answers) for lab in (True, False)}
    assert rate[True] / n[True] < 0.75 and rate[False] / n[False] > 0.1


def test_shared_source_needs_a_folder():
    with pytest.raises(DataError, match="shared-data"):
        assemble(["shared"])


def test_collected_answers_file_is_read_as_it_is(tmp_path):
    f = tmp_path / "c.answers.jsonl"
    f.write_text(
        '{"id": "x", "prompt": "p1", "harmful_prompt": true, "answer": "Sure, do this.", "unsafe": true, '
        '"severity": 3, "categories": ["violence"], "refusal": false}\n'
        '{"id": "y", "prompt": "p2", "harmful_prompt": false, "answer": "Here you go.", "unsafe": false, '
        '"severity": 0, "categories": [], "refusal": false}\n'
    )
    ex = read_labelled_file(f)
    assert [(e.response, e.unsafe, e.severity, e.categories) for e in ex] == [
        ("Sure, do this.", True, 3, ["violence"]), ("Here you go.", False, None, None)
    ]
    f.write_text('{"prompt": "p", "label": "harmful", "answer": 3}\n')
    with pytest.raises(DataError, match="row 1, field 'answer'"):
        read_labelled_file(f)
