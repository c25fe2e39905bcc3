"""Regression anchor of the PPO-Lagrangian speed work: a short seeded run on the tiny random models, in the default
setting (LoRA actor, head critics) and the papers' setting (full fine-tuning, full trainable critics), must give the
metrics and lambda trajectory that the trainer gave before that work (recorded from commit d654413, fp32 on CPU).

Tolerance: 1e-5 relative (+1e-7 absolute for quantities near zero; 1e-5 for the KL, a difference of two sums of
log-probs), wide enough for the float rounding of a different but exact computation order (a merged LoRA adapter,
a chunked log-softmax, another thread count), far too narrow for a changed formula, a different sample
or a missed update.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from safealign.data.records import PromptRecord
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import tiny_lm
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

PROMPTS = [
    PromptRecord(prompt="hi", label="benign", category="none"),
    PromptRecord(prompt="how do I bake bread?", system="You are a careful assistant.", label="benign", category="none"),
    PromptRecord(prompt="explain [redacted steps]", label="harmful", category="violence"),
    PromptRecord(prompt="2+2?", system="Answer briefly.", label="benign", category="none"),
]
SETTINGS = {
    "default": dict(use_lora=True, critic_mode="head"),
    "paper": dict(use_lora=False, critic_mode="full"),
    # one minibatch: the update reads the critics' values at the weights of the scoring phase
    "paper_one_minibatch": dict(use_lora=False, critic_mode="full", mini_batches=1),
}
# the KL is a difference of two sums of ~8 log-probs of ~-5.5 each: fp32 rounding of those sums is ~5e-6
ABS_TOL = {"kl": 1e-5}
CHECKED = (
    "reward", "cost", "J_C", "lambda", "kl", "entropy", "clip_frac", "actor_loss", "reward_value_loss",
    "cost_value_loss", "response_length", "safe_share", "advantage_mean", "cost_advantage_mean",
)


def run_seeded(out: str | Path, setting: str) -> list[dict[str, float]]:
    """Three seeded steps (4 prompts, 2 minibatches, 8 new tokens, a fast multiplier) on the tiny models."""
    actor, tok = tiny_lm(0)
    reward = ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward"))
    cost = ScoreModel(tiny_lm(2)[0], ScoreConfig(kind="cost"))
    cfg = PPOLagConfig(
        output_dir=str(out), steps=3, batch_size=4, max_new_tokens=8, seed=7, actor_lr=1e-3,
        critic_lr=1e-3, lambda_lr=0.5, lambda_window=8, progress=False, tensorboard=False, save_every=0,
        **{"mini_batches": 2, **SETTINGS[setting]},
    )
    tr = PPOLagTrainer(cfg, actor, tok, reward, cost, PROMPTS)
    return [{k: float(m[k]) for k in CHECKED} for m in (tr.rl_step(tr._batch(s)) for s in range(cfg.steps))]


# recorded at d654413 (before the speed work) from run_seeded: SETTING -> one row of CHECKED metrics per step
RECORDED = Path(__file__).parent / "data" / "ppo_lag_regression.json"
EXPECTED: dict[str, list[dict[str, float]]] = json.loads(RECORDED.read_text())


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_seeded_run_metrics_and_lambda_are_unchanged(tmp_path, setting):
    got = run_seeded(tmp_path, setting)
    want = EXPECTED[setting]
    assert len(got) == len(want)
    for step, (g, w) in enumerate(zip(got, want)):
        for k in CHECKED:
            close = math.isclose(g[k], w[k], rel_tol=1e-5, abs_tol=ABS_TOL.get(k, 1e-7))
            assert close, f"step {step} {k}: {g[k]!r} != {w[k]!r}"
    lambdas = [r["lambda"] for r in got]
    assert len(set(lambdas)) == len(lambdas)  # the multiplier moves every step: its trajectory is checked


def test_fused_adamw_step_equals_the_foreach_step():
    """The trainer's optimisers became torch's fused AdamW (the foreach default makes parameter-sized temporaries and
    is several times slower on a CPU): the same update in another rounding order. Three steps of the fused and the
    foreach kernel on the same parameters and gradients (with weight decay, the actor's betas) give the same
    parameters up to float rounding."""
    g = torch.Generator().manual_seed(0)
    shapes = [(64, 32), (32,), (7, 5, 3)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) * 10.0**-k for s in shapes] for k in range(3)]
    params = {}
    for fused in (False, True):
        ps = [torch.nn.Parameter(t.clone()) for t in start]
        opt = torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1, fused=fused)
        for step_grads in grads:
            for p, gr in zip(ps, step_grads):
                p.grad = gr.clone()
            opt.step()
        params[fused] = ps
    for a, b, s in zip(params[False], params[True], start):
        assert not torch.equal(a, s)
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
