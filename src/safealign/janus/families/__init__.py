"""A broad taxonomy of verifiable system-message preferences (constraint families) and non-verifiable ones.

- :data:`REGISTRY` holds the families (``REGISTRY.groups()`` lists them by group); each family is a declarative
  :class:`Family`: parameter space, checker, phrasings with ids and registers, conflicts.
- :func:`check_all` / :func:`check_constraint` decide constraints, today's dicts from
  ``safealign.janus.adherence`` included unchanged.
- :func:`sample_system_message` / :func:`sample_system` combine 1-3 compatible constraints into a system message,
  restricted to given families, phrasing ids or family pairs for the generalisation splits of
  :func:`split_families`, :func:`split_phrasings` and :func:`split_pairs`.
- :func:`load_stylistic` loads the preferences a rubric judge grades; :func:`statistics` sizes the space.
"""

from safealign.janus.families.compose import SampledSystem, sample_system, sample_system_message
from safealign.janus.families.registry import (
    LEGACY_TYPES,
    REGISTRY,
    Registry,
    check_all,
    check_constraint,
    describe,
    validate_constraint,
)
from safealign.janus.families.spec import REGISTERS, Constraint, Family, Phrasing
from safealign.janus.families.splits import compatible_pairs, split_families, split_pairs, split_phrasings
from safealign.janus.families.stats import statistics
from safealign.janus.families.stylistic import StylisticPreference, load_stylistic, pick_stylistic

__all__ = [
    "Constraint",
    "Family",
    "LEGACY_TYPES",
    "Phrasing",
    "REGISTERS",
    "REGISTRY",
    "Registry",
    "SampledSystem",
    "StylisticPreference",
    "check_all",
    "check_constraint",
    "compatible_pairs",
    "describe",
    "load_stylistic",
    "pick_stylistic",
    "sample_system",
    "sample_system_message",
    "split_families",
    "split_pairs",
    "split_phrasings",
    "statistics",
    "validate_constraint",
]
