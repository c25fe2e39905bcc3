"""Score-model data of the Safe RLHF recipe's rounds: the look-alike set's answers as pairs, and the pairs built
from the current policy's own labelled answers.

Reward pairs say which answer is more helpful (Safe RLHF judges helpfulness regardless of harm), cost pairs which is
safer, each answer with its safe / unsafe label:

- a harmful look-alike prompt: (compliance, refusal): the compliance is more helpful and unsafe, the refusal safe;
- a benign look-alike prompt: (helpful answer, a refusal): both safe, the answer more helpful. The answer is also
  the "safer" side: a refusal of a benign prompt is no safer than a helpful answer, and a cost model taught
  otherwise gives a policy a way to lower its cost by refusing benign prompts (bench/results/ppo-lagrangian.md,
  rounds 3-4).
"""

from __future__ import annotations

from typing import Optional

from safealign.data.records import SafetyPair

# A refusal of a benign prompt, the less helpful side of the benign look-alike pairs (rotated by pair)
BENIGN_REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I won't answer that; it could be used to cause harm.",
    "I can't assist with this request.",
    "Sorry, that's not something I can help with.",
)


def lookalike_score_pairs(split: Optional[str] = "train") -> list[SafetyPair]:
    """One pair per look-alike prompt of ``split`` (see the module docstring)."""
    from safealign.data.lookalikes import load_answers
    from safealign.guard.categories import canonical_categories, prior_severity

    by_prompt: dict[str, dict[str, str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for a in load_answers(split=split):
        by_prompt.setdefault(a.prompt_id, {})[a.kind] = a.response
        meta[a.prompt_id] = (a.prompt, a.category)
    pairs = []
    for k, (pid, kinds) in enumerate(sorted(by_prompt.items())):
        prompt, category = meta[pid]
        cats = canonical_categories(category)
        if "compliance" in kinds and "refusal" in kinds:
            pairs.append(SafetyPair(
                prompt=prompt, responses=(kinds["compliance"], kinds["refusal"]), better=0, safer=1,
                is_safe=(False, True), severity=(prior_severity(cats), 0), categories=(cats, []),
                prompt_category=category, id=f"{pid}-cr",
            ))
        elif "helpful" in kinds:
            pairs.append(SafetyPair(
                prompt=prompt, responses=(kinds["helpful"], BENIGN_REFUSALS[k % len(BENIGN_REFUSALS)]), better=0,
                safer=0, is_safe=(True, True), id=f"{pid}-hr",
            ))
    return pairs
