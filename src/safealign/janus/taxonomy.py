"""The Janus preference taxonomy (dimension -> subdimension -> preference), preference-set sampling and
verbalisation of a preference set into one persona-like system message.

The built-in taxonomy ships as ``taxonomy.yaml`` next to this module (the paper's four dimensions: style,
background_knowledge, informativeness, harmlessness). Users extend it with YAML files of the same shape::

    style:
      tone:
        - {preference: pirate voice, description: "Talks like a pirate.",
           constraints: [{type: ends_with, text: "Arr!"}]}

Everything here is deterministic under a seed: the same seed gives the same preference sets and the same text.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from safealign.data.records import Preference
from safealign.errors import ConfigError
from safealign.janus.adherence import Constraint, describe_constraint, validate_constraint
from safealign.janus.families import REGISTRY

DIMENSIONS = ("style", "background_knowledge", "informativeness", "harmlessness")


@dataclass
class TaxonomyEntry:
    preference: Preference
    constraints: list[Constraint] = field(default_factory=list)


@dataclass
class Taxonomy:
    # dimension -> subdimension -> entries
    tree: dict[str, dict[str, list[TaxonomyEntry]]]

    @property
    def dimensions(self) -> list[str]:
        return list(self.tree)

    def entries(self) -> list[TaxonomyEntry]:
        return [e for subs in self.tree.values() for es in subs.values() for e in es]

    def __len__(self) -> int:
        return len(self.entries())

    @classmethod
    def from_dict(cls, data: Any, source: str = "taxonomy") -> "Taxonomy":
        tax = cls({})
        tax.extend(data, source)
        return tax

    def extend(self, data: Any, source: str = "taxonomy") -> "Taxonomy":
        """Add dimensions/subdimensions/preferences; a preference with an existing label replaces it."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping dimension -> subdimension -> list of preferences")
        for dim, subs in data.items():
            if not isinstance(subs, dict):
                raise ConfigError(f"{source}: dimension '{dim}' must map subdimensions to lists of preferences")
            for sub, prefs in subs.items():
                if not isinstance(prefs, list):
                    raise ConfigError(f"{source}: {dim}.{sub} must be a list of preferences")
                bucket = self.tree.setdefault(str(dim), {}).setdefault(str(sub), [])
                for i, p in enumerate(prefs):
                    if isinstance(p, str):
                        p = {"preference": p}
                    if not isinstance(p, dict) or not p.get("preference"):
                        raise ConfigError(f"{source}: {dim}.{sub}[{i}] needs a 'preference' label")
                    try:
                        cons = [validate_constraint(dict(c)) for c in p.get("constraints") or []]
                    except Exception as e:  # DataError from validation, TypeError from a non-mapping
                        raise ConfigError(f"{source}: {dim}.{sub}[{i}]: {e}") from None
                    entry = TaxonomyEntry(
                        Preference(str(dim), str(sub), str(p["preference"]), str(p.get("description", ""))), cons
                    )
                    bucket[:] = [e for e in bucket if e.preference.preference != entry.preference.preference]
                    bucket.append(entry)
        return self

    def constraints_for(self, preference_set: Iterable[Preference]) -> list[Constraint]:
        index = {
            (e.preference.dimension, e.preference.subdimension, e.preference.preference): e.constraints
            for e in self.entries()
        }
        out: list[Constraint] = []
        for p in preference_set:
            out.extend(index.get((p.dimension, p.subdimension, p.preference), []))
        return out

    def sample_preference_set(
        self, rng: random.Random, with_constraints: Optional[bool] = None, max_tries: int = 200
    ) -> list[Preference]:
        """One preference per dimension (uniform over subdimensions, then preferences), with no conflicting constraints.

        ``with_constraints``: True = only sets with at least one checkable constraint; False = only sets without;
        None = either.
        """
        for _ in range(max_tries):
            chosen = []
            for dim, subs in self.tree.items():
                nonempty = [s for s in subs if subs[s]]
                if not nonempty:
                    continue
                sub = rng.choice(sorted(nonempty))
                chosen.append(rng.choice(subs[sub]))
            cons = [c for e in chosen for c in e.constraints]
            if with_constraints is True and not cons:
                continue
            if with_constraints is False and cons:
                continue
            if constraints_conflict(cons):
                continue
            return [e.preference for e in chosen]
        raise ConfigError("could not sample a preference set without conflicting constraints; check the taxonomy")


def constraints_conflict(constraints: list[Constraint]) -> bool:
    """True when two constraints cannot both hold (e.g. max 40 and min 80 words, JSON and a bulleted list).

    The rule is the families registry's (:meth:`safealign.janus.families.Registry.compatible`): shared slots,
    declared conflicts, whole-answer formats, verbatim texts another constraint forbids, empty word-count ranges.
    """
    return not REGISTRY.compatible(list(constraints))


def load_taxonomy(*extra: str | Path) -> Taxonomy:
    """The built-in taxonomy, extended by each YAML file in ``extra`` in order."""
    text = resources.files("safealign.janus").joinpath("taxonomy.yaml").read_text(encoding="utf-8")
    tax = Taxonomy.from_dict(yaml.safe_load(text), "built-in taxonomy")
    for path in extra:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"taxonomy file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
        tax.extend(data, str(p))
    return tax


# ---------------------------------------------------------------- verbalisation

_OPENERS = (
    "You are an assistant for {audience}.",
    "You are a helpful assistant talking with {audience}.",
    "Act as a knowledgeable guide for {audience}.",
)
_AUDIENCE = {
    "novice": "someone with no background in the topic",
    "basic": "a reader who knows the basics",
    "intermediate": "a reader with some technical background",
    "advanced": "an advanced reader",
    "expert": "an expert in the field",
}
_DIM_FRAMES = {
    "style": ("Style: {d}", "In terms of style, the user prefers this: {d}", "Write with this style in mind: {d}"),
    "background_knowledge": ("The user's background: {d}", "Keep the user's knowledge in mind: {d}"),
    "informativeness": (
        "Content: {d}",
        "For the content of the answer: {d}",
        "What the user values in the content: {d}",
    ),
    "harmlessness": ("Values: {d}", "Always remember: {d}", "Be responsible: {d}"),
}


def _seeded_rng(seed: int, preference_set: list[Preference]) -> random.Random:
    key = f"{seed}|" + "|".join(f"{p.dimension}/{p.subdimension}/{p.preference}" for p in preference_set)
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def verbalize(preference_set: list[Preference], seed: int = 0, constraints: Optional[list[Constraint]] = None) -> str:
    """One persona-like system message stating every preference (and every constraint, verbatim).

    Deterministic in (seed, preference set): the template choice comes from a hash of both, not global state.
    """
    rng = _seeded_rng(seed, preference_set)
    bk = next((p for p in preference_set if p.dimension == "background_knowledge"), None)
    audience = _AUDIENCE.get(bk.subdimension, "the user") if bk else "the user"
    parts = [rng.choice(_OPENERS).format(audience=audience)]
    for p in preference_set:
        desc = p.description or p.preference
        frames = _DIM_FRAMES.get(p.dimension, ("{d}",))
        parts.append(
            _sentence(
                rng.choice(frames).format(
                    d=desc[0].lower() + desc[1:] if desc[:1].isupper() and not desc[:2].isupper() else desc
                )
            )
        )
    for c in constraints or []:
        parts.append(describe_constraint(c))
    return " ".join(parts)
