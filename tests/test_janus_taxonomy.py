"""Preference taxonomy: sampling covers every dimension, verbalisation is deterministic, users can extend it."""

from __future__ import annotations

import random

import pytest

from safealign.errors import ConfigError
from safealign.janus.adherence import check_constraint
from safealign.janus.taxonomy import DIMENSIONS, constraints_conflict, load_taxonomy, verbalize


def test_builtin_taxonomy_has_the_four_dimensions_with_subdimensions():
    tax = load_taxonomy()
    assert tax.dimensions == list(DIMENSIONS)
    assert set(tax.tree["style"]) == {"clarity", "conciseness", "format", "tone", "vividness"}
    assert set(tax.tree["harmlessness"]) == {"accuracy", "morality", "safety", "sensitivity", "trustworthiness"}
    assert all(e.preference.description for e in tax.entries())


def test_sampling_gives_one_preference_per_dimension_and_covers_all():
    tax = load_taxonomy()
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        ps = tax.sample_preference_set(rng)
        assert [p.dimension for p in ps] == list(DIMENSIONS)
        seen.update((p.dimension, p.subdimension) for p in ps)
    every = {(d, s) for d, subs in tax.tree.items() for s in subs}
    assert seen == every  # every subdimension of every dimension gets sampled


def test_sampled_constraints_never_conflict_and_with_constraints_is_honoured():
    tax = load_taxonomy()
    rng = random.Random(1)
    for _ in range(200):
        ps = tax.sample_preference_set(rng, with_constraints=True)
        cons = tax.constraints_for(ps)
        assert cons and not constraints_conflict(cons)
    for _ in range(50):
        assert not tax.constraints_for(tax.sample_preference_set(rng, with_constraints=False))


def test_conflict_rules():
    assert constraints_conflict([{"type": "max_words", "value": 40}, {"type": "min_words", "value": 80}])
    assert not constraints_conflict([{"type": "max_words", "value": 90}, {"type": "min_words", "value": 80}])
    assert constraints_conflict([{"type": "json_output"}, {"type": "bullet_count", "value": 3}])
    # both checkers compare case-insensitively, so a capitalised closing line no longer clashes with lowercase
    assert not constraints_conflict([{"type": "all_lowercase"}, {"type": "ends_with", "text": "-- Sage"}])
    tea = ["tea"]
    assert constraints_conflict([{"type": "required_words", "words": tea}, {"type": "forbidden_words", "words": tea}])
    assert not constraints_conflict([{"type": "all_lowercase"}, {"type": "no_commas"}])


def test_verbalisation_is_deterministic_under_a_seed_and_states_constraints():
    tax = load_taxonomy()
    ps = tax.sample_preference_set(random.Random(3), with_constraints=True)
    cons = tax.constraints_for(ps)
    a, b = verbalize(ps, seed=7, constraints=cons), verbalize(ps, seed=7, constraints=cons)
    assert a == b
    texts = {verbalize(ps, seed=s) for s in range(30)}
    assert len(texts) > 1  # the seed changes the wording
    # same seed -> same sampled sets -> same system messages
    r1, r2 = random.Random(5), random.Random(5)
    assert [verbalize(tax.sample_preference_set(r1), 0) for _ in range(5)] == [
        verbalize(tax.sample_preference_set(r2), 0) for _ in range(5)
    ]
    for p in ps:  # every preference is stated
        assert p.description.lower()[1:20] in a.lower()


def test_user_yaml_extends_and_replaces(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(
        "style:\n  tone:\n    - {preference: pirate voice, description: Talks like a pirate., constraints: [{type: "
        "ends_with, text: Arr!}]}\n"
        "    - {preference: formal, description: Stiff and formal.}\n"
        "humour:\n  puns:\n    - {preference: puns, description: Loves puns.}\n"
    )
    tax = load_taxonomy(f)
    labels = {e.preference.preference: e for e in tax.tree["style"]["tone"]}
    assert "pirate voice" in labels and labels["formal"].preference.description == "Stiff and formal."
    assert [e.preference.preference for e in tax.tree["style"]["tone"]].count("formal") == 1
    assert "humour" in tax.dimensions
    assert labels["pirate voice"].constraints == [{"type": "ends_with", "text": "Arr!"}]
    assert check_constraint("Ahoy.\nArr!", labels["pirate voice"].constraints[0])


def test_bad_taxonomy_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_taxonomy(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("style:\n  tone:\n    - {description: no label}\n")
    with pytest.raises(ConfigError, match="needs a 'preference' label"):
        load_taxonomy(bad)
    bad.write_text("style:\n  tone:\n    - {preference: x, constraints: [{type: rhymes}]}\n")
    with pytest.raises(ConfigError, match="unknown constraint type"):
        load_taxonomy(bad)
