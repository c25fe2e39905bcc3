"""PPO-Lagrangian's memory between phases: activations recomputed for the fully trained models (gradient
checkpointing, as configured), no model's gradients kept after its own update."""

from __future__ import annotations

import pytest

from safealign.data.records import PromptRecord
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import tiny_lm
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

PROMPTS = [PromptRecord(prompt="hi"), PromptRecord(prompt="2+2?", system="Answer briefly.")]


def _trainer(tmp_path, **kw) -> PPOLagTrainer:
    actor, tok = tiny_lm(0)
    cfg = PPOLagConfig(
        output_dir=str(tmp_path), steps=1, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False, **kw
    )
    reward, cost = ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward")), ScoreModel(tiny_lm(2)[0], ScoreConfig())
    return PPOLagTrainer(cfg, actor, tok, reward, cost, PROMPTS)


@pytest.mark.parametrize(
    "kw, actor_ckpt, critics_ckpt",
    [
        (dict(use_lora=True, critic_mode="head"), False, None),
        (dict(use_lora=False, critic_mode="full"), True, True),
        (dict(use_lora=False, critic_mode="full", gradient_checkpointing="off"), False, False),
        (dict(use_lora=True, critic_mode="full", gradient_checkpointing="on"), True, True),
    ],
)
def test_gradient_checkpointing_where_configured(tmp_path, kw, actor_ckpt, critics_ckpt):
    tr = _trainer(tmp_path, **kw)
    assert tr.unwrapped_actor.is_activation_checkpointing is actor_ckpt
    for critic in tr._critics():
        assert (critic.model.backbone.is_activation_checkpointing if critic.mode == "full" else None) is critics_ckpt
    tr.rl_step(tr._batch(0))  # checkpointed layers train as the others do
    assert tr.ref_model is None or not tr.ref_model.is_activation_checkpointing


@pytest.mark.parametrize("kw", [dict(use_lora=True, critic_mode="head"), dict(use_lora=False, critic_mode="full")])
def test_no_gradients_outlive_their_update(tmp_path, kw):
    tr = _trainer(tmp_path, mini_batches=2, **kw)
    tr.rl_step(tr._batch(0))
    for model in (tr.actor, tr.reward_critic, tr.cost_critic):
        trained = [p for p in model.parameters() if p.requires_grad]
        assert trained and all(p.grad is None for p in trained)
    assert all(s for s in tr.actor_opt.state.values())  # the step did happen (Adam states exist)


@pytest.mark.parametrize("checkpointing, mini_batches, forwards", [("auto", 1, 1), ("off", 1, 2), ("auto", 2, 3)])
def test_full_critics_forward_once_per_step_where_one_minibatch_reads_the_old_values(
    tmp_path, monkeypatch, checkpointing, mini_batches, forwards
):
    """With one minibatch of one epoch, the scoring phase's critic forward (checkpointed: its graph is small) also
    serves the update; otherwise the old values come from a no-grad forward and each minibatch runs its own."""
    from safealign.train.critic import Critic

    calls = []
    forward = Critic.forward
    monkeypatch.setattr(Critic, "forward", lambda self, *a, **kw: calls.append(self) or forward(self, *a, **kw))
    tr = _trainer(
        tmp_path, use_lora=False, critic_mode="full", gradient_checkpointing=checkpointing, mini_batches=mini_batches
    )
    calls.clear()  # the shared-trunk probe at start
    tr.rl_step(tr._batch(0))
    for critic in tr._critics():
        assert sum(c is critic for c in calls) == forwards
