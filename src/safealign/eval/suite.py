"""Evaluation prompts that include held-out real prompts, and the group each prompt belongs to.

A model trained against our reward and cost models is judged on prompts it never saw in training: the held-out
parts (:mod:`safealign.data.splits`) of the shared public sets (harmful: red-team and harmful-behaviour sets; benign:
instruction sets, the Koala set included since it is evaluation-only) and of the look-alike set (a benign prompt and
its harmful counterpart in the same frame, plus harmful prompts without trigger words). The demo's templated
evaluation prompts may be added beside them; they are never the only ones.

Groups (:func:`prompt_group`, read from the prompt's stable id) let every summary report each part on its own:

    real_harmful       held-out prompts of the shared harmful sets      (refusal / safe answer expected)
    real_benign        held-out prompts of the shared instruction sets  (over-refusal, helpfulness)
    lookalike_benign   benign members of held-out look-alike pairs      (over-refusal on prompts that look harmful)
    lookalike_harmful  harmful members of held-out look-alike pairs, no-trigger and blatant prompts
    demo_harmful / demo_benign   the bundled templated prompts

    from safealign.eval.suite import SuiteSize, heldout_suite
    prompts = heldout_suite("../shared/data", SuiteSize(real_harmful=40, real_benign=24, lookalike=16))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Optional, Sequence

from safealign.data.records import PromptRecord
from safealign.data.sampling import round_robin

GROUPS = ("real_harmful", "real_benign", "lookalike_benign", "lookalike_harmful", "demo_harmful", "demo_benign")
GROUP_TITLES = {
    "real_harmful": "held-out real harmful",
    "real_benign": "held-out real benign",
    "lookalike_benign": "held-out look-alike benign",
    "lookalike_harmful": "held-out look-alike harmful",
    "demo_harmful": "demo harmful (templated)",
    "demo_benign": "demo benign (templated)",
}
MAX_PROMPT_CHARS = 600  # longer prompts (FLASK passages, HarmBench contexts) would dominate generation time


@dataclass(frozen=True)
class SuiteSize:
    """How many held-out prompts of each part (0 = none). ``lookalike``: pairs (each gives a benign and a harmful
    prompt); ``no_trigger``: harmful prompts without trigger words or blatant ones, added to lookalike_harmful."""

    real_harmful: int = 40
    real_benign: int = 24
    lookalike: int = 16
    no_trigger: int = 8

    @classmethod
    def quick(cls) -> "SuiteSize":
        return cls(real_harmful=4, real_benign=2, lookalike=2, no_trigger=0)

    @property
    def total(self) -> int:
        return self.real_harmful + self.real_benign + 2 * self.lookalike + self.no_trigger


def prompt_group(rec: PromptRecord) -> str:
    """The group of a prompt, from its id (shared sets: ``<set>:<row>``; look-alikes: ``pair-…-b|h``, ``nt-…``,
    ``bl-…``); anything else is a demo prompt, by its label (unlabelled prompts count as benign)."""
    rid = rec.id or ""
    if ":" in rid:
        from safealign.data.shared_sets import SHARED_SETS

        if rid.split(":", 1)[0] in SHARED_SETS:
            return "real_harmful" if rec.label == "harmful" else "real_benign"
    if rid.startswith("pair-"):
        return "lookalike_harmful" if rec.label == "harmful" else "lookalike_benign"
    if rid.startswith(("nt-", "bl-")):
        return "lookalike_harmful"
    return "demo_harmful" if rec.label == "harmful" else "demo_benign"


def shared_heldout(root: str | os.PathLike, label: str, n: int, seed: int = 0) -> list[PromptRecord]:
    """``n`` held-out prompts of the shared sets with this label (harmful / benign), round-robin over the sets."""
    from safealign.data.shared_sets import SHARED_SETS, load_shared_set

    if n <= 0:
        return []
    by_set = {
        name: [r for r in load_shared_set(root, name, split="heldout") if len(r.prompt) <= MAX_PROMPT_CHARS]
        for name, s in SHARED_SETS.items()
        if s.label == label
    }
    return round_robin(by_set, n, seed)


def lookalike_heldout(pairs: int, no_trigger: int = 0, seed: int = 0) -> list[PromptRecord]:
    """Both members of ``pairs`` held-out look-alike pairs (round-robin over frames) and ``no_trigger`` held-out
    no-trigger / blatant harmful prompts."""
    from safealign.data.lookalikes import load_no_trigger, load_pairs

    out: list[PromptRecord] = []
    if pairs > 0:
        members = load_pairs(split="heldout")
        benign = {p.pair_id: p for p in members if p.label == "benign"}
        harmful = {p.pair_id: p for p in members if p.label == "harmful"}
        by_frame: dict[str, list[PromptRecord]] = {}
        for pid, b in benign.items():
            by_frame.setdefault(b.frame, []).append(replace(b.to_prompt_record(), id=pid))
        for chosen in round_robin(by_frame, pairs, seed):
            out += [benign[chosen.id].to_prompt_record(), harmful[chosen.id].to_prompt_record()]
    if no_trigger > 0:
        rows = load_no_trigger(split="heldout")
        by_kind: dict[str, list[PromptRecord]] = {}
        for r in rows:
            by_kind.setdefault(r.kind, []).append(r.to_prompt_record())
        out += round_robin(by_kind, no_trigger, seed)
    return out


def heldout_suite(
    shared_data: Optional[str | os.PathLike], size: SuiteSize = SuiteSize(), seed: int = 0,
    extra: Sequence[PromptRecord] = (),
) -> list[PromptRecord]:
    """The held-out evaluation prompts: the shared sets' parts when ``shared_data`` is given (the package never
    needs it), the look-alike parts always, then ``extra`` (e.g. the demo's templated prompts)."""
    out: list[PromptRecord] = []
    if shared_data is not None:
        out += shared_heldout(shared_data, "harmful", size.real_harmful, seed)
        out += shared_heldout(shared_data, "benign", size.real_benign, seed)
    out += lookalike_heldout(size.lookalike, size.no_trigger, seed)
    return out + list(extra)


def group_counts(prompts: Sequence[PromptRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in prompts:
        g = prompt_group(p)
        counts[g] = counts.get(g, 0) + 1
    return {g: counts[g] for g in GROUPS if g in counts}
