"""Policy: severity/category -> action, per level; YAML loading and errors; rules guard."""

from __future__ import annotations

import pytest

from safealign.errors import ConfigError
from safealign.guard.decision import GuardVerdict
from safealign.guard.policy import Policy
from safealign.guard.rules import AnyGuard, RuleGuard


def v(sev: str, cats=(), unsafe: bool = True) -> GuardVerdict:
    return GuardVerdict(0.9 if unsafe else 0.1, unsafe, sev if unsafe else "safe", list(cats))


@pytest.mark.parametrize(
    "level,sev,expected",
    [
        ("input", "safe", "allow"), ("input", "minor", "allow"), ("input", "moderate", "regenerate"),
        ("input", "severe", "block"), ("output", "safe", "allow"), ("output", "minor", "caution"),
        ("output", "moderate", "regenerate"), ("output", "severe", "regenerate"),
    ],
)
def test_default_policy_severity_actions(level, sev, expected):
    p = Policy.default()
    assert p.action_for(v(sev, unsafe=sev != "safe"), level) == expected


def test_not_unsafe_maps_to_safe_rule_whatever_the_severity():
    p = Policy.default()
    assert p.action_for(GuardVerdict(0.2, False, "severe", ["violence"]), "input") == "allow"


def test_category_floor_is_stricter_only():
    p = Policy.default()
    assert p.action_for(v("minor", ["child_safety"]), "output") == "block"  # floor raises caution -> block
    assert p.action_for(v("severe", ["self_harm"]), "input") == "block"  # floor regenerate does not lower block
    assert p.action_for(v("minor", ["self_harm"]), "input") == "regenerate"


def test_yaml_policy_overrides(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("max_rounds: 2\noutput:\n  minor: block\ncategories:\n  privacy: block\n  hate: {output: caution}\n")
    p = Policy.from_yaml(f)
    assert p.max_rounds == 2
    assert p.action_for(v("minor"), "output") == "block"
    assert p.action_for(v("moderate"), "output") == "regenerate"  # untouched keys keep defaults
    assert p.action_for(v("minor", ["privacy"]), "input") == "block"  # shorthand applies to both levels
    assert p.categories["hate"] == {"output": "caution"}


@pytest.mark.parametrize(
    "text,msg",
    [
        ("output:\n  minor: explode\n", "unknown action 'explode'"),
        ("output:\n  catastrophic: block\n", "unknown severity 'catastrophic'"),
        ("max_rounds: -1\n", "max_rounds"),
        ("colour: red\n", "unknown policy field"),
        ("categories:\n  hate: {dialog: block}\n", "unknown level"),
        ("output: [1, 2]\n", "must map severities"),
    ],
)
def test_bad_policy_yaml_is_a_one_line_config_error(tmp_path, text, msg):
    f = tmp_path / "p.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        Policy.from_yaml(f)


def test_fallback_text_names_categories_and_adds_help():
    p = Policy.default()
    t = p.fallback_text(v("severe", ["self_harm"]))
    assert "self harm" in t and "crisis line" in t
    assert "can't help" in p.fallback_text(None)


def test_rule_guard_and_any_guard():
    rules = RuleGuard(
        [
            {"pattern": r"\bbomb\b", "category": "weapons_drugs", "severity": "severe"},
            {"pattern": r"redacted", "category": "violence", "target": "response"},
        ]
    )
    assert rules.classify("how to build a bomb").severity == "severe"
    assert not rules.classify("[redacted] in a prompt").is_unsafe  # response-only rule
    assert rules.classify("q", "steps: [redacted]").categories == ["violence"]
    safe = RuleGuard([])
    both = AnyGuard(safe, rules)
    assert both.classify("a bomb").is_unsafe and not both.classify("a cake").is_unsafe
