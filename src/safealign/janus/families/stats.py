"""How big the space of system messages is: families, phrasings, settings, combinations, distinct messages.

``message_upper_bound`` counts, over every set of 1-3 mutually compatible families, the product of each family's
parameter settings and phrasings, times the orders they can be stated in, the layouts and the preambles. It ignores
parameter-level clashes (a banned word that another constraint requires), so it is an upper bound; the number of
distinct messages in a sample of ``samples`` draws is measured, not estimated.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Iterable, Optional

from safealign.janus.families.compose import LAYOUTS, PREAMBLES, sample_system
from safealign.janus.families.registry import REGISTRY, Registry
from safealign.janus.families.spec import REGISTERS

_RULE_HEADER_COUNT = 4  # compose._RULE_HEADERS: a bulleted or numbered rule list opens with one of them


def _layout_variants(k: int) -> int:
    """prose, lines, and (from two constraints on) a bulleted or numbered list under one of the headers."""
    return 2 if k == 1 else 2 + (len(LAYOUTS) - 2) * _RULE_HEADER_COUNT


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
    weight = {n: registry.get(n).n_settings * n_phr[n] for n in names}
    sets = {k: [s for s in itertools.combinations(names, k) if registry.families_compatible(s)] for k in (1, 2, 3)}
    bound = sum(
        math.prod(weight[n] for n in s) * math.factorial(k) * _layout_variants(k) for k, ss in sets.items() for s in ss
    ) * (len(PREAMBLES) + 1)
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
