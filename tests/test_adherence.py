"""Judge-free constraint checkers: each type on a passing and a failing answer, and the aggregate score."""

from __future__ import annotations

import pytest

from safealign.data.records import CONSTRAINT_TYPES as RECORD_TYPES
from safealign.errors import DataError
from safealign.janus.adherence import (
    CONSTRAINT_TYPES,
    adherence_score,
    check_adherence,
    check_constraint,
    describe_constraint,
    detect_language,
)
from safealign.janus.families import LEGACY_TYPES

CASES = [
    # (constraint, passing answer, failing answer)
    ({"type": "max_words", "value": 5}, "One two three four five.", "One two three four five six."),
    ({"type": "min_words", "value": 4}, "this has four words", "only three words"),
    ({"type": "bullet_count", "value": 3}, "- a\n- b\n* c", "- a\n- b"),
    ({"type": "bullet_count", "min": 2, "max": 3}, "Intro:\n- a\n- b", "- a\n- b\n- c\n- d"),
    ({"type": "numbered_list", "value": 3}, "1. first\n2. second\n3) third", "1. first\n3. third\n4. fourth"),
    ({"type": "json_output"}, '{"answer": "yes"}', "answer: yes"),
    ({"type": "json_output", "keys": ["answer"]}, '```json\n{"answer": 1}\n```', '{"reply": 1}'),
    (
        {"type": "required_words", "words": ["kettle", "Safety"]},
        "Safety first: unplug the kettle.",
        "Unplug the kettles first.",
    ),
    ({"type": "forbidden_words", "words": ["cool"]}, "That is coolant, not water.", "That is cool."),
    ({"type": "ends_with", "text": "-- Sage"}, "Drink water.\n-- sage  ", "-- Sage\nDrink water."),
    ({"type": "starts_with", "text": "Here is what to do"}, "here is what to do: rest.", "Rest. Here is what to do."),
    (
        {"type": "language", "value": "fr"},
        "La photosynthèse est le processus par lequel les plantes fabriquent du sucre.",
        "Photosynthesis is how the plants make sugar.",
    ),
    (
        {"type": "language", "language": "es"},
        "La fotosíntesis es el proceso de las plantas para hacer azúcar con luz.",
        "La photosynthèse est le processus des plantes.",
    ),
    ({"type": "all_lowercase"}, "all lowercase here, 42.", "Not lowercase."),
    ({"type": "no_commas"}, "No commas here at all.", "Yes, a comma."),
]


@pytest.mark.parametrize("constraint,good,bad", CASES, ids=[f"{c['type']}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_each_checker_passes_and_fails(constraint, good, bad):
    assert check_constraint(good, constraint) is True
    assert check_constraint(bad, constraint) is False


def test_every_declared_type_has_a_case_and_a_sentence():
    # the first 12 types keep their cases here; tests/test_janus_families.py has cases for every family
    assert {c["type"] for c, _, _ in CASES} == set(LEGACY_TYPES) and set(LEGACY_TYPES) <= set(CONSTRAINT_TYPES)
    for c, _, _ in CASES:
        assert describe_constraint(c).strip()


def test_the_data_layer_knows_every_family():
    assert RECORD_TYPES == CONSTRAINT_TYPES


def test_all_lowercase_needs_letters_and_edge_cases():
    assert not check_constraint("123 456", {"type": "all_lowercase"})
    assert check_constraint("", {"type": "max_words", "value": 0})  # an empty answer has 0 words
    assert detect_language("") is None
    assert detect_language("42 17") is None


def test_check_adherence_ands_repeated_types():
    res = check_adherence(
        "Hello there.",
        [
            {"type": "required_words", "words": ["hello"]},
            {"type": "required_words", "words": ["bye"]},
            {"type": "no_commas"},
        ],
    )
    assert res == {"required_words": False, "no_commas": True}


def test_adherence_score_by_hand():
    responses = ["- a\n- b\n- c", "a, b", "short"]
    cons = [
        [{"type": "bullet_count", "value": 3}, {"type": "no_commas"}],  # pass, pass
        [{"type": "no_commas"}],  # fail
        [{"type": "max_words", "value": 3}, {"type": "all_lowercase"}],  # pass, pass
    ]
    rep = adherence_score(responses, cons)
    assert rep["n_constraints"] == 5 and rep["n_responses"] == 3
    assert rep["overall"] == 80.0  # 4 of 5
    assert rep["strict"] == pytest.approx(66.67)  # 2 of 3 answers pass everything
    assert rep["per_constraint"]["no_commas"] == {"pass_rate": 50.0, "n": 2}
    assert rep["per_constraint"]["bullet_count"] == {"pass_rate": 100.0, "n": 1}


def test_records_without_constraints_are_skipped_and_lengths_must_match():
    rep = adherence_score(["x", "y"], [[], [{"type": "no_commas"}]])
    assert rep["n_responses"] == 1 and rep["overall"] == 100.0
    with pytest.raises(ValueError):
        adherence_score(["x"], [])


def test_bad_constraints_are_one_line_errors():
    with pytest.raises(DataError, match="unknown constraint type 'rhymes'"):
        check_constraint("x", {"type": "rhymes"})
    with pytest.raises(DataError, match="needs 'words'"):
        check_constraint("x", {"type": "required_words"})
    with pytest.raises(DataError, match="max_words.: .many. is not a number"):
        check_constraint("x", {"type": "max_words", "value": "many"})
