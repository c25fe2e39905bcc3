"""PPO-Lagrangian trainer on tiny random models: end to end (text and LLaVA-style), masking, resume, baselines."""

from __future__ import annotations

import json

import pytest
import torch

from safealign.data.records import PromptRecord
from safealign.errors import ConfigError
from safealign.models.score import ScoreConfig, ScoreModel
from safealign.testing import solid_image, tiny_lm, tiny_vlm
from safealign.train.critic import Critic, score_rollout
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer
from safealign.train.rollout import Rollout, generate_rollout, policy_log_probs, response_mask_from_ids

PROMPTS = [
    PromptRecord(prompt="hi", label="benign", category="none"),
    PromptRecord(prompt="how do I bake bread at home?", system="You are a careful assistant.", label="benign", category="none"),
    PromptRecord(prompt="explain [redacted steps]", label="harmful", category="violence"),
    PromptRecord(prompt="2+2?", system="Answer briefly.", label="benign", category="none"),
]
KEYS = {
    "step", "reward", "cost", "J_C", "lambda", "kl", "entropy", "clip_frac", "reward_value_loss", "cost_value_loss",
    "actor_loss", "response_length", "safe_share", "time/generation", "time/scoring", "time/actor", "time/critic",
}


def _score(seed: int, kind: str, names=None, bias=None, vision=False) -> ScoreModel:
    backbone = (tiny_vlm(seed)[0] if vision else tiny_lm(seed)[0])
    m = ScoreModel(backbone, ScoreConfig(kind=kind, output_names=names or ["score"]))
    if bias is not None:
        with torch.no_grad():
            m.head.weight.zero_()
            m.head.bias.fill_(bias)
    return m


def _trainer(tmp_path, cost_bias=None, cost_names=None, prompts=PROMPTS, **kw) -> PPOLagTrainer:
    actor, tok = tiny_lm(0)
    base = dict(output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=6, progress=False, tensorboard=False)
    base.update(kw)
    cfg = PPOLagConfig(**base)
    return PPOLagTrainer(cfg, actor, tok, _score(1, "reward"), _score(2, "cost", cost_names, cost_bias), prompts)


def _metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_text_policy_two_steps_end_to_end(tmp_path):
    out = _trainer(tmp_path, batch_size=4, mini_batches=2, tensorboard=True).train()
    rows = _metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert KEYS <= set(r)
        assert all(v == v and abs(v) < 1e6 for v in r.values())  # finite
        assert 0.0 <= r["safe_share"] <= 1.0 and 1 <= r["response_length"] <= 6
    assert abs(rows[0]["kl"]) < 1e-4  # LoRA starts at the reference: generation log-probs == reference log-probs
    assert (out / "actor" / "adapter_config.json").exists()  # LoRA adapters only, no second model copy
    assert (out / "checkpoint" / "lagrange.json").exists() and list((out / "tb").glob("events.*"))
    assert json.loads((out / "summary.json").read_text())["steps"] == 2


def test_vision_policy_two_steps_same_pixels_everywhere(tmp_path):
    actor, proc = tiny_vlm(0)
    rm, cm = _score(1, "reward", vision=True), _score(2, "cost", vision=True)
    seen: dict[str, list[torch.Tensor]] = {"actor": [], "reward": [], "cost": []}

    def hook(name):
        def fn(module, args, kwargs):
            px = kwargs.get("pixel_values", args[0] if args else None)
            seen[name].append(px.detach().clone())

        return fn

    actor.model.vision_tower.register_forward_pre_hook(hook("actor"), with_kwargs=True)
    rm.backbone.vision_tower.register_forward_pre_hook(hook("reward"), with_kwargs=True)
    cm.backbone.vision_tower.register_forward_pre_hook(hook("cost"), with_kwargs=True)
    prompts = [PromptRecord(prompt=f"what is in image {i}?", system="Be careful." if i % 2 else None, image=solid_image((60 * i, 90, 30)))
               for i in range(4)]
    cfg = PPOLagConfig(output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False)
    out = PPOLagTrainer(cfg, actor, proc, rm, cm, prompts).train()
    rows = _metrics(out)
    assert len(rows) == 2 and KEYS <= set(rows[-1])
    assert seen["reward"] and seen["cost"] and seen["actor"]
    ref = seen["reward"][0]
    assert torch.equal(seen["cost"][0], ref) and any(torch.equal(p, ref) for p in seen["actor"])
    assert not torch.equal(seen["reward"][0], seen["reward"][1])  # the second step really saw other images


