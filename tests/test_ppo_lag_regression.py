"""Regression anchor of the PPO-Lagrangian speed work: a short seeded run on the tiny random models, in the default
setting (LoRA actor, head critics) and the papers' setting (full fine-tuning, full trainable critics), must give the
metrics and lambda trajectory that the trainer gave before that work (recorded from commit d654413, fp32 on CPU).

Tolerance: 1e-5 relative (+1e-7 absolute for quantities near zero; 1e-5 for the KL, a difference of two sums of
log-probs), wide enough for the float rounding of a different but exact computation order (a merged LoRA adapter,
a chunked log-softmax, another thread count), far too narrow for a changed formula, a different sample
or a missed update.
"""

from __future__ import annotations

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


# recorded at d654413 (before the speed work) from run_seeded
EXPECTED: dict[str, list[dict[str, float]]] = {
    "default": [
        {
            "reward": 0.8788316249847412, "cost": -0.0209648534655571, "J_C": -0.0209648534655571,
            "lambda": 0.9895723224339574, "kl": 0.0, "entropy": 5.553959608078003, "clip_frac": 0.0,
            "actor_loss": -0.37997543811798096, "reward_value_loss": 0.7701143026351929,
            "cost_value_loss": 0.290168434381485, "response_length": 8.0, "safe_share": 0.5,
            "advantage_mean": 0.3793077766895294, "cost_advantage_mean": -0.1224021315574646,
        },
        {
            "reward": 0.8168947696685791, "cost": 0.06369733065366745, "J_C": 0.021366238594055176,
            "lambda": 1.0000892964275088, "kl": 0.01937103271484375, "entropy": 5.554241418838501, "clip_frac": 0.0,
            "actor_loss": -0.1384499929845333, "reward_value_loss": 0.6045805215835571,
            "cost_value_loss": 0.4291747659444809, "response_length": 8.0, "safe_share": 0.0,
            "advantage_mean": 0.1389874517917633, "cost_advantage_mean": 0.13333994150161743,
        },
        {
            "reward": 0.8837856650352478, "cost": -0.006164807826280594, "J_C": 0.028766261413693428,
            "lambda": 1.0145789587934337, "kl": -0.011178135871887207, "entropy": 5.554210424423218, "clip_frac": 0.0,
            "actor_loss": -0.01942892000079155, "reward_value_loss": 0.4782169759273529,
            "cost_value_loss": 0.3189927786588669, "response_length": 6.25, "safe_share": 0.5,
            "advantage_mean": 0.006463985424488783, "cost_advantage_mean": 0.38423508405685425,
        },
    ],
    "paper": [
        {
            "reward": 0.8976800441741943, "cost": 0.03796667978167534, "J_C": 0.03796667978167534,
            "lambda": 1.0191646690813267, "kl": -3.5762786865234375e-07, "entropy": 5.5541672706604, "clip_frac": 0.0,
            "actor_loss": -0.22572646290063858, "reward_value_loss": 0.4132528156042099,
            "cost_value_loss": 0.32707180082798004, "response_length": 8.0, "safe_share": 0.25,
            "advantage_mean": 0.22540831565856934, "cost_advantage_mean": 0.022288255393505096,
        },
        {
            "reward": 0.8644927144050598, "cost": -0.0009132847189903259, "J_C": 0.018526697531342506,
            "lambda": 1.0288320405911566, "kl": 0.024747610092163086, "entropy": 5.554033994674683, "clip_frac": 0.0,
            "actor_loss": -0.06289336830377579, "reward_value_loss": 0.5222020894289017,
            "cost_value_loss": 0.33581041544675827, "response_length": 7.25, "safe_share": 0.5,
            "advantage_mean": 0.0764661654829979, "cost_advantage_mean": -0.40410834550857544,
        },
        {
            "reward": 0.8834728002548218, "cost": 0.022682208567857742, "J_C": 0.010884461924433708,
            "lambda": 1.0346087741374936, "kl": -0.10067939758300781, "entropy": 5.554081678390503, "clip_frac": 0.0,
            "actor_loss": 0.07617741078138351, "reward_value_loss": 0.43987084925174713,
            "cost_value_loss": 0.14517036825418472, "response_length": 8.0, "safe_share": 0.5,
            "advantage_mean": -0.07556203007698059, "cost_advantage_mean": 0.1952366828918457,
        },
    ],
    "paper_one_minibatch": [
        {
            "reward": 0.8976800441741943, "cost": 0.03796667978167534, "J_C": 0.03796667978167534,
            "lambda": 1.0191646690813267, "kl": -3.5762786865234375e-07, "entropy": 5.554201126098633,
            "clip_frac": 0.0, "actor_loss": -0.22540831565856934, "reward_value_loss": 0.49973368644714355,
            "cost_value_loss": 0.3266255557537079, "response_length": 8.0, "safe_share": 0.25,
            "advantage_mean": 0.22540831565856934, "cost_advantage_mean": 0.022288255393505096,
        },
        {
            "reward": 0.8724179267883301, "cost": -0.007396843284368515, "J_C": 0.015284918248653412,
            "lambda": 1.0271338609901677, "kl": 0.001085519790649414, "entropy": 5.554073810577393, "clip_frac": 0.0,
            "actor_loss": -0.08370144665241241, "reward_value_loss": 0.5811710953712463,
            "cost_value_loss": 0.38986513018608093, "response_length": 7.25, "safe_share": 0.5,
            "advantage_mean": 0.08370144665241241, "cost_advantage_mean": -0.2991228997707367,
        },
        {
            "reward": 0.8926839828491211, "cost": 0.0238024964928627, "J_C": 0.008202826604247093,
            "lambda": 1.031469995304758, "kl": -0.06870222091674805, "entropy": 5.5541462898254395, "clip_frac": 0.0,
            "actor_loss": 0.3663266897201538, "reward_value_loss": 0.4244658350944519,
            "cost_value_loss": 0.27445897459983826, "response_length": 8.0, "safe_share": 0.25,
            "advantage_mean": -0.3663266897201538, "cost_advantage_mean": 0.27217188477516174,
        },
    ],
}


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
