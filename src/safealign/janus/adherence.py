"""Judge-free system-message adherence: constraints a system message can state, checked by code.

A constraint is a dict with a ``type`` and its parameter(s)::

    {"type": "max_words", "value": 60}          {"type": "required_words", "words": ["kettle"]}
    {"type": "bullet_count", "value": 3}        {"type": "language", "language": "fr"}
    {"type": "ends_with", "text": "-- Captain Byte"}

The types are the constraint families of :mod:`safealign.janus.families` (``CONSTRAINT_TYPES``, 44 of them; the
12 first types of this module -- max_words, min_words, bullet_count, numbered_list, json_output, required_words,
forbidden_words, ends_with, starts_with, language, all_lowercase, no_commas -- keep their names and parameter keys).
This module is the evaluation side: it delegates every verdict to the families registry, so the checkers that score
answers are the ones the synthesized data was built against.

``check_adherence(response, constraints)`` -> ``{type: bool}``; ``adherence_score(responses, constraint_lists)``
-> overall and per-constraint pass rates (in percent). ``describe_constraint`` states a constraint in one of its
family's phrasings (``terse`` by default), so that system messages and checkers never drift apart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from safealign.backends.config import BackendConfig
from safealign.config import help_field
from safealign.janus.families import REGISTRY, describe
from safealign.janus.families.spec import Constraint
from safealign.janus.families.text import LANGUAGE_NAMES, detect_language, words

__all__ = [
    "CHECKERS", "CONSTRAINT_TYPES", "Constraint", "LANGUAGE_NAMES", "adherence_score", "check_adherence",
    "check_constraint", "describe_constraint", "detect_language", "evaluate_adherence", "validate_constraint",
    "words",
]

@dataclass
class JanusEvalConfig(BackendConfig):
    """What Janus' evaluations share: the model that answers, greedy by default, and where the rows go."""

    max_new_tokens: int = help_field(128, "Answer length limit (tokens).", min=1)
    temperature: float = help_field(0.0, "Sampling temperature (0 = greedy).", min=0.0)
    batch_size: int = help_field(8, "Local generation batch size.", min=1)
    max_items: Optional[int] = help_field(None, "Evaluate only the first N items.")
    output: Optional[str] = help_field(None, "Write per-item results as JSONL here (a JSON report goes next to it).")


@dataclass
class AdherenceEvalConfig(JanusEvalConfig):
    """Judge-free system-message adherence (+ optional safety under attack system messages)."""

    data: str = help_field(
        "demo:system_test",
        "Held-out system messages with constraints: 'demo:<name>' or JSONL with system, prompt, constraints.",
    )
    attack_data: Optional[str] = help_field(
        None, "Also measure safety on attack system messages: 'demo:system_attacks' or a JSONL of prompt+system."
    )
    guard: Optional[str] = help_field(
        None, "Saved guard folder used to judge attack answers (default: refusal detector, a proxy)."
    )


CHECKERS: dict[str, Callable[[str, Constraint], bool]] = {n: f.check for n, f in REGISTRY.families.items()}
CONSTRAINT_TYPES = tuple(REGISTRY.names)


def validate_constraint(c: Any) -> Constraint:
    """The constraint itself when it is a mapping with a known ``type``; DataError otherwise."""
    return REGISTRY.validate(c)


def check_constraint(response: str, constraint: Constraint) -> bool:
    """One verdict; DataError for an unknown type or bad parameters."""
    return REGISTRY.check(response, constraint)


def check_adherence(response: str, constraints: Iterable[Constraint]) -> dict[str, bool]:
    """``{constraint type: passed}``. Two constraints of one type are both required (their results are ANDed)."""
    return REGISTRY.check_all(response, constraints)


def adherence_score(responses: list[str], constraint_lists: list[list[Constraint]]) -> dict[str, Any]:
    """Pass rates in percent.

    ``overall``: constraints passed / constraints checked (micro average); ``strict``: responses that pass all their
    constraints; ``per_constraint``: {type: {"pass_rate", "n"}}; ``n_responses``, ``n_constraints``.
    """
    if len(responses) != len(constraint_lists):
        raise ValueError(f"{len(responses)} responses but {len(constraint_lists)} constraint lists")
    per: dict[str, list[bool]] = defaultdict(list)
    all_pass: list[bool] = []
    for resp, cons in zip(responses, constraint_lists):
        if not cons:
            continue
        res = [check_constraint(resp, c) for c in cons]
        for c, ok in zip(cons, res):
            per[c["type"]].append(ok)
        all_pass.append(all(res))
    flat = [ok for v in per.values() for ok in v]
    pct = lambda xs: round(100.0 * sum(xs) / len(xs), 2) if xs else 0.0  # noqa: E731
    return {
        "overall": pct(flat),
        "strict": pct(all_pass),
        "n_responses": len(all_pass),
        "n_constraints": len(flat),
        "per_constraint": {t: {"pass_rate": pct(v), "n": len(v)} for t, v in sorted(per.items())},
    }


def describe_constraint(c: Constraint, phrasing_id: str = "terse") -> str:
    """The sentence a system message uses to state a constraint (its family's phrasing ``phrasing_id``)."""
    return describe(c, phrasing_id)


def evaluate_adherence(
    backend: Any, records: list[Any], params: Any = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Answer each record's (system, prompt) with ``backend`` and score the answers against ``record.constraints``.

    Returns (report from :func:`adherence_score`, per-row dicts with system, prompt, response, checks).
    Records without constraints are skipped. ``params``: a :class:`~safealign.backends.base.GenerationConfig`
    (default: ``safealign eval adherence``'s).
    """
    recs = [r for r in records if getattr(r, "constraints", None)]
    params = params or AdherenceEvalConfig().generation()
    chats = [
        ([{"role": "system", "content": r.system}] if r.system else []) + [{"role": "user", "content": r.prompt}]
        for r in recs
    ]
    responses = backend.generate(chats, params) if chats else []
    cons = [list(r.constraints) for r in recs]
    report = adherence_score(responses, cons)
    rows = [
        {
            "id": getattr(r, "id", None),
            "system": r.system,
            "prompt": r.prompt,
            "response": resp,
            "constraints": c,
            "checks": check_adherence(resp, c),
        }
        for r, resp, c in zip(recs, responses, cons)
    ]
    return report, rows
