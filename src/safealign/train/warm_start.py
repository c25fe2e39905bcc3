"""The supervised warm start of the Safe RLHF recipe (round 0): Safe RLHF starts PPO from a supervised model.

Targets, per training prompt (the ``train`` split only; :mod:`safealign.data.splits`):

- **harmful** -> a refusal that still helps where it can: the look-alike set's own refusal written for that prompt,
  else one of :mod:`safealign.data.helpful_refusals` for the prompt's harm category;
- **benign** -> the policy's own best answer by reward: ``best_of`` sampled answers, the refusals (refusal detector)
  and the answers the guard flags passed over, the highest reward kept (:func:`safealign.data.best_of.best_of`);
  an answer cut by the token limit is trimmed to its last full sentence.

The rows are trained with TRL's SFTTrainer (LoRA merged into the saved model) through
:func:`safealign.train.trl_runner.train_sft_rows`.

Training prompts (:func:`training_prompts`): the trainable shared public sets' train parts when a ``shared_data``
folder is given (the package never needs it), the look-alike set's train pairs (both members) and its no-trigger
and blatant harmful prompts, picked round-robin over the sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from safealign.data.records import PromptRecord

Generate = Callable[[list[PromptRecord]], list[str]]  # one answer per prompt
Score = Callable[[list[PromptRecord], list[str]], list[float]]


@dataclass
class WarmStartStats:
    harmful: int = 0
    harmful_written_refusals: int = 0  # the look-alike set's refusal for that very prompt
    benign_prompts: int = 0
    benign_rows: int = 0  # prompts whose best answer was kept
    samples: int = 0
    refusals_passed_over: int = 0
    flagged_passed_over: int = 0
    trimmed: int = 0
    mean_best_reward: Optional[float] = None
    by_source: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ------------------------------------------------------------------------------------------------ prompts
def training_prompts(
    shared_data: Optional[str], n_harmful: int, n_benign: int, seed: int = 0
) -> tuple[list[PromptRecord], list[PromptRecord]]:
    """(harmful, benign) training prompts, round-robin over the sets: the shared sets' train parts (Koala, which is
    evaluation-only, excluded), the look-alike train pairs, the no-trigger / blatant train prompts."""
    from safealign.data.lookalikes import load_no_trigger, load_pairs
    from safealign.data.sampling import round_robin

    harmful: dict[str, list[PromptRecord]] = {}
    benign: dict[str, list[PromptRecord]] = {}
    if shared_data is not None:
        from safealign.data.shared_sets import SHARED_SETS, load_shared_set

        for name, spec in SHARED_SETS.items():
            if spec.trainable:
                (harmful if spec.label == "harmful" else benign)[name] = load_shared_set(shared_data, name, "train")
    pairs = load_pairs(split="train")
    harmful["lookalike"] = [p.to_prompt_record() for p in pairs if p.label == "harmful"]
    benign["lookalike"] = [p.to_prompt_record() for p in pairs if p.label == "benign"]
    harmful["no_trigger"] = [r.to_prompt_record() for r in load_no_trigger(split="train")]
    return round_robin(harmful, n_harmful, seed), round_robin(benign, n_benign, seed)


# ------------------------------------------------------------------------------------------------ targets
def written_refusals() -> dict[str, str]:
    """The look-alike set's train-split refusals, by prompt id."""
    from safealign.data.lookalikes import load_answers

    return {a.prompt_id: a.response for a in load_answers(split="train") if a.kind == "refusal"}


def refusal_rows(prompts: Sequence[PromptRecord], stats: Optional[WarmStartStats] = None) -> list[dict[str, Any]]:
    """A helpful refusal per harmful prompt: the look-alike set's own where written, else the category's."""
    from safealign.data.helpful_refusals import helpful_refusal
    from safealign.guard.categories import canonical_categories

    written = written_refusals()
    rows = []
    for p in prompts:
        text = written.get(p.id or "")
        if text is None:
            text = helpful_refusal(canonical_categories(p.category), p.prompt)
        elif stats is not None:
            stats.harmful_written_refusals += 1
        rows.append({"prompt": p.prompt, **({"system": p.system} if p.system else {}), "response": text,
                     "kind": "refusal", "id": p.id})
    if stats is not None:
        stats.harmful += len(rows)
    return rows


