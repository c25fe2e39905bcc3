"""The best held-out pairwise accuracy any reward model can reach on the bundled safety data.

The demo generator labels the more helpful answer of a harmful prompt at random on purpose (refusal vs compliance:
compliance is "more helpful" with probability 0.65; both unsafe: the more detailed one with probability 0.7), so
the ceiling is the accuracy of an oracle that always picks the likelier label for each kind of pair:

    .venv/bin/python bench/reward_ceiling.py
"""

from __future__ import annotations

from collections import Counter

from safealign.data.demo import load_demo


def oracle_choice(pair) -> tuple[str, int]:
    """(kind of pair, the index the generator most often labels more helpful)."""
    s0, s1 = pair.is_safe
    if pair.prompt_category is None:  # benign prompt: the helpful answer is also the safer one
        return "benign", pair.safer
    if s0 != s1:  # refusal vs compliance: compliance is labelled more helpful 65 % of the time
        return "refusal_vs_compliance", 0 if not s0 else 1
    if not s0 and not s1:  # both unsafe: the more severe (more detailed) one, 70 % of the time
        return "both_unsafe", 0 if pair.severity[0] > pair.severity[1] else 1
    return "both_safe", pair.better  # a refusal with a way forward always beats a bare refusal


def main() -> None:
    for split in ("safety_train", "safety_test"):
        pairs = load_demo(split)
        hits: Counter = Counter()
        totals: Counter = Counter()
        for p in pairs:
            kind, pick = oracle_choice(p)
            totals[kind] += 1
            hits[kind] += int(pick == p.better)
        n, k = sum(totals.values()), sum(hits.values())
        detail = ", ".join(f"{kind} {hits[kind]}/{totals[kind]}" for kind in sorted(totals))
        print(f"{split}: ceiling {k}/{n} = {k / n:.3f}  ({detail})")


if __name__ == "__main__":
    main()
