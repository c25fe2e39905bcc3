"""System messages that combine 1-3 compatible constraints, each stated in one of its phrasings.

``sample_system(rng, ...)`` draws the number of constraints, then families one by one (uniformly among those still
compatible with the ones drawn), then parameters (re-drawn up to a few times when they clash), then a phrasing per
constraint, a layout (one paragraph, one line each, a bulleted or numbered rule list) and, optionally, a persona
preamble. A constraint stated in the persona register ("You are a laconic assistant: ...") is the message's persona:
it opens the message, no other preamble is added and the other constraints avoid the persona register.
Everything comes from ``rng``: the same seed gives the same messages.

Restrictions make the generalisation splits: ``families`` (leave-families-out), ``phrasing_ids`` (unseen
phrasings: only these global ids ``"<family>/<id>"`` are used) and ``pairs`` (unseen combinations: every two
families in one message must form an allowed pair).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from safealign.errors import ConfigError
from safealign.janus.families.registry import REGISTRY, Registry
from safealign.janus.families.spec import Constraint
from safealign.janus.families.stylistic import StylisticPreference, pick_stylistic

PREAMBLES = (
    "You are a helpful assistant.",
    "You are Mira, a patient tutor for curious students.",
    "You are the support assistant of a small bicycle shop.",
    "You are a research librarian who answers questions from the public.",
    "You are an assistant inside a note-taking app.",
    "You help busy professionals get things done.",
    "You are Orion, a friendly science explainer.",
    "You are a travel desk assistant for a family-run hotel.",
    "You are the in-house helper of a cooking website.",
    "You are a careful assistant for a community health clinic's front desk.",
    "You are Kit, a cheerful assistant for a garden centre.",
    "Act as a concise technical assistant.",
)
LAYOUTS = ("prose", "lines", "bullets", "numbered")
RULE_HEADERS = ("Rules for every answer:", "Follow these instructions:", "Answer requirements:", "Formatting rules:")


@dataclass
class SampledSystem:
    text: str
    constraints: list[Constraint]
    phrasing_ids: list[str]
    preamble: Optional[str] = None
    layout: str = "prose"
    stylistic: list[str] = field(default_factory=list)  # phrasing ids of the non-verifiable preferences stated


def _n_range(n_constraints: int | tuple[int, int]) -> tuple[int, int]:
    lo, hi = (n_constraints, n_constraints) if isinstance(n_constraints, int) else n_constraints
    if not 1 <= lo <= hi:
        raise ConfigError(
            f"n_constraints must be a number >= 1 or a range (lo, hi) with 1 <= lo <= hi, got {n_constraints!r}"
        )
    return lo, hi


def _pair_key(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


def _draw_constraints(
    rng: random.Random,
    k: int,
    pool: list[str],
    pairs: Optional[set[frozenset[str]]],
    registry: Registry,
    param_tries: int = 8,
) -> Optional[list[Constraint]]:
    chosen: list[Constraint] = []
    for _ in range(k):
        names = [c["type"] for c in chosen]
        options = [
            f
            for f in pool
            if f not in names
            and registry.families_compatible([*names, f])
            and (pairs is None or all(_pair_key(f, n) in pairs for n in names))
        ]
        if not options:
            return None
        fam = registry.get(options[rng.randrange(len(options))])
        for _ in range(param_tries):
            c = fam.sample(rng)
            if registry.compatible([*chosen, c]):
                chosen.append(c)
                break
        else:
            return None
    return chosen


def _layout(rng: random.Random, preamble: Optional[str], sentences: list[str]) -> tuple[str, str]:
    if not sentences:
        return "prose", preamble or ""
    layout = LAYOUTS[rng.randrange(len(LAYOUTS))] if len(sentences) > 1 else "prose"
    if layout == "prose":
        body = " ".join(sentences)
    elif layout == "lines":
        body = "\n".join(sentences)
    else:
        marks = [f"{i}." for i in range(1, len(sentences) + 1)] if layout == "numbered" else ["-"] * len(sentences)
        body = rng.choice(RULE_HEADERS) + "\n" + "\n".join(f"{m} {s}" for m, s in zip(marks, sentences))
    if preamble is None:
        return layout, body
    return layout, preamble + ("\n\n" if layout in ("bullets", "numbered") else " ") + body


def sample_system(
    rng: random.Random,
    n_constraints: int | tuple[int, int] = (1, 3),
    families: Optional[Iterable[str]] = None,
    phrasing_ids: Optional[Iterable[str]] = None,
    pairs: Optional[Iterable[Iterable[str]]] = None,
    preamble_prob: float = 0.7,
    stylistic: Sequence[StylisticPreference] = (),
    stylistic_prob: float = 0.0,
    registry: Registry = REGISTRY,
    max_tries: int = 100,
) -> SampledSystem:
    """One system message with its constraints (see the module docstring for the restrictions).

    With probability ``stylistic_prob`` one of the ``stylistic`` (non-verifiable) preferences that does not conflict
    with the constraints is stated after them; a rubric judge grades it, the checkers do not.
    ConfigError when the restrictions leave no way to combine the asked number of constraints.
    """
    lo, hi = _n_range(n_constraints)
    allowed_ids = None if phrasing_ids is None else set(phrasing_ids)
    wanted = None if families is None else set(families)
    if wanted is not None and wanted - set(registry.names):
        raise ConfigError(f"unknown constraint families: {', '.join(sorted(wanted - set(registry.names)))}")
    pool = [n for n in registry.names if wanted is None or n in wanted]
    if allowed_ids is not None:
        pool = [n for n in pool if any(pid in allowed_ids for pid in registry.get(n).phrasing_ids())]
    pair_set = None if pairs is None else {frozenset(p) for p in pairs}
    chosen = None
    for _ in range(max_tries if len(pool) >= lo else 0):
        chosen = _draw_constraints(rng, rng.randint(lo, min(hi, len(pool))), pool, pair_set, registry)
        if chosen:
            break
    if not chosen:
        raise ConfigError(
            f"cannot combine {lo}-{hi} compatible constraints from the families {', '.join(pool) or '(none left)'}"
        )
    ids, sentences, persona = [], [], None
    for c in chosen:
        fam = registry.get(c["type"])
        options = [pid for pid in fam.phrasing_ids() if allowed_ids is None or pid in allowed_ids]
        if persona is not None:  # one persona per message: it opens the message, the rest are plain statements
            options = [pid for pid in options if fam.phrasing(pid).register != "persona"] or options
        pid = options[rng.randrange(len(options))]
        ids.append(pid)
        if persona is None and fam.phrasing(pid).register == "persona":
            persona = fam.phrase(c, pid)
        else:
            sentences.append(fam.phrase(c, pid))
    extra = (
        pick_stylistic(rng, stylistic, [c["type"] for c in chosen])
        if stylistic and rng.random() < stylistic_prob
        else None
    )
    if extra:
        sentences.append(extra[0].phrase(extra[1]))
    preamble = persona or (PREAMBLES[rng.randrange(len(PREAMBLES))] if rng.random() < preamble_prob else None)
    layout, text = _layout(rng, preamble, sentences)
    return SampledSystem(text, chosen, ids, preamble, layout, [extra[1]] if extra else [])


def sample_system_message(
    rng: random.Random,
    n_constraints: int | tuple[int, int] = (1, 3),
    families: Optional[Iterable[str]] = None,
    phrasing_ids: Optional[Iterable[str]] = None,
    **kwargs,
) -> tuple[str, list[Constraint]]:
    """``(system message text, constraint dicts)``; see :func:`sample_system` for every option."""
    s = sample_system(rng, n_constraints, families, phrasing_ids, **kwargs)
    return s.text, s.constraints
