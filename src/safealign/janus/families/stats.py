"""How big the space of system messages is: families, phrasings, settings, combinations, distinct messages.

``message_upper_bound`` counts, over every set of 1-3 mutually compatible families, the ways to state it: each
family's parameter settings times its phrasings, the orders, the layouts and the preambles, with a persona-register
phrasing opening the message in place of a preamble (as ``compose`` does). It ignores parameter-level clashes (a
banned word that another constraint requires), so it is an upper bound; the number of distinct messages in a sample
of ``samples`` draws is measured, not estimated.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Iterable, Optional

from safealign.janus.families.compose import LAYOUTS, PREAMBLES, RULE_HEADERS, sample_system
from safealign.janus.families.registry import REGISTRY, Registry
from safealign.janus.families.spec import REGISTERS


def _layout_variants(k: int) -> int:
    """Texts k statements can be laid out as: one (prose) up to one statement, then also one per line, and a bulleted
    or numbered list under one of the headers."""
    return 1 if k <= 1 else 2 + (len(LAYOUTS) - 2) * len(RULE_HEADERS)


def _messages(plain: list[int], persona: list[int]) -> int:
    """Messages from one set of families, each with ``plain`` (settings x non-persona phrasings) and ``persona``
    (settings x persona phrasings) ways to be stated: without a persona, any order, layout and preamble (or none);
    with one constraint as the persona, it opens the message and the others take any order and layout."""
    k = len(plain)
    total = math.prod(plain) * math.factorial(k) * _layout_variants(k) * (len(PREAMBLES) + 1)
    for i, p in enumerate(persona):
        rest = plain[:i] + plain[i + 1 :]
        total += p * math.prod(rest) * math.factorial(k - 1) * _layout_variants(k - 1)
    return total


def statistics(
    registry: Registry = REGISTRY,
    families: Optional[Iterable[str]] = None,
    phrasing_ids: Optional[Iterable[str]] = None,
    samples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    names = registry.names if families is None else [n for n in registry.names if n in set(families)]
    allowed = None if phrasing_ids is None else set(phrasing_ids)
    n_phr = {n: sum(allowed is None or pid in allowed for pid in registry.get(n).phrasing_ids()) for n in names}
    names = [n for n in names if n_phr[n]]
    settings = {n: registry.get(n).n_settings for n in names}
    persona = {
        n: sum(
            p.register == "persona" and (allowed is None or f"{n}/{p.id}" in allowed) for p in registry.get(n).phrasings
        )
        for n in names
    }
    sets = {k: [s for s in itertools.combinations(names, k) if registry.families_compatible(s)] for k in (1, 2, 3)}
    bound = sum(
        _messages([settings[n] * (n_phr[n] - persona[n]) for n in s], [settings[n] * persona[n] for n in s])
        for ss in sets.values()
        for s in ss
    )
    rng = random.Random(seed)
    texts = {sample_system(rng, families=names, phrasing_ids=allowed, registry=registry).text for _ in range(samples)}
    registers = {r: sum(p.register == r for n in names for p in registry.get(n).phrasings) for r in REGISTERS}
    return {
        "families": len(names),
        "groups": {g: [n for n in ns if n in names] for g, ns in registry.groups().items() if set(ns) & set(names)},
        "phrasings": sum(n_phr.values()),
        "phrasings_per_family": {"min": min(n_phr[n] for n in names), "max": max(n_phr[n] for n in names)},
        "phrasings_per_register": registers,
        "parameter_settings": sum(registry.get(n).n_settings for n in names),
        "compatible_pairs": len(sets[2]),
        "compatible_triples": len(sets[3]),
        "message_upper_bound": bound,
        "samples": samples,
        "distinct_in_sample": len(texts),
    }
