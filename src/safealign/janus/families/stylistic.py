"""Preferences no code can check (formality, empathy, humour, expertise level, ...), graded by a rubric judge.

They ship as ``stylistic.yaml`` next to this module; users add files of the same shape. Each preference has
phrasings (with ids and registers, like the constraint families), the judge's rubric question and what a 1 and a 5
look like; :meth:`StylisticPreference.to_rubric` turns that into the 1-5 rubric ``safealign.eval.rubric`` grades.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from safealign.data.records import Rubric
from safealign.errors import ConfigError
from safealign.janus.families.spec import REGISTERS, Phrasing
from safealign.utils.yaml_file import read_yaml

_FIELDS = ("name", "dimension", "subdimension", "phrasings", "rubric", "low", "high")


@dataclass(frozen=True)
class StylisticPreference:
    name: str
    dimension: str
    subdimension: str
    phrasings: tuple[Phrasing, ...]
    rubric: str
    low: str
    high: str
    conflicts: frozenset[str] = frozenset()

    def phrase(self, phrasing_id: Optional[str] = None) -> str:
        for p in self.phrasings:
            if phrasing_id is None or p.id == phrasing_id or f"{self.name}/{p.id}" == phrasing_id:
                return p.template
        raise KeyError(f"preference {self.name!r} has no phrasing {phrasing_id!r}")

    def phrasing_ids(self) -> list[str]:
        return [f"{self.name}/{p.id}" for p in self.phrasings]

    def to_rubric(self) -> Rubric:
        """A 1-5 rubric: 1 is ``low``, 5 is ``high``, the middle levels interpolate."""
        return Rubric(
            criteria=self.rubric,
            score_descriptions={
                1: self.low,
                2: f"Mostly falls short: closer to '{self.low}' than to the goal.",
                3: "Partly meets the preference: some of the response does, some does not.",
                4: f"Largely meets the preference, with small lapses from '{self.high}'",
                5: self.high,
            },
        )


def _parse(entry: Any, where: str) -> StylisticPreference:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(_FIELDS)}")
    missing = [k for k in _FIELDS if not entry.get(k)]
    if missing:
        raise ConfigError(f"{where}: missing field '{missing[0]}'")
    phr = entry["phrasings"]
    if not isinstance(phr, dict) or len(phr) < 2:
        raise ConfigError(f"{where}, field 'phrasings': needs a mapping of at least 2 id -> sentence")
    out = []
    for pid, text in phr.items():
        register = str(pid).rstrip("0123456789")
        if register not in REGISTERS or not isinstance(text, str) or not text.strip():
            raise ConfigError(
                f"{where}, phrasing '{pid}': the id must start with one of {', '.join(REGISTERS)}"
                " and the text be a sentence"
            )
        out.append(Phrasing(str(pid), register, text.strip()))
    conflicts = entry.get("conflicts") or []
    if not isinstance(conflicts, list):
        raise ConfigError(f"{where}, field 'conflicts': expected a list of constraint family names")
    return StylisticPreference(
        str(entry["name"]),
        str(entry["dimension"]),
        str(entry["subdimension"]),
        tuple(out),
        str(entry["rubric"]),
        str(entry["low"]),
        str(entry["high"]),
        frozenset(str(c) for c in conflicts),
    )


def parse_stylistic(data: Any, source: str) -> list[StylisticPreference]:
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of preferences")
    prefs = [
        _parse(
            e, f"{source}, entry {i + 1}" + (f" ('{e.get('name')}')" if isinstance(e, dict) and e.get("name") else "")
        )
        for i, e in enumerate(data)
    ]
    names = [p.name for p in prefs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"{source}: preference '{dup}' appears twice")
    return prefs


def load_stylistic(*extra: str | Path) -> list[StylisticPreference]:
    """The built-in preferences, then each YAML file in ``extra``; a preference with an existing name replaces it."""
    text = resources.files("safealign.janus.families").joinpath("stylistic.yaml").read_text(encoding="utf-8")
    by_name = {p.name: p for p in parse_stylistic(yaml.safe_load(text), "built-in stylistic preferences")}
    for path in extra:
        data = read_yaml(path, "stylistic preferences file")
        by_name.update({s.name: s for s in parse_stylistic(data, str(path))})
    return list(by_name.values())


def pick_stylistic(
    rng: random.Random, prefs: Iterable[StylisticPreference], constraint_types: Iterable[str] = ()
) -> Optional[tuple[StylisticPreference, str]]:
    """One preference not in conflict with the constraint types, and one of its phrasing ids (None if none fits)."""
    types = set(constraint_types)
    options = [p for p in prefs if not (p.conflicts & types)]
    if not options:
        return None
    pref = options[rng.randrange(len(options))]
    return pref, pref.phrasing_ids()[rng.randrange(len(pref.phrasings))]
