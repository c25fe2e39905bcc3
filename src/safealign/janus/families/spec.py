"""The declarative shape of a constraint family: its parameter space, its checker and the sentences that state it.

A *family* is one kind of verifiable preference ("at most n words", "a JSON object with these keys"). A
*constraint* is one family with its parameters, as a plain dict: ``{"type": "max_words", "value": 60}``.

Parameters come from ``space``: a tuple of :class:`Axis`, each a list of choices for one key (or for several keys
chosen together, e.g. a word range's ``min`` and ``max``). Sampling picks one choice per axis; the number of
distinct settings is the product of the axes' sizes, so statistics are exact rather than estimated.

Each :class:`Phrasing` is a template with an id and a register (terse, polite, persona, rule, pref), filled with
the fields ``Family.fields`` derives from the parameters. Its global id is ``"<family>/<id>"``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, Optional

from safealign.errors import DataError

Constraint = dict[str, Any]
REGISTERS = ("terse", "polite", "persona", "rule", "pref")
_NONE = object()


@dataclass(frozen=True)
class Axis:
    """Choices for one key, or for several keys at once (then every choice is a tuple, one value per key)."""

    keys: tuple[str, ...]
    choices: tuple[Any, ...]

    def draw(self, rng: random.Random) -> dict[str, Any]:
        pick = self.choices[rng.randrange(len(self.choices))]
        values = pick if len(self.keys) > 1 else (pick,)
        return {k: _plain(v) for k, v in zip(self.keys, values) if v is not None and v != ()}


def axis(key: str, choices: Any) -> Axis:
    return Axis((key,), tuple(choices))


def joint(keys: tuple[str, ...], choices: Any) -> Axis:
    return Axis(tuple(keys), tuple(tuple(c) for c in choices))


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


@dataclass(frozen=True)
class Phrasing:
    id: str
    register: str
    template: str


def param(c: Constraint, *names: str, default: Any = _NONE) -> Any:
    """The first of ``names`` (then the generic ``value``) present in the constraint; DataError when none is."""
    for n in (*names, "value"):
        if c.get(n) is not None:
            return c[n]
    if default is _NONE:
        raise DataError(f"constraint {c.get('type')!r} needs '{names[0] if names else 'value'}'")
    return default


def count(c: Constraint, *names: str, default: Any = _NONE) -> int:
    v = param(c, *names, default=default)
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise DataError(f"constraint {c.get('type')!r}: {v!r} is not a number")
    try:
        return int(v)
    except ValueError:
        raise DataError(f"constraint {c.get('type')!r}: {v!r} is not a number") from None


def word_list(c: Constraint, *names: str) -> list[str]:
    v = param(c, *names)
    return [v] if isinstance(v, str) else [str(x) for x in v]


def _no_fields(params: Constraint) -> dict[str, Any]:
    return {}


def _no_literals(params: Constraint) -> list[str]:
    return []


def _any_length(params: Constraint) -> tuple[float, float]:
    return (0, math.inf)


@dataclass(frozen=True)
class Family:
    """One kind of verifiable preference.

    ``check(response, constraint)`` decides it; ``fields(constraint)`` gives the template fields;
    ``conflicts`` names families it never combines with (the relation is made symmetric by the registry), and
    families sharing one of its ``slots`` ("start", "end", "list", ...) never combine either;
    ``only_with``, when set, is the complete list of families it may combine with (for whole-answer formats such
    as JSON); ``literals(constraint)`` is text the answer must contain verbatim (checked against the other
    constraints' ``allows``); ``allows(constraint, text)`` says whether such a text can appear in an answer that
    meets this constraint; ``case_only`` marks families that constrain letter case alone, which literals
    matched case-insensitively (``literal_case_sensitive=False``) never collide with; ``word_bounds(constraint)``
    is the (min, max) number of words an answer meeting it can have, used to reject e.g. 20 words in 5 paragraphs;
    ``repeatable`` families may appear twice in one message (two lists of required words), the others may not.
    """

    name: str
    group: str
    space: tuple[Axis, ...]
    checker: Callable[[str, Constraint], bool]
    phrasings: tuple[Phrasing, ...]
    fields: Callable[[Constraint], dict[str, Any]] = _no_fields
    conflicts: frozenset[str] = frozenset()
    slots: frozenset[str] = frozenset()
    only_with: Optional[frozenset[str]] = None
    literals: Callable[[Constraint], list[str]] = _no_literals
    literal_case_sensitive: bool = False
    allows: Optional[Callable[[Constraint, str], bool]] = None
    case_only: bool = False
    word_bounds: Callable[[Constraint], tuple[float, float]] = _any_length
    repeatable: bool = False
    summary: str = ""

    def __post_init__(self) -> None:
        for name in ("conflicts", "slots", "only_with"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, frozenset):
                object.__setattr__(self, name, frozenset([value] if isinstance(value, str) else value))
        if len(self.phrasings) < 4:
            raise ValueError(f"family {self.name!r} needs at least 4 phrasings, has {len(self.phrasings)}")

    def sample(self, rng: random.Random) -> Constraint:
        params: Constraint = {"type": self.name}
        for ax in self.space:
            params.update(ax.draw(rng))
        return params

    @property
    def n_settings(self) -> int:
        return math.prod(len(ax.choices) for ax in self.space)

    def check(self, response: Optional[str], params: Constraint) -> bool:
        return bool(self.checker(response or "", params))

    def phrasing(self, phrasing_id: str) -> Phrasing:
        local = phrasing_id.split("/", 1)[1] if "/" in phrasing_id else phrasing_id
        for p in self.phrasings:
            if p.id == local:
                return p
        raise KeyError(f"family {self.name!r} has no phrasing {phrasing_id!r}")

    def phrase(self, params: Constraint, phrasing_id: str = "terse") -> str:
        """The sentence stating ``params`` in the given phrasing."""
        return self.phrasing(phrasing_id).template.format(**self.fields(params))

    def phrasing_ids(self) -> list[str]:
        return [f"{self.name}/{p.id}" for p in self.phrasings]


def phrasings(**templates: str) -> tuple[Phrasing, ...]:
    """``phrasings(terse="...", polite="...")``: the id is the keyword; an id ``polite2`` has register ``polite``."""
    out = []
    for pid, text in templates.items():
        register = pid.rstrip("0123456789")
        if register not in REGISTERS:
            raise ValueError(f"phrasing id {pid!r} must start with one of {REGISTERS}")
        out.append(Phrasing(pid, register, text))
    return tuple(out)


def quoted(items: list[str], conj: str = "and") -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b' and 'c'``."""
    q = [f"'{x}'" for x in items]
    return q[0] if len(q) == 1 else ", ".join(q[:-1]) + f" {conj} " + q[-1]


def plural(n: int, noun: str, plural_form: str = "") -> str:
    """``1 sentence``, ``3 sentences`` (``plural_form`` for irregular nouns)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural_form or noun + 's'}"


def counted(noun: str, *names: str) -> Callable[[Constraint], dict[str, Any]]:
    """Template fields of a family with one count: ``{n}`` and ``{n_<noun>s}`` (e.g. ``{n_sentences}``)."""

    def fields(c: Constraint) -> dict[str, Any]:
        n = count(c, *names)
        return {"n": n, f"n_{noun.replace(' ', '_')}s": plural(n, noun)}

    return fields


def at_least(n_of: Callable[[Constraint], float]) -> Callable[[Constraint], tuple[float, float]]:
    """Word bounds of a family whose answer needs at least ``n_of(constraint)`` words."""
    return lambda c: (n_of(c), math.inf)
