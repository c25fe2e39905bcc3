"""PPO rollouts: a LoRA adapter merged for the rollout (exact log-probs, base weights restored bit for bit), the
rollout-engine seam (every rollout and weight sync of the trainer goes through it), responses from elsewhere laid out
as the built-in generator lays them out."""

from __future__ import annotations

import pytest
import torch

from safealign.data.records import PromptRecord
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import tiny_lm
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer
from safealign.train.ppo_models import add_lora, merged_lora
from safealign.train.rollout import eos_ids_of, generate_rollout, policy_log_probs, rollout_from_responses
from safealign.train.rollout_engine import GenerateEngine, RolloutEngine

PROMPTS = [
    PromptRecord(prompt="hi", label="benign", category="none"),
    PromptRecord(prompt="how do I bake bread?", system="Be brief.", label="benign", category="none"),
    PromptRecord(prompt="explain [redacted steps]", label="harmful", category="violence"),
]


def _lora_actor(seed: int = 0):
    """A tiny LoRA actor whose adapter is not zero (B drawn at random), so merging changes the weights."""
    model, tok = tiny_lm(seed)
    actor = add_lora(model, PPOLagConfig(), vision=False)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in actor.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return actor.eval(), tok


def test_merged_lora_computes_the_same_policy_and_restores_the_base_exactly():
    actor, tok = _lora_actor()
    ro = generate_rollout(actor, tok, PROMPTS, max_new_tokens=6, temperature=1.0, record_log_probs=False)
    base = {n: p.detach().clone() for n, p in actor.named_parameters() if "lora_" not in n}
    with torch.no_grad():
        unmerged = policy_log_probs(actor, ro)[0]
        with actor.disable_adapter():
            reference = policy_log_probs(actor, ro)[0]
        with merged_lora(actor) as m:
            merged = policy_log_probs(m, ro)[0]
            changed = [n for n, p in m.named_parameters() if "lora_" not in n and not torch.equal(p, base[n])]
        after = policy_log_probs(actor, ro)[0]
        with actor.disable_adapter():
            reference_after = policy_log_probs(actor, ro)[0]
    assert changed  # the merge really went into the base weights
    assert not torch.allclose(unmerged, reference, atol=1e-3)  # the adapter matters
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)
    for n, p in actor.named_parameters():  # bit for bit, not W + BA - BA
        if "lora_" not in n:
            assert torch.equal(p, base[n]), n
    assert torch.equal(after, unmerged) and torch.equal(reference_after, reference)


def test_merged_lora_leaves_a_plain_model_alone():
    model, _ = tiny_lm(0)
    with merged_lora(model) as m:
        assert m is model


def test_rollout_log_probs_with_a_merged_adapter_equal_a_separate_forward():
    """The engine samples with the adapter merged; its recorded log-probs (unwarped logits, temperature 2 and top-p
    0.9 warp only the sampling) equal those of a separate full-sequence forward of the unmerged actor."""
    actor, tok = _lora_actor()
    engine = GenerateEngine(lambda: actor, tok)
    gen = PPOLagConfig(max_new_tokens=8, temperature=2.0, top_p=0.9).generation()
    torch.manual_seed(0)
    ro = engine.generate(PROMPTS, gen)
    assert ro.log_probs is not None and ro.response_mask.sum() > len(PROMPTS)
    with torch.no_grad():
        forward = policy_log_probs(actor, ro)[0]
    torch.testing.assert_close(ro.log_probs, forward, rtol=1e-5, atol=1e-5)
    assert torch.all(ro.log_probs[ro.response_mask == 0] == 0)


def test_responses_from_elsewhere_are_laid_out_like_generate_rollouts():
    model, tok = tiny_lm(0)
    torch.manual_seed(1)
    ro = generate_rollout(model, tok, PROMPTS, max_new_tokens=8, temperature=1.0)
    eos = eos_ids_of(model, tok)
    lengths = ro.response_mask.sum(-1).long().tolist()
    # what an inference engine returns: each row's tokens up to and including its EOS, nothing after
    responses = [ro.response_ids[i, :n].tolist() for i, n in enumerate(lengths)]
    again = rollout_from_responses(PROMPTS, tok, responses, eos)
    T = ro.response_mask.size(1)
    assert torch.equal(again.input_ids, ro.input_ids[:, : again.input_ids.size(1)])
    assert torch.equal(again.attention_mask, ro.attention_mask[:, : again.attention_mask.size(1)])
    assert torch.equal(again.response_mask, ro.response_mask[:, : again.response_mask.size(1)])
    assert again.response_mask.size(1) == max(lengths) <= T and again.log_probs is None
    assert again.prompt_len == ro.prompt_len and again.responses == ro.responses


class RecordingEngine:
    """Delegates to the built-in engine without recording log-probs (as an inference engine would), and records
    every call of the trainer."""

    def __init__(self, inner: GenerateEngine):
        self.inner, self.calls = inner, []

    def generate(self, records, generation):
        self.calls.append(("generate", len(records), generation.max_new_tokens))
        return self.inner.generate(records, generation)

    def sync_weights(self, actor):
        self.calls.append(("sync", type(actor).__name__))


def _trainer(tmp_path, engine=None) -> PPOLagTrainer:
    actor, tok = tiny_lm(0)
    cfg = PPOLagConfig(
        output_dir=str(tmp_path), steps=2, batch_size=3, max_new_tokens=6, seed=5, actor_lr=1e-3, progress=False,
        tensorboard=False, save_every=0,
    )
    reward, cost = ScoreModel(tiny_lm(1)[0], ScoreConfig(kind="reward")), ScoreModel(tiny_lm(2)[0], ScoreConfig())
    tr = PPOLagTrainer(cfg, actor, tok, reward, cost, PROMPTS, rollout_engine=engine(tok) if engine else None)
    if engine:  # the engine samples from the trainer's own actor
        tr.rollout_engine.inner.actor = lambda: tr.unwrapped_actor
    return tr


def test_the_trainer_rolls_out_and_syncs_through_its_engine(tmp_path):
    steps = 2
    built_in = _trainer(tmp_path / "a")
    assert isinstance(built_in.rollout_engine, GenerateEngine) and isinstance(built_in.rollout_engine, RolloutEngine)
    want = [built_in.rl_step(built_in._batch(s)) for s in range(steps)]
    tr = _trainer(tmp_path / "b", lambda tok: RecordingEngine(GenerateEngine(None, tok, record_log_probs=False)))
    got = [tr.rl_step(tr._batch(s)) for s in range(steps)]
    assert tr.rollout_engine.calls == [("generate", 3, 6), ("sync", "PeftModelForCausalLM")] * steps
    # without recorded log-probs the trainer computes them with its own forward: the same run
    for g, w in zip(got, want):
        for k in ("reward", "cost", "lambda", "kl", "actor_loss", "reward_value_loss", "response_length"):
            assert g[k] == pytest.approx(w[k], rel=1e-5, abs=1e-5), k
