"""The policy as the recipe uses it between stages: sampled answers, reward scores, a LoRA actor merged into a model
folder, and the held-out evaluation by the independent judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from safealign.data.records import PromptRecord


class PolicySampler:
    """``sampler(prompts) -> answers``: one sampled answer per prompt from a model folder (or 'default')."""

    def __init__(
        self, spec: str, batch_size: int, max_new_tokens: int, temperature: float, seed: int,
        chat_template: str = "auto",
    ):
        from safealign.backends.base import GenerationParams
        from safealign.eval.safety import backend_answerer, load_policy_backend

        self.backend = load_policy_backend(spec, batch_size, chat_template)
        self.params = GenerationParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
        self._answer = backend_answerer(self.backend, self.params)
        self.calls = 0

    def __call__(self, prompts: list[PromptRecord]) -> list[str]:
        self.params.seed = (self.params.seed or 0) + 1  # a new draw per call, reproducible
        self.calls += 1
        return self._answer(prompts)

    def close(self) -> None:
        self.backend = None
        self._answer = None  # type: ignore[assignment]


def reward_scorer(path: str, batch_size: int) -> Callable[[list[PromptRecord], list[str]], list[float]]:
    from safealign.eval.safety import ScoreModelScorer

    return ScoreModelScorer(path, batch_size=batch_size)


def merge_adapter(adapter_dir: Path, out_dir: Path) -> Path:
    """A PPO actor (LoRA adapter on the round's starting policy) merged into a full model folder, atomically."""
    from safealign.eval.safety import load_policy_backend
    from safealign.utils.atomic import atomic_dir

    backend = load_policy_backend(str(adapter_dir))
    with atomic_dir(out_dir) as tmp:
        backend.model.save_pretrained(tmp)
        backend.tokenizer.save_pretrained(tmp)
    return out_dir


def evaluate_policy(
    policy: str, prompts: Sequence[PromptRecord], reward_model: Optional[str], guard: Any, max_new_tokens: int,
    batch_size: int, out_dir: Path, name: str = "policy", progress: Optional[Callable[[int, int], None]] = None,
    chat_template: str = "auto",
) -> dict[str, Any]:
    """Greedy answers to the held-out prompts, scored by the reward model and judged by the refusal detector and the
    guard; writes ``out_dir/safety_answers.jsonl`` and ``safety_summary.json``; returns the model's summary.
    ``chat_template``: of the policy (see :mod:`safealign.models.chat_templates`)."""
    from safealign.backends.base import GenerationParams
    from safealign.eval.safety import ScoreModelScorer, backend_answerer, evaluate_safety, load_policy_backend

    backend = load_policy_backend(policy, batch_size, chat_template)
    params = GenerationParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    answer = backend_answerer(backend, params, progress=(lambda _w, d, t: progress(d, t)) if progress else None)
    reward = ScoreModelScorer(reward_model, batch_size=batch_size) if reward_model else None
    res = evaluate_safety(prompts, {name: answer}, reward_fn=reward, guard=guard)
    res.meta.update(policy=policy, reward_model=reward_model, max_new_tokens=max_new_tokens)
    res.write(out_dir)
    return res.summary[name]