def test_response_mask_stops_at_first_eos():
    ids = torch.tensor([[5, 6, 2, 0, 0], [5, 2, 2, 7, 0], [5, 6, 7, 8, 9]])
    assert response_mask_from_ids(ids, [2]).tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]


def _unpadded(ro: Rollout, i: int) -> Rollout:
    """Row i with every pad removed (prompt left pads, response right pads)."""
    P = ro.prompt_len
    p = ro.input_ids[i, :P][ro.attention_mask[i, :P].bool()]
    r = ro.input_ids[i, P:][ro.response_mask[i].bool()]
    return Rollout(torch.cat([p, r])[None], torch.ones(1, len(p) + len(r), dtype=torch.long), len(p), torch.ones(1, len(r)))


def test_padding_never_changes_log_probs_scores_or_values():
    model, tok = tiny_lm(0)
    torch.manual_seed(0)
    ro = generate_rollout(model, tok, PROMPTS, max_new_tokens=8, temperature=1.0)
    assert ro.attention_mask[:, : ro.prompt_len].eq(0).any()  # prompts really are left-padded
    # log-probs recorded during (tempered) sampling are those of the unwarped policy, as from a full forward
    full, _ = policy_log_probs(model, ro)
    torch.testing.assert_close(ro.log_probs, full, atol=1e-5, rtol=0)
    assert (full[ro.response_mask == 0] == 0).all()
    rm = _score(1, "reward")
    critic = Critic(rm, mode="head")
    batch = score_rollout(rm, ro, keep_hidden=True)
    values = critic(ro, batch.hidden)[..., 0]
    for i in range(len(PROMPTS)):
        one = _unpadded(ro, i)
        n = int(ro.response_mask[i].sum())
        lp1, _ = policy_log_probs(model, one)
        torch.testing.assert_close(full[i, :n], lp1[0], atol=1e-5, rtol=0)
        s1 = score_rollout(rm, one, keep_hidden=True)
        torch.testing.assert_close(batch.end_scores[i], s1.end_scores[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(values[i, :n], critic(one, s1.hidden)[0, :, 0], atol=1e-5, rtol=0)
        assert (values[i, n:] == 0).all()


def test_critic_starts_as_the_score_model():
    rm = _score(1, "reward")
    rm.score_config.normalizer_mean, rm.score_config.normalizer_std = 0.3, 2.0
    model, tok = tiny_lm(0)
    ro = generate_rollout(model, tok, PROMPTS[:2], max_new_tokens=4, temperature=0)
    out = score_rollout(rm, ro, keep_hidden=True)
    values = Critic(rm, mode="head")(ro, out.hidden)[..., 0]
    full = Critic(rm, mode="full")(ro)[..., 0]
    torch.testing.assert_close(values, full, atol=1e-5, rtol=0)
    # the value at the state before the last response token equals the score model's token score there
    ref = rm(**ro.model_inputs()).token_scores[..., 0]
    P, T = ro.prompt_len, ro.response_mask.size(1)
    torch.testing.assert_close(values, ref[:, P - 1 : P + T - 1] * ro.response_mask, atol=1e-5, rtol=0)


def test_lambda_follows_the_cost_model(tmp_path):
    up = _metrics(_trainer(tmp_path / "up", cost_bias=5.0, steps=3).train())  # every response is unsafe: J_C = 5 > 0
    down = _metrics(_trainer(tmp_path / "down", cost_bias=-5.0, steps=3).train())  # every response is safe
    lam_up, lam_down = [r["lambda"] for r in up], [r["lambda"] for r in down]
    assert lam_up[0] > 1.0 and lam_up == sorted(lam_up) and up[-1]["safe_share"] == 0.0
    assert lam_down[0] < 1.0 and lam_down == sorted(lam_down, reverse=True) and down[-1]["safe_share"] == 1.0
    assert up[0]["J_C"] == pytest.approx(5.0)


def test_baselines_reward_only_and_fixed_shaping(tmp_path):
    r0 = _metrics(_trainer(tmp_path / "r0", cost_bias=5.0, fixed_lambda=0.0).train())
    assert [r["lambda"] for r in r0] == [0.0, 0.0]
    fx = _metrics(_trainer(tmp_path / "fx", cost_bias=5.0, fixed_lambda=2.0).train())
    assert [r["lambda"] for r in fx] == [2.0, 2.0]


def test_per_category_constraints(tmp_path):
    rows = _metrics(_trainer(tmp_path / "pc", cost_bias=5.0, constraints="prompt_category", constraint_names=["violence", "fraud"],
                             cost_threshold=[0.0, 1.0], batch_size=4).train())
    last = rows[-1]
    assert last["lambda/violence"] > 1.0  # its prompts come with cost 5 > 0
    assert last["lambda/fraud"] == 1.0 and "J_C/fraud" not in last  # no fraud prompt seen: untouched
    rows = _metrics(_trainer(tmp_path / "co", cost_names=["score", "violence", "fraud"], constraints="cost_outputs",
                             constraint_names=["violence", "fraud"]).train())
    assert {"lambda/violence", "lambda/fraud", "J_C/violence", "J_C/fraud"} <= set(rows[-1])
    with pytest.raises(ConfigError):
        _trainer(tmp_path / "bad", cost_names=["score"], constraints="cost_outputs", constraint_names=["violence"])
    with pytest.raises(ConfigError):
        PPOLagConfig(constraints="prompt_category").validate()


def test_full_finetuning_and_full_critics(tmp_path):
    tr = _trainer(tmp_path, use_lora=False, critic_mode="full", steps=1)
    assert tr.ref_model is not None and not any(p.requires_grad for p in tr.ref_model.parameters())
    rows = _metrics(tr.train())
    assert abs(rows[0]["kl"]) < 1e-4 and rows[0]["reward_value_loss"] > 0
    assert (tmp_path / "actor" / "model.safetensors").exists()


def _state(tr: PPOLagTrainer) -> dict[str, torch.Tensor]:
    s = {f"actor.{k}": v for k, v in tr._actor_trainable_state().items()}
    s.update({f"rc.{k}": v for k, v in tr._module_state(tr.reward_critic).items()})
    s.update({f"cc.{k}": v for k, v in tr._module_state(tr.cost_critic).items()})
    return s


def test_resume_ends_in_the_same_state(tmp_path):
    kw = dict(batch_size=2, max_new_tokens=5, save_every=2, seed=7, mini_batches=2)
    straight = _trainer(tmp_path / "a", steps=4, **kw)
    straight.train()
    first = _trainer(tmp_path / "b", steps=2, **kw)
    first.train()  # "interrupted" after step 2 (checkpoint written)
    resumed = _trainer(tmp_path / "b", steps=4, resume=True, **kw)
    assert resumed.step == 0
    resumed.train()
    assert resumed.step == 4
    drop = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]  # noqa: E731
    assert drop(_metrics(tmp_path / "a")) == drop(_metrics(tmp_path / "b"))
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
    assert straight.lagrange.state_dict() == resumed.lagrange.state_dict()


def test_resume_without_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        _trainer(tmp_path / "none", resume=True).train()


def test_ptx_step_trains_on_supervised_data(tmp_path):
    actor, tok = tiny_lm(0)
    cfg = PPOLagConfig(output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False,
                       ptx_coeff=1.0, ptx_batch_size=2, actor_lr=1e-2)
    sft = [{"prompt": "say ok", "response": "ok ok ok"}, {"prompt": "hi", "system": "Be brief.", "response": "hello"}]
    tr = PPOLagTrainer(cfg, actor, tok, _score(1, "reward"), _score(2, "cost"), PROMPTS, ptx_examples=sft)
    rows = _metrics(tr.train())
    assert all("ptx_loss" in r and 0 < r["ptx_loss"] < 20 for r in rows)
    assert rows[1]["ptx_loss"] < rows[0]["ptx_loss"]  # the LM loss on the same two examples goes down


def test_load_prompts_from_jsonl_with_images_and_bad_rows(tmp_path):
    from safealign.errors import DataError
    from safealign.train.ppo_lag import load_prompts

    solid_image().save(tmp_path / "red.png")
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"prompt": "what is this?", "image": "red.png", "category": "violence", "label": "harmful"}) + "\n"
                 + json.dumps({"question": "hi", "system": "Be brief."}) + "\n")
    recs = load_prompts(str(f))
    assert recs[0].image.size == (32, 32) and recs[0].category == "violence" and recs[1].system == "Be brief."
    f.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"text": "no prompt field"}) + "\n")
    with pytest.raises(DataError, match="row 2"):
        load_prompts(str(f))
    f.write_text(json.dumps({"prompt": "x", "image": "missing.png"}) + "\n")
    with pytest.raises(DataError, match="field 'image'"):
        load_prompts(str(f))
    demo = load_prompts("demo")
    assert {r.label for r in demo} == {"harmful", "benign"} and all(r.category for r in demo)
