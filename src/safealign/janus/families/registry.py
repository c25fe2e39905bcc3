"""The registry of constraint families: look-up, validation, checking, and which constraints can be combined.

Two families conflict when either names the other in ``conflicts``, they share a slot ("start", "end", "list",
"case", "sentences"), or one is a whole-answer format whose ``only_with`` leaves the other out. Beyond that,
:meth:`Registry.compatible` rejects parameter-level clashes: a verbatim text one constraint needs (a required word,
an opening phrase, JSON keys) that another forbids (a banned word, no commas, all lowercase), and word-count bounds
with an empty intersection (at most 20 words in 5 paragraphs).
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Optional

from safealign.errors import DataError
from safealign.janus.families import characters, edges, formats, layout, length, wording
from safealign.janus.families.spec import Constraint, Family


class Registry:
    def __init__(self, families: Iterable[Family]):
        self.families: dict[str, Family] = {}
        for f in families:
            if f.name in self.families:
                raise ValueError(f"two families are named {f.name!r}")
            ids = [p.id for p in f.phrasings]
            if len(set(ids)) != len(ids):
                raise ValueError(f"family {f.name!r} repeats a phrasing id")
            self.families[f.name] = f
        for f in self.families.values():
            unknown = (f.conflicts | (f.only_with or frozenset())) - set(self.families)
            if unknown:
                raise ValueError(f"family {f.name!r} refers to unknown families {sorted(unknown)}")
        self._conflicts = {
            a: frozenset(b for b in self.families if b != a and self._clash(a, b)) for a in self.families
        }

    def _clash(self, a: str, b: str) -> bool:
        fa, fb = self.families[a], self.families[b]
        if b in fa.conflicts or a in fb.conflicts or fa.slots & fb.slots:
            return True
        return (fa.only_with is not None and b not in fa.only_with) or (
            fb.only_with is not None and a not in fb.only_with
        )

    # ------------------------------------------------------------------ look-up

    @property
    def names(self) -> list[str]:
        return list(self.families)

    def __len__(self) -> int:
        return len(self.families)

    def __contains__(self, name: object) -> bool:
        return name in self.families

    def get(self, name: str) -> Family:
        if name not in self.families:
            raise DataError(f"unknown constraint type {name!r} (known: {', '.join(self.families)})")
        return self.families[name]

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for f in self.families.values():
            out.setdefault(f.group, []).append(f.name)
        return out

    def conflicts_of(self, name: str) -> frozenset[str]:
        """Every family that never combines with ``name`` (symmetric)."""
        return self._conflicts[self.get(name).name]

    def phrasing_ids(self, families: Optional[Iterable[str]] = None) -> list[str]:
        names = self.names if families is None else list(families)
        return [pid for n in names for pid in self.get(n).phrasing_ids()]

    # ------------------------------------------------------------------ checking

    def validate(self, c: Any) -> Constraint:
        if not isinstance(c, dict) or "type" not in c:
            raise DataError(f"a constraint must be a mapping with a 'type', got {c!r}")
        self.get(c["type"])
        return c

    def check(self, response: Optional[str], constraint: Constraint) -> bool:
        c = self.validate(constraint)
        try:
            return self.families[c["type"]].check(response, c)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise DataError(f"bad parameters for constraint {c!r}: {e}") from None

    def check_all(self, response: Optional[str], constraints: Iterable[Constraint]) -> dict[str, bool]:
        """``{type: passed}``; two constraints of one type are both required (their results are ANDed)."""
        out: dict[str, bool] = {}
        for c in constraints:
            ok = self.check(response, c)
            out[c["type"]] = out.get(c["type"], True) and ok
        return out

    # ------------------------------------------------------------------ combining

    def families_compatible(self, names: Iterable[str]) -> bool:
        """No two of ``names`` conflict; a family named twice must be ``repeatable`` (two required-word lists)."""
        for a, b in itertools.combinations(list(names), 2):
            if (a == b and not self.get(a).repeatable) or b in self.conflicts_of(a):
                return False
        return True

    def compatible(self, constraints: list[Constraint]) -> bool:
        """True when one answer can meet every constraint as far as the declared rules can tell."""
        for c in constraints:
            self.validate(c)
        if not self.families_compatible(c["type"] for c in constraints):
            return False
        fams = [self.families[c["type"]] for c in constraints]
        for (fa, ca), (fb, cb) in itertools.permutations(zip(fams, constraints), 2):
            if fb.allows is None or (fb.case_only and not fa.literal_case_sensitive):
                continue
            if not all(fb.allows(cb, text) for text in fa.literals(ca)):
                return False
        bounds = [f.word_bounds(c) for f, c in zip(fams, constraints)]
        return max((lo for lo, _ in bounds), default=0) <= min((hi for _, hi in bounds), default=float("inf"))


REGISTRY = Registry(
    (*length.FAMILIES, *layout.FAMILIES, *formats.FAMILIES, *wording.FAMILIES, *edges.FAMILIES, *characters.FAMILIES)
)
# Today's constraint types (safealign.janus.adherence), kept with the same names and parameter keys.
LEGACY_TYPES = (
    "max_words",
    "min_words",
    "bullet_count",
    "numbered_list",
    "json_output",
    "required_words",
    "forbidden_words",
    "ends_with",
    "starts_with",
    "language",
    "all_lowercase",
    "no_commas",
)


def check_constraint(response: Optional[str], constraint: Constraint) -> bool:
    return REGISTRY.check(response, constraint)


def check_all(response: Optional[str], constraints: Iterable[Constraint]) -> dict[str, bool]:
    """``{type: passed}`` for every constraint, today's dicts from adherence.py included unchanged."""
    return REGISTRY.check_all(response, constraints)


def validate_constraint(c: Any) -> Constraint:
    return REGISTRY.validate(c)


def describe(constraint: Constraint, phrasing_id: str = "terse") -> str:
    """The sentence stating a constraint in the given phrasing."""
    c = REGISTRY.validate(constraint)
    return REGISTRY.get(c["type"]).phrase(c, phrasing_id)
