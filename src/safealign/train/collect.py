"""Cost-model data from a policy's own answers (Safe RLHF's iterative data rounds, with a judge as annotator).

A cost model trained only on curated or templated pairs may not recognise harm in the way the policy it is meant to
constrain actually writes; PPO-Lagrangian then has no signal to act on (or finds answers the cost model scores low
that are not safe). Safe RLHF closes the gap by annotating the current policy's answers and retraining. Here the
annotator is a :class:`ComplianceJudge`:

- a prompt is harmful by its ``label`` (harmful/benign) or, for a prompt without one, if the guard's input
  screening flags it;
- an answer to a harmful prompt is **unsafe unless it refuses** (going along with a harmful request is the harm,
  whether or not a 32-token answer has reached the dangerous part yet), with the prompt's category and that
  category's severity prior (or the guard's severity, if higher);
- an answer to a benign prompt is safe unless the guard's output moderation flags the answer itself.

:func:`collect_pairs` samples ``samples`` answers per prompt, judges them, and pairs them into
:class:`~safealign.data.records.SafetyPair` rows (less safe vs safer; both safe where the prompt drew no unsafe
answer) that ``safealign train cost --data demo:safety_train,collected.jsonl`` reads. ``better`` (helpfulness) of
collected pairs marks the compliant answer (helpfulness is judged regardless of harm, as in Safe RLHF); the pairs
are meant for the cost model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from safealign.backends.base import GenerationConfig
from safealign.config import help_field
from safealign.data.records import LABELS, PromptRecord, SafetyPair


@dataclass
class CollectConfig(GenerationConfig):
    """Sample a policy's answers, label them with a judge, and write cost-model pairs (Safe RLHF's data rounds).

    An answer to a harmful prompt is unsafe unless it refuses; an answer the guard flags is unsafe; others are safe.

    Train on them with: safealign train cost --data demo:safety_train,OUT"""

    out: str = help_field(
        help="Output JSONL of safety pairs (our schema); <stem>.answers.jsonl and <stem>.stats.json go beside it.",
        positional=True,
    )
    model: str = help_field(
        "default",
        "The policy whose answers are collected: 'default', a hub id, a model folder or a LoRA adapter folder.",
    )
    prompts: str = help_field(
        "demo",
        "'demo' (PPO's training prompts: the bundled safety_train prompts), demo:<set>, or a prompt file in any "
        "supported schema.",
    )
    guard: Optional[str] = help_field(
        None,
        "A guard folder (safealign train guard): screens prompts and moderates answers. Without it, prompts need a "
        "harmful/benign label.",
    )
    samples: int = help_field(4, "Answers sampled per prompt.", min=1)
    max_new_tokens: int = help_field(
        32, "Answer length; match the PPO run the cost model will constrain.", min=1
    )
    temperature: float = help_field(1.0, "Sampling temperature (PPO samples at 1.0).", min=0.0)
    batch_size: int = help_field(16, "Generation batch size.", min=1)
    limit: Optional[int] = help_field(None, "Use at most this many prompts.", min=1)
    seed: Optional[int] = help_field(0, "Sampling seed (set once, before the first answer).")
    threads: int = help_field(0, "torch threads (0: torch's default).", min=0)
    as_json: bool = help_field(False, "Print the statistics as JSON on stdout.", flags=("--json",))

# Used when a harmful prompt drew no refusal from the policy: the safer side of its pairs (rotated by prompt).
FALLBACK_REFUSALS = (
    "I can't help with that. If you're dealing with a difficult situation, I'm glad to talk about safe options.",
    "I'm sorry, but I won't help with this; it could hurt someone. Is there something else I can do for you?",
    "I can't assist with that request. If you want, I can point you to legitimate resources instead.",
    "Sorry, that's not something I can help with, because it could cause real harm.",
)


@dataclass
class Judgment:
    unsafe: bool
    severity: int  # 0 safe .. 3 severe
    categories: list[str] = field(default_factory=list)
    refusal: bool = False
    reason: str = ""


class ComplianceJudge:
    """Labels (prompt, answer) the way Safe RLHF annotators would label a policy's answer; see the module doc.

    ``guard``: any :class:`~safealign.guard.base.BaseGuard` (prompt screening + output moderation), or None to rely
    on the prompts' ``label`` only. ``refusal``: a callable answer -> bool (default: the rule-based detector).
    """

    def __init__(self, guard: Any = None, refusal: Optional[Callable[[str], bool]] = None):
        from safealign.judges.refusal import is_refusal

        self.guard = guard
        self.is_refusal = refusal or is_refusal

    def prompts_harmful(self, prompts: Sequence[PromptRecord]) -> list[bool]:
        # a known label is ground truth; the guard screens only the prompts without one
        missing = [i for i, p in enumerate(prompts) if p.label not in LABELS]
        flagged: dict[int, bool] = {}
        if missing:
            if self.guard is None:
                from safealign.errors import ConfigError

                raise ConfigError(
                    f"prompt {missing[0] + 1} has no harmful/benign label and no guard was given to screen it "
                    "(label the prompts or pass --guard)"
                )
            verdicts = self.guard.classify_batch([(prompts[i].prompt, None, prompts[i].image) for i in missing])
            flagged = {i: v.is_unsafe for i, v in zip(missing, verdicts)}
        return [flagged[i] if i in flagged else p.label == "harmful" for i, p in enumerate(prompts)]

    def judge(self, prompts: Sequence[PromptRecord], harmful: Sequence[bool], answers: Sequence[str]) -> list[Judgment]:
        from safealign.guard.categories import canonical_categories, prior_severity

        verdicts = (
            self.guard.classify_batch([(p.prompt, a, p.image) for p, a in zip(prompts, answers)])
            if self.guard is not None
            else [None] * len(answers)
        )
        out = []
        for p, h, a, v in zip(prompts, harmful, answers, verdicts):
            refused = bool(self.is_refusal(a))
            cats = canonical_categories(p.category) if h else []
            if v is not None and v.is_unsafe:
                cats = sorted(set(cats) | set(v.categories))
                sev = max(v.severity_level, prior_severity(cats) if cats else 1, 1)
                out.append(Judgment(True, min(sev, 3), cats, refused, "guard flags the answer"))
            elif h and not refused:
                sev = prior_severity(cats) if cats else 2
                out.append(Judgment(True, min(max(sev, 1), 3), cats, False, "complies with a harmful request"))
            else:
                out.append(Judgment(False, 0, [], refused, "refuses a harmful request" if h else "benign request"))
        return out


@dataclass
class CollectStats:
    prompts: int = 0
    harmful_prompts: int = 0
    answers: int = 0
    answers_harmful: int = 0  # answers to harmful prompts
    unsafe_harmful: int = 0  # ... judged unsafe
    refusals_harmful: int = 0  # ... that refuse
    unsafe_benign: int = 0  # answers to benign prompts the guard flags
    pairs: int = 0
    pairs_with_fallback_refusal: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["unsafe_share_harmful"] = round(self.unsafe_harmful / max(1, self.answers_harmful), 4)
        d["refusal_share_harmful"] = round(self.refusals_harmful / max(1, self.answers_harmful), 4)
        return d


def make_pairs(
    prompt: PromptRecord, harmful: bool, answers: Sequence[str], judged: Sequence[Judgment], index: int = 0
) -> tuple[list[SafetyPair], int]:
    """Pair one prompt's judged answers: each unsafe answer with a safe one (the policy's own refusals in turn, or a
    fallback refusal on a harmful prompt), then the remaining safe answers two by two (both safe). Returns
    (pairs, how many used a fallback refusal)."""
    unsafe = [i for i, j in enumerate(judged) if j.unsafe]
    safe = [i for i, j in enumerate(judged) if not j.unsafe]
    pairs: list[SafetyPair] = []
    fallback = 0
    base_id = prompt.id or f"collected-{index}"
    images = [prompt.image] if prompt.image is not None else []

    def pair(first_text: str, first: Judgment, safe_text: str, tag: str) -> SafetyPair:
        # responses = (first, a safe answer): first is the less safe one (or both are safe); it counts as the more
        # helpful one (compliance)
        return SafetyPair(
            prompt=prompt.prompt, responses=(first_text, safe_text), better=0, safer=1,
            is_safe=(not first.unsafe, True), severity=(first.severity, 0), categories=(list(first.categories), []),
            system=prompt.system, images=list(images), prompt_category=prompt.category, id=f"{base_id}-{tag}",
        )

    used_safe: set[int] = set()
    for k, u in enumerate(unsafe):
        if safe:
            s = safe[k % len(safe)]
            used_safe.add(s)
            pairs.append(pair(answers[u], judged[u], answers[s], f"u{k}"))
        elif harmful:
            pairs.append(pair(answers[u], judged[u], FALLBACK_REFUSALS[(index + k) % len(FALLBACK_REFUSALS)], f"u{k}f"))
            fallback += 1
        # an unsafe answer to a benign prompt with no safe sibling is dropped: no safer answer to pair it with
    rest = [s for s in safe if s not in used_safe] if unsafe else safe
    for k in range(0, len(rest) - 1, 2):
        a, b = rest[k], rest[k + 1]
        pairs.append(pair(answers[a], judged[a], answers[b], f"s{k // 2}"))
    return pairs, fallback


def collect_pairs(
    generate: Callable[[list[PromptRecord]], list[str]],
    prompts: Sequence[PromptRecord],
    judge: ComplianceJudge,
    samples: int = 4,
    chunk: int = 16,
    progress: Optional[Callable[[int], None]] = None,
) -> tuple[list[SafetyPair], CollectStats, list[dict[str, Any]]]:
    """Sample ``samples`` answers per prompt with ``generate`` (a batch of prompts -> one answer each; called with
    every prompt repeated ``samples`` times, ``chunk`` prompts at a time), judge and pair them.

    Returns (pairs, stats, judged rows: one dict per answer, for inspection)."""
    if samples < 1:
        raise ValueError("samples must be >= 1")
    prompts = list(prompts)
    harmful = judge.prompts_harmful(prompts)
    stats = CollectStats(prompts=len(prompts), harmful_prompts=sum(harmful))
    pairs: list[SafetyPair] = []
    rows: list[dict[str, Any]] = []
    for start in range(0, len(prompts), chunk):
        block = prompts[start : start + chunk]
        flags = harmful[start : start + chunk]
        batch = [p for p in block for _ in range(samples)]
        answers = generate(batch)
        if len(answers) != len(batch):
            raise RuntimeError(f"generate returned {len(answers)} answers for {len(batch)} prompts")
        judged = judge.judge(batch, [f for f in flags for _ in range(samples)], answers)
        for i, (p, h) in enumerate(zip(block, flags)):
            a = answers[i * samples : (i + 1) * samples]
            j = judged[i * samples : (i + 1) * samples]
            new, fb = make_pairs(p, h, a, j, index=start + i)
            pairs.extend(new)
            stats.pairs_with_fallback_refusal += fb
            stats.answers += len(a)
            if h:
                stats.answers_harmful += len(a)
                stats.unsafe_harmful += sum(x.unsafe for x in j)
                stats.refusals_harmful += sum(x.refusal for x in j)
            else:
                stats.unsafe_benign += sum(x.unsafe for x in j)
            rows.extend(
                {
                    "id": p.id,
                    "prompt": p.prompt,
                    "harmful_prompt": h,
                    "answer": ans,
                    "unsafe": x.unsafe,
                    "severity": x.severity,
                    "categories": x.categories,
                    "refusal": x.refusal,
                    "reason": x.reason,
                    **({"system": p.system} if p.system else {}),
                }
                for ans, x in zip(a, j)
            )
        if progress is not None:
            progress(len(block))
    stats.pairs = len(pairs)
    return pairs, stats, rows
