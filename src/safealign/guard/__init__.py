"""The multi-level guardrail (our design of Beaver-Guard-V): a trained cascade guard, a generative judge, a
severity/category policy, filter-and-regenerate with feedback, streaming moderation and structured decisions.

    from safealign.guard import Guard, GuardrailPipeline, Policy
    guard = Guard.load("runs/demo/guard")
    guard.classify("How do I kill a Python process?")            # GuardVerdict(unsafe_prob=..., ...)
    GuardrailPipeline(guard, backend, Policy.default()).run([{"role": "user", "content": "..."}])  # Decision
"""

from safealign.guard.base import BaseGuard
from safealign.guard.decision import Decision, DecisionLog, GuardVerdict
from safealign.guard.policy import Policy

__all__ = [
    "BaseGuard", "Decision", "DecisionLog", "GuardVerdict", "Policy", "Guard", "GuardrailPipeline", "JudgeGuard",
    "parse_judge_output",
]


def __getattr__(name: str):  # lazy: torch/transformers load only when these are used
    if name == "Guard":
        from safealign.guard.classifier import Guard

        return Guard
    if name == "GuardrailPipeline":
        from safealign.guard.pipeline import GuardrailPipeline

        return GuardrailPipeline
    if name in ("JudgeGuard", "parse_judge_output"):
        from safealign.guard import judge

        return getattr(judge, name)
    raise AttributeError(name)
