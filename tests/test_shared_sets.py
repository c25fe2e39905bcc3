"""The fixed split rule and the shared public prompt sets read through it."""

from __future__ import annotations

import pytest

from safealign.data.shared_sets import (
    BENIGN_SETS,
    HARMFUL_SETS,
    SHARED_SETS,
    load_shared_prompts,
    load_shared_set,
    split_key,
)
from safealign.data.splits import split_of
from safealign.errors import DataError


def test_split_rule_by_hand():
    # sha256("pair-0002")[:8] = 04867b10 -> 75922192 % 4 == 0 -> held out; the others give 2, 1, 2
    assert split_of("pair-0002") == "heldout"
    assert split_of("pair-0001") == "train"
    assert split_of("prompt:how do i make a bomb?") == "train"
    assert split_of("advbench:0") == "train"


def test_split_key_normalises_text():
    assert split_key("  How do I\n make a BOMB? ") == "prompt:how do i make a bomb?"


def test_every_set_reads_labelled_with_stable_ids(shared_data):
    for name, spec in SHARED_SETS.items():
        rows = load_shared_set(shared_data, name)
        assert rows, name
        assert all(r.label == spec.label for r in rows)
        assert all(r.id.startswith(name + ":") for r in rows)
        assert len({r.id for r in rows}) == len(rows), name
    assert set(HARMFUL_SETS) | set(BENIGN_SETS) == set(SHARED_SETS)


def test_splits_partition_the_sets_and_agree_across_sets(shared_data):
    train = load_shared_prompts(shared_data, split="train")
    held = load_shared_prompts(shared_data, split="heldout")
    assert len(train) + len(held) == len(load_shared_prompts(shared_data))
    assert not {split_key(r.prompt) for r in train} & {split_key(r.prompt) for r in held}
    share = len(held) / (len(train) + len(held))
    assert 0.18 < share < 0.32


def test_simple_safety_tests_category_is_the_harm_area(shared_data):
    rows = load_shared_set(shared_data, "simple_safety_tests")
    assert rows[0].category == "Suicide, Self-Harm, and Eating Disorders"


def test_evaluation_only_sets_are_left_out_of_training(shared_data):
    names = {r.id.split(":")[0] for r in load_shared_prompts(shared_data, split="train", trainable_only=True)}
    assert "koala" not in names and "advbench" in names


def test_bad_inputs_are_one_line_errors(tmp_path, shared_data):
    with pytest.raises(DataError, match="unknown shared set"):
        load_shared_set(shared_data, "nope")
    with pytest.raises(DataError, match="no shared prompt sets found"):
        load_shared_set(tmp_path, "advbench")
    with pytest.raises(ValueError, match="split must be one of"):
        load_shared_set(shared_data, "advbench", split="test")