_SENTENCE_END = re.compile(r"[.!?)\]`]['\"]?\s*$")


def trim_to_sentence(text: str, min_chars: int = 40) -> tuple[str, bool]:
    """An answer cut by the token limit, trimmed after its last full sentence (or line); (text, trimmed?). Kept
    whole when it already ends a sentence or when trimming would leave under ``min_chars``."""
    t = text.rstrip()
    if not t or _SENTENCE_END.search(t):
        return t, False
    cut = max(t.rfind(". "), t.rfind("! "), t.rfind("? "), t.rfind(".\n"), t.rfind("\n"))
    if cut + 1 < min_chars:
        return t, False
    return t[: cut + 1].rstrip(), True


def best_of_rows(
    prompts: Sequence[PromptRecord], generate: Generate, reward: Score, n: int, guard: Any = None,
    is_refusal: Optional[Callable[[str], bool]] = None, stats: Optional[WarmStartStats] = None,
    chunk: int = 16, progress: Optional[Callable[[int, int], None]] = None,
) -> list[dict[str, Any]]:
    """The policy's best answer by ``reward`` among ``n`` samples per benign prompt; refusals and answers the guard
    flags never win. ``generate`` gets every prompt repeated ``n`` times, ``chunk`` prompts at a time."""
    from safealign.data.best_of import best_of

    if is_refusal is None:
        from safealign.judges.refusal import is_refusal
    stats = stats if stats is not None else WarmStartStats()
    prompts = list(prompts)
    candidates: list[dict[str, Any]] = []
    for s in range(0, len(prompts), chunk):
        block = [p for p in prompts[s : s + chunk] for _ in range(n)]
        answers = [trim_to_sentence(a) for a in generate(block)]
        texts = [a for a, _ in answers]
        scores = reward(block, texts)
        flags = (
            [v.is_unsafe for v in guard.classify_batch([(p.prompt, t, p.image) for p, t in zip(block, texts)])]
            if guard is not None
            else [False] * len(block)
        )
        for p, (t, trimmed), sc, flagged in zip(block, answers, scores, flags):
            refused = bool(is_refusal(t))
            stats.samples += 1
            stats.refusals_passed_over += refused
            stats.flagged_passed_over += bool(flagged) and not refused
            stats.trimmed += trimmed
            candidates.append({"prompt": p.prompt, **({"system": p.system} if p.system else {}), "answer": t,
                               "score": float(sc), "refusal": refused, "unsafe": bool(flagged) or not t.strip()})
        if progress is not None:
            progress(min(s + chunk, len(prompts)), len(prompts))
    best = best_of(candidates)
    ids = {(p.system or None, p.prompt): p.id for p in prompts}
    rows = [{"prompt": b["prompt"], **({"system": b["system"]} if b.get("system") else {}), "response": b["response"],
             "kind": "best_of", "reward": b["score"], "id": ids.get((b.get("system"), b["prompt"]))} for b in best]
    stats.benign_prompts += len(prompts)
    stats.benign_rows += len(rows)
    if rows:
        stats.mean_best_reward = sum(r["reward"] for r in rows) / len(rows)
    return rows


def sft_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL's conversational prompt/completion form (system turn when set; loss on the completion only)."""
    out = []
    for r in rows:
        prompt = ([{"role": "system", "content": r["system"]}] if r.get("system") else []) + [
            {"role": "user", "content": r["prompt"]}
        ]
        out.append({"prompt": prompt, "completion": [{"role": "assistant", "content": r["response"]}]})
    return out
