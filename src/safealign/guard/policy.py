"""The guardrail policy: severity (and category) -> action, per level, loaded from YAML.

Actions from mild to strict: ``allow`` < ``caution`` < ``regenerate`` < ``block``. For a verdict the action is the
stricter of the severity rule and any category floor. A verdict that is not unsafe always maps to the ``safe`` rule.
See ``default_policy.yaml`` (shipped in the package) for every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from safealign.errors import ConfigError
from safealign.guard.decision import SEVERITIES, GuardVerdict
from safealign.utils.yaml_file import read_yaml

PolicyAction = Literal["allow", "caution", "regenerate", "block"]
ACTIONS: tuple[str, ...] = ("allow", "caution", "regenerate", "block")
LEVELS = ("input", "output")
DEFAULT_POLICY_FILE = "default_policy.yaml"


def stricter(a: str, b: str) -> str:
    return a if ACTIONS.index(a) >= ACTIONS.index(b) else b


@dataclass
class Policy:
    name: str = "default"
    unsafe_threshold: float = 0.5
    max_rounds: int = 5
    input: dict[str, str] = field(
        default_factory=lambda: {"safe": "allow", "minor": "allow", "moderate": "regenerate", "severe": "block"}
    )
    output: dict[str, str] = field(
        default_factory=lambda: {"safe": "allow", "minor": "caution", "moderate": "regenerate", "severe": "regenerate"}
    )
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    caution_text: str = "Note: parts of this topic can be risky; please use this information responsibly."
    guidance: str = "A safety check flagged this request as {verdict}. Answer helpfully but safely."
    feedback: str = "Your previous answer was flagged by the safety guard as {verdict}. Write a new, safe answer."
    fallback: str = "I can't help with that, because it could lead to harm ({categories})."
    category_help: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------------------------------------ loading
    @classmethod
    def default(cls) -> "Policy":
        text = resources.files("safealign.guard").joinpath(DEFAULT_POLICY_FILE).read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), source=DEFAULT_POLICY_FILE)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Policy":
        data = read_yaml(path, "policy file") or {}  # missing, invalid YAML, not UTF-8: one line
        return cls.from_dict(data, source=str(path))

    @classmethod
    def load(cls, path: str | Path | None) -> "Policy":
        return cls.default() if path in (None, "", "default") else cls.from_yaml(path)

    @classmethod
    def from_dict(cls, data: Any, source: str = "policy") -> "Policy":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a policy is a mapping of field: value")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown policy field(s): {', '.join(unknown)}")
        base = cls.__new__(cls)
        for f, spec in cls.__dataclass_fields__.items():
            setattr(base, f, spec.default_factory() if callable(spec.default_factory) else spec.default)  # type: ignore[misc]
        merged = {f: getattr(base, f) for f in known}
        for key in ("input", "output"):
            if key in data:
                if not isinstance(data[key], dict):
                    raise ConfigError(f"{source}: '{key}' must map severities to actions")
                merged[key] = {**merged[key], **{str(k).lower(): str(v).lower() for k, v in data[key].items()}}
        for key, value in data.items():
            if key not in ("input", "output"):
                merged[key] = value
        cats = merged.get("categories") or {}
        if not isinstance(cats, dict):
            raise ConfigError(f"{source}: 'categories' must map category -> {{input: action, output: action}}")
        norm: dict[str, dict[str, str]] = {}
        for cat, rule in cats.items():
            if isinstance(rule, str):  # shorthand: same floor at both levels
                rule = {"input": rule, "output": rule}
            if not isinstance(rule, dict):
                raise ConfigError(f"{source}: category '{cat}' must be an action or {{input: ..., output: ...}}")
            norm[str(cat)] = {str(k).lower(): str(v).lower() for k, v in rule.items()}
        merged["categories"] = norm
        try:
            return cls(**merged)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    def validate(self) -> None:
        for level in LEVELS:
            rules = getattr(self, level)
            for sev, act in rules.items():
                if sev not in SEVERITIES:
                    raise ConfigError(f"policy {level}: unknown severity '{sev}' (expected {', '.join(SEVERITIES)})")
                if act not in ACTIONS:
                    raise ConfigError(f"policy {level}.{sev}: unknown action '{act}' (expected {', '.join(ACTIONS)})")
            missing = [s for s in SEVERITIES if s not in rules]
            if missing:
                raise ConfigError(f"policy {level}: no action for severity {', '.join(missing)}")
        for cat, rule in self.categories.items():
            for level, act in rule.items():
                if level not in LEVELS:
                    raise ConfigError(f"policy categories.{cat}: unknown level '{level}' (expected input/output)")
                if act not in ACTIONS:
                    raise ConfigError(f"policy categories.{cat}.{level}: unknown action '{act}'")
        if not isinstance(self.max_rounds, int) or self.max_rounds < 0:
            raise ConfigError(f"policy max_rounds must be an integer >= 0, got {self.max_rounds!r}")
        if not 0.0 < float(self.unsafe_threshold) < 1.0:
            raise ConfigError(f"policy unsafe_threshold must be in (0, 1), got {self.unsafe_threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    # ------------------------------------------------------------------------------------------------ decisions
    def action_for(self, verdict: GuardVerdict, level: str = "output") -> str:
        """The policy action for one verdict at one level (input or output)."""
        if level not in LEVELS:
            raise ValueError(f"level must be input or output, got {level!r}")
        rules = getattr(self, level)
        if not verdict.is_unsafe:
            return rules["safe"]
        sev = verdict.severity if verdict.severity in SEVERITIES and verdict.severity != "safe" else "moderate"
        action = rules[sev]
        for cat in verdict.categories:
            floor = self.categories.get(cat, {}).get(level)
            if floor:
                action = stricter(action, floor)
        return action

    def fallback_text(self, verdict: GuardVerdict | None) -> str:
        cats = list(verdict.categories) if verdict is not None else []
        text = self.fallback.format(categories=", ".join(c.replace("_", " ") for c in cats) or "safety policy")
        extra = [self.category_help[c] for c in cats if c in self.category_help]
        return " ".join([text, *dict.fromkeys(extra)]).strip()

    def feedback_text(self, verdict: GuardVerdict) -> str:
        return self.feedback.format(verdict=verdict.describe())

    def guidance_text(self, verdict: GuardVerdict) -> str:
        return self.guidance.format(verdict=verdict.describe())
