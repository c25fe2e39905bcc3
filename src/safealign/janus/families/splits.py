"""Train / held-out splits for measuring generalisation: by family, by phrasing and by combination.

The rule is the same everywhere and depends on nothing but the seed and the names: every unit (a family, a
group, a phrasing id, a pair of families) gets the key ``sha256(f"{seed}:{unit}")``; units are ranked by key and the
first ``round(fraction * count)`` (at least one when the fraction is above 0, never all) are held out. The same
seed always gives the same split, whatever order the registry lists its families in; lists keep the registry's order.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Iterable, Optional

from safealign.errors import ConfigError
from safealign.janus.families.registry import REGISTRY, Registry
from safealign.janus.families.spec import REGISTERS


def _rank(seed: int, units: Iterable[str]) -> list[str]:
    return sorted(units, key=lambda u: hashlib.sha256(f"{seed}:{u}".encode()).hexdigest())


def _how_many(fraction: float, total: int) -> int:
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"held_out_fraction must be in [0, 1), got {fraction}")
    return 0 if fraction == 0 else min(total - 1, max(1, round(fraction * total)))


def split_families(
    seed: int, held_out_fraction: float = 0.25, unit: str = "family", registry: Registry = REGISTRY
) -> tuple[list[str], list[str]]:
    """``(train families, held-out families)``.

    ``unit="family"``: families are ranked and held out one by one. ``unit="group"``: whole groups (all JSON shapes,
    all casing rules, ...) are ranked and held out until at least the fraction of families is reached, so the
    held-out side has no near relative in training.
    """
    names = registry.names
    n = _how_many(held_out_fraction, len(names))
    if unit == "family":
        held = set(_rank(seed, names)[:n])
    elif unit == "group":
        held = set()
        groups = registry.groups()
        for g in _rank(seed, groups):
            if len(held) >= n:
                break
            held.update(groups[g])
    else:
        raise ConfigError(f"unit must be 'family' or 'group', got {unit!r}")
    return [x for x in names if x not in held], [x for x in names if x in held]


def split_phrasings(
    seed: int,
    held_out_fraction: float = 0.2,
    families: Optional[Iterable[str]] = None,
    register: Optional[str] = None,
    registry: Registry = REGISTRY,
) -> tuple[list[str], list[str]]:
    """``(train phrasing ids, held-out phrasing ids)`` over ``families`` (default: all).

    Per family, its phrasings are ranked and ``round(fraction * count)`` held out (at least one, never all), so every
    family keeps seen and unseen wordings. ``register="persona"`` instead holds out every phrasing of that register:
    the model never sees that way of stating any family.
    """
    names = registry.names if families is None else list(families)
    train, held = [], []
    for name in names:
        fam = registry.get(name)
        ids = fam.phrasing_ids()
        if register is not None:
            if register not in REGISTERS:
                raise ConfigError(f"register must be one of {', '.join(REGISTERS)}, got {register!r}")
            out = {f"{name}/{p.id}" for p in fam.phrasings if p.register == register}
            if len(out) == len(ids):
                raise ConfigError(f"holding out register {register!r} would leave family {name!r} no phrasing")
        else:
            out = set(_rank(seed, ids)[: _how_many(held_out_fraction, len(ids))])
        train += [i for i in ids if i not in out]
        held += [i for i in ids if i in out]
    return train, held


def compatible_pairs(families: Optional[Iterable[str]] = None, registry: Registry = REGISTRY) -> list[frozenset[str]]:
    names = registry.names if families is None else [n for n in registry.names if n in set(families)]
    return [frozenset(p) for p in itertools.combinations(names, 2) if registry.families_compatible(p)]


def split_pairs(
    seed: int, held_out_fraction: float = 0.2, families: Optional[Iterable[str]] = None, registry: Registry = REGISTRY
) -> tuple[list[frozenset[str]], list[frozenset[str]]]:
    """``(train pairs, held-out pairs)`` of compatible families: combinations never seen together in training.

    Pass the train pairs as ``pairs=`` when sampling training messages and the held-out pairs (with
    ``n_constraints=2``) for the evaluation of unseen combinations.
    """
    pairs = compatible_pairs(families, registry)
    key = {"+".join(sorted(p)): p for p in pairs}
    held = {key[k] for k in _rank(seed, key)[: _how_many(held_out_fraction, len(pairs))]}
    return [p for p in pairs if p not in held], [p for p in pairs if p in held]
