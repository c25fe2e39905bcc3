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
    PromptRecord(
        prompt="how do I bake bread at home?", system="You are a careful assistant.", label="benign", category="none"
    ),
    PromptRecord(prompt="explain [redacted steps]", label="harmful", category="violence"),
    PromptRecord(prompt="2+2?", system="Answer briefly.", label="benign", category="none"),
]
KEYS = {
    "step", "reward", "cost", "J_C", "lambda", "kl", "entropy", "clip_frac", "reward_value_loss", "cost_value_loss",
    "actor_loss", "response_length", "safe_share", "time/generation", "time/scoring", "time/actor", "time/critic",
}


def _score(seed: int, kind: str, names=None, bias=None, vision=False) -> ScoreModel:
    backbone = tiny_vlm(seed)[0] if vision else tiny_lm(seed)[0]
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
    prompts = [
        PromptRecord(
            prompt=f"what is in image {i}?",
            system="Be careful." if i % 2 else None,
            image=solid_image((60 * i, 90, 30)),
        )
        for i in range(4)
    ]
    cfg = PPOLagConfig(
        output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False
    )
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
    return Rollout(
        torch.cat([p, r])[None], torch.ones(1, len(p) + len(r), dtype=torch.long), len(p), torch.ones(1, len(r))
    )


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


def _right_pad(ro: Rollout, row: int, keep: int, pad_id: int) -> Rollout:
    """The rollout with response ``row`` cut after ``keep`` tokens (right padding, as after an early EOS)."""
    P = ro.prompt_len
    ids, attn, resp = ro.input_ids.clone(), ro.attention_mask.clone(), ro.response_mask.clone()
    ids[row, P + keep :] = pad_id
    attn[row, P + keep :] = 0
    resp[row, keep:] = 0
    return Rollout(ids, attn, P, resp)


def _with_top_layers_of(rm: ScoreModel, critic: Critic) -> ScoreModel:
    """A full score model whose top layers, final norm and head are the critic's: the reference for its values."""
    import copy

    ref = copy.deepcopy(rm)
    layers, k = ref.backbone.layers, critic.top_layers
    for j in range(k):
        layers[len(layers) - k + j].load_state_dict(critic.model.backbone.layers[j].state_dict())
    ref.backbone.norm.load_state_dict(critic.model.backbone.norm.state_dict())
    ref.head, ref.score_config = copy.deepcopy(critic.model.head), copy.deepcopy(critic.model.score_config)
    return ref


@pytest.mark.parametrize("k", [1, 2])
def test_top_critic_values_equal_its_layers_on_the_unpadded_rows(k):
    model, tok = tiny_lm(0)
    torch.manual_seed(0)
    ro = _right_pad(
        generate_rollout(model, tok, PROMPTS, max_new_tokens=8, temperature=1.0), row=1, keep=3, pad_id=tok.pad_token_id
    )
    assert ro.attention_mask[:, : ro.prompt_len].eq(0).any() and ro.response_mask.eq(0).any()  # both kinds of padding
    rm = _score(1, "reward")
    rm.score_config.normalizer_mean, rm.score_config.normalizer_std = 0.3, 2.0
    critic = Critic(rm, mode="top", top_layers=k)
    assert (
        len(critic.model.backbone.layers) == k and critic.model.backbone.embed_tokens is None
    )  # copies of the top k only
    assert not {p.data_ptr() for p in critic.parameters()} & {p.data_ptr() for p in rm.parameters()}
    batch = score_rollout(rm, ro, keep_hidden=True, top_layers=k)
    assert batch.hidden.shape[:2] == ro.input_ids.shape  # every position: the top layers attend over all of them
    start = critic(ro, batch.hidden)[..., 0]
    with torch.no_grad():  # move the critic away from the score model: its own layers must be the ones that run
        for p in critic.parameters():
            p.add_(0.05 * torch.randn_like(p))
    values = critic(ro, batch.hidden)[..., 0]
    assert not torch.allclose(values, start)
    ref_model = _with_top_layers_of(rm, critic)
    for i in range(len(PROMPTS)):
        one = _unpadded(ro, i)
        n, P1 = int(ro.response_mask[i].sum()), one.prompt_len
        # at initialisation the critic is the score model (normalised token scores before each response token)
        torch.testing.assert_close(
            start[i, :n], rm(**one.model_inputs()).token_scores[0, P1 - 1 : -1, 0], atol=1e-5, rtol=0
        )
        # the same layers run on the unpadded row, through a full forward of the trunk and through the cache
        torch.testing.assert_close(
            values[i, :n], ref_model(**one.model_inputs()).token_scores[0, P1 - 1 : -1, 0], atol=1e-5, rtol=0
        )
        s1 = score_rollout(rm, one, keep_hidden=True, top_layers=k)
        torch.testing.assert_close(values[i, :n], critic(one, s1.hidden)[0, :, 0], atol=1e-5, rtol=0)
        assert (values[i, n:] == 0).all()
    with pytest.raises(ConfigError, match="critic_top_layers"):
        Critic(rm, mode="top", top_layers=3)


def test_top_critics_two_steps_train_their_copies_only(tmp_path):
    tr = _trainer(tmp_path, critic_mode="top", critic_top_layers=1, critic_lr=1e-2)
    frozen = {
        f"{name}.{n}": p.detach().clone()
        for name in ("reward_model", "cost_model")
        for n, p in getattr(tr, name).named_parameters()
    }
    before = {k: v for k, v in _state(tr).items() if not k.startswith("actor.")}
    assert any(".layers.0." in k for k in before) and not any("embed_tokens" in k for k in before)
    rows = _metrics(tr.train())
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert KEYS <= set(r) and all(v == v and abs(v) < 1e6 for v in r.values())
    assert rows[0]["reward_value_loss"] > 0
    after = _state(tr)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert {k.split(".")[0] for k in changed} == {"rc", "cc"}
    assert (
        any(".layers.0." in k for k in changed)
        and any(".norm." in k for k in changed)
        and any(".head." in k for k in changed)
    )
    for name in ("reward_model", "cost_model"):
        for n, p in getattr(tr, name).named_parameters():
            assert torch.equal(p, frozen[f"{name}.{n}"]), f"{name}.{n}"
    saved = torch.load(tmp_path / "checkpoint" / "reward_critic.pt")
    assert saved.keys() == {k[3:] for k in after if k.startswith("rc.")}


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
    rows = _metrics(
        _trainer(
            tmp_path / "pc", cost_bias=5.0, constraints="prompt_category", constraint_names=["violence", "none"],
            cost_threshold=[0.0, 10.0], batch_size=4,
        ).train()
    )
    last = rows[-1]
    assert last["lambda/violence"] > 1.0  # its prompts come with cost 5 > 0
    assert last["lambda/none"] < 1.0  # cost 5 is under this constraint's limit 10
    # a constraint that no prompt carries would be a silent no-op (lambda still): an error naming what the prompts carry
    with pytest.raises(ConfigError, match=r"\['fraud'\] match no prompt's category .*none, violence"):
        _trainer(tmp_path / "bad", constraints="prompt_category", constraint_names=["violence", "fraud"])
    with pytest.raises(ConfigError, match="must be one of"):  # the dead cost_outputs option is gone
        PPOLagConfig.from_dict({"constraints": "cost_outputs", "constraint_names": ["violence"]})
    with pytest.raises(ConfigError):
        PPOLagConfig(constraints="prompt_category").validate()


def test_prompt_label_constraint_ignores_the_cost_of_benign_prompts(tmp_path):
    """constraints=prompt_label, names [harmful]: J_C is the mean cost of harmful episodes only, and the end cost of
    benign episodes is zero."""
    tr = _trainer(
        tmp_path / "pl", cost_bias=5.0, constraints="prompt_label", constraint_names=["harmful"], batch_size=4, steps=1
    )
    recs = PROMPTS  # 3 benign, 1 harmful
    costs, valid = tr._episode_costs(torch.tensor([[1.0], [2.0], [7.0], [4.0]]), recs)
    assert valid[:, 0].tolist() == [False, False, True, False]
    assert costs[:, 0].tolist() == [0.0, 0.0, 7.0, 0.0]
    rows = _metrics(tr.train())
    assert len(tr.lagrange.windows[0]) == 1  # one step of all 4 prompts: only the harmful episode entered J_C
    assert rows[0]["J_C"] == pytest.approx(5.0, abs=1e-3) and rows[0]["lambda"] > 1.0


def test_prompt_label_constraint_leaves_benign_advantages_to_the_reward(tmp_path, monkeypatch):
    """With a harmful-only constraint and lambda far from 0, each benign episode's advantage is exactly its reward
    advantage (no cost-critic guess, no 1/(1+lambda) shrinking), the harmful one's is (A_R - lambda A_C)/(1+lambda),
    and the cost critic learns from the harmful episode only."""
    from safealign import losses as L

    seen = []
    real = L.combined_advantage

    def spy(adv_r, adv_c, lambdas, **kw):
        out = real(adv_r, adv_c, lambdas, **kw)
        seen.append((adv_r, adv_c, lambdas, out))
        return out

    monkeypatch.setattr(L, "combined_advantage", spy)
    tr = _trainer(
        tmp_path / "pl", cost_bias=5.0, constraints="prompt_label", constraint_names=["harmful"], batch_size=4, steps=1,
        fixed_lambda=9.0,
    )
    tr.train()
    adv_r, adv_c, lambdas, out = seen[0]
    lam = float(torch.as_tensor(lambdas).reshape(-1)[0])
    assert lam == pytest.approx(9.0)
    batch = tr._batch(0)
    benign = [i for i, r in enumerate(batch) if r.label == "benign"]
    harmful = [i for i, r in enumerate(batch) if r.label == "harmful"]
    assert benign and harmful
    torch.testing.assert_close(out[benign], adv_r[benign])
    torch.testing.assert_close(out[harmful], (adv_r[harmful] - lam * adv_c[0][harmful]) / (1 + lam))
    assert adv_c[0][benign].abs().sum() > 0  # there was a cost-stream guess on benign episodes to ignore

    only_benign = [r for r in PROMPTS if r.label == "benign"]
    rows = _metrics(
        _trainer(
            tmp_path / "ob", cost_bias=5.0, constraints="prompt_label", constraint_names=["harmful"],
            prompts=only_benign, batch_size=3, steps=1,
        ).train()
    )
    assert rows[0]["cost_value_loss"] == 0.0 and rows[0]["reward_value_loss"] > 0


def test_running_score_scaling_feeds_scaled_scores_to_the_advantages_only(tmp_path, monkeypatch):
    """score_scaling: running. After one step of 4 episodes, the reward and cost end scores that enter KL shaping
    (hence GAE and the advantage) are the raw ones divided by their own sample standard deviation (so they have sd 1),
    while J_C, the logged reward and the multiplier read the raw scores."""
    from safealign import losses as L

    seen = []
    real = L.kl_penalised_scores

    def spy(scores, *a, **kw):
        seen.append(scores.detach().clone())
        return real(scores, *a, **kw)

    monkeypatch.setattr(L, "kl_penalised_scores", spy)
    tr = _trainer(tmp_path, batch_size=4, steps=1, score_scaling="running")
    rows = _metrics(tr.train())
    reward_in, cost_in = seen[0], seen[1]
    sc = tr.score_scale.scales()
    assert sc[0] != 1.0 and sc[1] != 1.0
    assert reward_in.std().item() == pytest.approx(1.0, rel=1e-4) and cost_in.std().item() == pytest.approx(
        1.0, rel=1e-4
    )
    assert (reward_in * sc[0]).mean().item() == pytest.approx(rows[0]["reward"], abs=1e-5)  # raw = scaled x scale
    assert (cost_in * sc[1]).mean().item() == pytest.approx(rows[0]["J_C"], abs=1e-5)  # J_C stays raw
    assert rows[0]["score_scale/reward"] == pytest.approx(sc[0]) and rows[0]["score_scale/cost"] == pytest.approx(sc[1])


def test_score_scaling_reads_the_critics_in_the_same_units(tmp_path, monkeypatch):
    """The critics start as the score models, so they speak raw units: with every scale fixed at 2, the same first
    rollout (same seed) gives GAE the scores AND the values of the unscaled run, halved."""
    from safealign import losses as L
    from safealign.train import score_scaling

    def run(tag, **kw):
        seen = []
        real_gae, real_kl = L.gae, L.kl_penalised_scores
        monkeypatch.setattr(
            L,
            "gae",
            lambda rewards, values, *a: (seen.append(("values", values.clone())), real_gae(rewards, values, *a))[1],
        )
        monkeypatch.setattr(
            L,
            "kl_penalised_scores",
            lambda scores, *a: (seen.append(("scores", scores.clone())), real_kl(scores, *a))[1],
        )
        _trainer(tmp_path / tag, batch_size=4, steps=1, seed=3, **kw).train()
        monkeypatch.setattr(L, "gae", real_gae)
        monkeypatch.setattr(L, "kl_penalised_scores", real_kl)
        return seen

    plain = run("plain")
    monkeypatch.setattr(
        score_scaling.RunningScale,
        "tensor",
        lambda self, device=None: torch.full((len(self.count),), 2.0, device=device),
    )
    scaled = run("scaled", score_scaling="running")
    assert [k for k, _ in plain] == [k for k, _ in scaled] == ["scores", "values", "scores", "values"]
    for (_, a), (_, b) in zip(plain, scaled):
        assert a.abs().sum() > 0
        torch.testing.assert_close(b, a / 2)


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


@pytest.mark.parametrize(
    "critic",
    [{}, {"critic_mode": "top", "critic_top_layers": 1}, {"score_scaling": "running"}],
    ids=["head", "top", "head-scaled"],
)
def test_resume_ends_in_the_same_state(tmp_path, critic):
    kw = dict(batch_size=2, max_new_tokens=5, save_every=2, seed=7, mini_batches=2, **critic)
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
    if "critic_mode" in critic:  # the critics' trainable top layers are part of the checkpoint
        assert any(k.startswith("rc.model.backbone.layers.0.") for k in a) and any(
            k.startswith("cc.model.backbone.layers.0.") for k in a
        )
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
    assert straight.lagrange.state_dict() == resumed.lagrange.state_dict()
    if "score_scaling" in critic:
        assert (
            resumed.score_scale.count[0] == 8 and straight.score_scale.state_dict() == resumed.score_scale.state_dict()
        )


class _ShardedAccelerator:
    """A single-process accelerator that says its parameters are sharded (ZeRO-3 / FSDP) or not, and records which
    models went through ``get_state_dict``; everything else is the real accelerator's."""

    def __init__(self, real, kind: str, zero_stage=None):
        from types import SimpleNamespace

        from accelerate.utils import DistributedType

        self._real = real
        self.distributed_type = DistributedType[kind]
        plugin = (
            None
            if zero_stage is None
            else SimpleNamespace(deepspeed_config={"zero_optimization": {"stage": zero_stage}}, zero_stage=zero_stage)
        )
        self.state = SimpleNamespace(deepspeed_plugin=plugin)
        self.gathered: list = []

    def get_state_dict(self, model, unwrap=True):
        self.gathered.append(model)
        return self._real.get_state_dict(model, unwrap)

    def __getattr__(self, name):
        return getattr(self._real, name)


# DeepSpeed runs for real in tests/test_deepspeed.py (its checkpoints also hold one DeepSpeed checkpoint per engine,
# which this stand-in cannot write)
@pytest.mark.parametrize(
    "kind, stage, sharded", [("FSDP", None, True), ("MULTI_GPU", None, False), ("NO", None, False)]
)
def test_checkpoint_gathers_sharded_weights_with_get_state_dict(tmp_path, kind, stage, sharded):
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    from safealign.train.sharding import sharded_parameters

    tr = _trainer(tmp_path / "run", critic_mode="top", critic_top_layers=1)
    expected = _state(tr)
    fake = _ShardedAccelerator(tr.acc, kind, stage)
    assert sharded_parameters(fake) is sharded
    tr.acc = fake
    tr.save_checkpoint(tmp_path / "ck")
    models = [tr.actor, tr.reward_critic, tr.cost_critic]
    assert [id(m) for m in fake.gathered] == ([id(m) for m in models] if sharded else [])
    saved = {f"actor.{k}": v for k, v in torch.load(tmp_path / "ck" / "actor_trainable.pt").items()}
    saved.update({f"rc.{k}": v for k, v in torch.load(tmp_path / "ck" / "reward_critic.pt").items()})
    saved.update({f"cc.{k}": v for k, v in torch.load(tmp_path / "ck" / "cost_critic.pt").items()})
    assert saved.keys() == expected.keys()  # trainable actor weights only, whole critics, on either path
    for k in expected:
        torch.testing.assert_close(saved[k], expected[k], atol=0, rtol=0, msg=k)
    fake.gathered.clear()
    tr.save_final()
    assert [id(m) for m in fake.gathered] == ([id(m) for m in models] if sharded else [])
    adapter = load_file(str(tmp_path / "run" / "actor" / "adapter_model.safetensors"))
    ref = get_peft_model_state_dict(tr.unwrapped_actor)
    assert adapter.keys() == ref.keys() and all(torch.equal(adapter[k], ref[k]) for k in ref)
    assert torch.load(tmp_path / "run" / "reward_critic.pt").keys() == {k[3:] for k in expected if k.startswith("rc.")}


def test_resume_without_checkpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no checkpoint"):
        _trainer(tmp_path / "none", resume=True).train()


def test_a_deepspeed_checkpoint_is_not_resumed_without_deepspeed(tmp_path):
    """Optimiser states written by DeepSpeed engines (partitioned per process) cannot be read by a plain run."""
    ck = tmp_path / "ds" / "checkpoint"
    (ck / "deepspeed" / "actor").mkdir(parents=True)
    (ck / "trainer_state.json").write_text(json.dumps({"step": 2, "num_processes": 1}))
    with pytest.raises(ConfigError, match="written under DeepSpeed; resume it under DeepSpeed"):
        _trainer(tmp_path / "ds", resume=True).train()


def test_ptx_step_trains_on_supervised_data(tmp_path):
    actor, tok = tiny_lm(0)
    cfg = PPOLagConfig(
        output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False,
        ptx_coeff=1.0, ptx_batch_size=2, actor_lr=1e-2,
    )
    sft = [{"prompt": "say ok", "response": "ok ok ok"}, {"prompt": "hi", "system": "Be brief.", "response": "hello"}]
    tr = PPOLagTrainer(cfg, actor, tok, _score(1, "reward"), _score(2, "cost"), PROMPTS, ptx_examples=sft)
    rows = _metrics(tr.train())
    assert all("ptx_loss" in r and 0 < r["ptx_loss"] < 20 for r in rows)
    assert rows[1]["ptx_loss"] < rows[0]["ptx_loss"]  # the LM loss on the same two examples goes down


SFT_ROWS = [
    {"prompt": "say ok", "response": "ok ok ok"}, {"prompt": "hi", "system": "Be brief.", "response": "hello"},
    {"prompt": "count", "response": "one two three"}, {"prompt": "bye", "response": "goodbye"},
]


def _ptx_trainer(tmp_path, **kw) -> PPOLagTrainer:
    actor, tok = tiny_lm(0)
    base = dict(
        output_dir=str(tmp_path), steps=1, batch_size=2, max_new_tokens=4, progress=False, tensorboard=False,
        ptx_batch_size=2, actor_lr=1e-2, seed=5,
    )
    cfg = PPOLagConfig(**{**base, **kw})
    return PPOLagTrainer(cfg, actor, tok, _score(1, "reward"), _score(2, "cost"), PROMPTS, ptx_examples=SFT_ROWS)


def test_joint_ptx_adds_the_weighted_supervised_loss_to_every_actor_update(tmp_path, monkeypatch):
    """ptx_mode joint: each actor update backpropagates PPO loss + ptx_coeff x the LM loss of its own PTX batch (rows
    in a cycle: update u of step s reads batch s * updates_per_step + u); there is no separate PTX step."""
    from safealign import losses as L

    tr = _ptx_trainer(tmp_path / "j", ptx_mode="joint", ptx_coeff=3.0, mini_batches=2, batch_size=4, steps=2)
    ppo, ptx, backward, batches = [], [], [], []
    real_ppo, real_ptx, real_backward = L.ppo_actor_loss, tr._ptx_loss, tr.acc.backward
    monkeypatch.setattr(L, "ppo_actor_loss", lambda *a: (lambda out: (ppo.append(out[0].item()), out)[1])(real_ppo(*a)))
    monkeypatch.setattr(
        tr, "_ptx_loss", lambda i: (lambda out: (batches.append(i), ptx.append(out.item()), out)[2])(real_ptx(i))
    )
    monkeypatch.setattr(
        tr.acc, "backward", lambda loss, **kw: (backward.append(loss.item()), real_backward(loss, **kw))[1]
    )
    rows = _metrics(tr.train())
    assert batches == [0, 1, 2, 3]  # 2 steps x 2 mini-batches, one PTX batch each
    # per mini-batch: actor backward, reward critic, cost critic; the actor's is PPO + 3 x PTX
    actor_backward = backward[0::3]
    assert len(backward) == 12 and actor_backward == pytest.approx([p + 3.0 * x for p, x in zip(ppo, ptx)], abs=1e-5)
    assert rows[0]["ptx_loss"] == pytest.approx((ptx[0] + ptx[1]) / 2, abs=1e-6)


def test_ptx_coefficient_weighs_the_step_only_in_joint_mode(tmp_path):
    """A separate PTX step is clipped to max_grad_norm on its own, so once the supervised gradient reaches the clip,
    coefficients 4 and 6 give the same actor; in joint mode they weigh the supervised loss against PPO's."""

    def actor_after(tag, mode, coeff):
        tr = _ptx_trainer(tmp_path / tag, ptx_mode=mode, ptx_coeff=coeff, max_grad_norm=1e-3)
        tr.train()
        return torch.cat([v.flatten() for v in tr._actor_trainable_state().values()])

    torch.testing.assert_close(
        actor_after("s4", "separate", 4.0), actor_after("s6", "separate", 6.0), atol=1e-6, rtol=0
    )
    assert not torch.allclose(actor_after("j4", "joint", 4.0), actor_after("j6", "joint", 6.0), atol=1e-6, rtol=0)


def test_load_prompts_from_jsonl_with_images_and_bad_rows(tmp_path):
    from safealign.errors import DataError
    from safealign.train.ppo_lag import load_prompts

    solid_image().save(tmp_path / "red.png")
    f = tmp_path / "p.jsonl"
    f.write_text(
        json.dumps({"prompt": "what is this?", "image": "red.png", "category": "violence", "label": "harmful"})
        + "\n"
        + json.dumps({"question": "hi", "system": "Be brief."})
        + "\n"
    )
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
    by_prompt = {r.prompt: r for r in demo}
    # the label comes from the prompt, not the responses: a harmful prompt answered by two refusals stays harmful,
    # a benign prompt with one unsafe answer stays benign
    assert by_prompt["Quick question: what's the best method to tamper with someone's brakes?"].label == "harmful"
    assert by_prompt["How do I kill a Python process that is frozen?"].label == "benign"
    assert sum(r.label == "harmful" for r in demo) == 192


def test_vision_rollout_never_samples_the_image_placeholder():
    """A sampled <image> token would make every later forward with pixel values fail (image features != tokens)."""
    from safealign.train.rollout import image_token_id_of

    actor, proc = tiny_vlm(0)
    image_token = image_token_id_of(actor)
    assert image_token is not None
    with torch.no_grad():  # make the placeholder by far the most likely next token everywhere
        actor.lm_head.weight[image_token] = actor.lm_head.weight.abs().max() * 50
    prompts = [PromptRecord(prompt=f"what is in image {i}?", image=solid_image((60 * i, 90, 30))) for i in range(2)]
    ro = generate_rollout(actor, proc, prompts, max_new_tokens=6, temperature=1.0)
    response = ro.input_ids[:, ro.prompt_len :]
    assert ro.response_mask.sum() > 0
    assert not (response[ro.response_mask.bool()] == image_token).any()
    # the policy log-probs still come from the raw logits and are finite
    assert torch.isfinite(ro.log_probs).all()


# ------------------------------------------------------------------------------------------ shared frozen trunk


def _frozen_copy(kind: str, layers_changed=(), norm=False, embeddings=False, seed=0, n_layers=3) -> ScoreModel:
    """A score model on the tiny actor's own base weights (same seed) with only the listed decoder layers, optionally
    the final norm / the embeddings, and its head changed: R or C after ``train_mode: top``."""
    m = ScoreModel(tiny_lm(seed, layers=n_layers)[0], ScoreConfig(kind=kind))
    g = torch.Generator().manual_seed(11 if kind == "reward" else 12)
    bump = lambda p: p.add_(0.05 * torch.randn(p.shape, generator=g))  # noqa: E731
    with torch.no_grad():
        for i in layers_changed:
            for p in m.backbone.layers[i].parameters():
                bump(p)
        if norm:
            bump(m.backbone.norm.weight)
        if embeddings:
            bump(m.backbone.embed_tokens.weight)
        bump(m.head.weight)
    return m


def _shared_trainer(tmp_path, r_layers=(2,), c_layers=(2,), r_kw=None, c_kw=None, **kw) -> PPOLagTrainer:
    actor, tok = tiny_lm(0, layers=3)
    base = dict(output_dir=str(tmp_path), steps=2, batch_size=2, max_new_tokens=6, progress=False, tensorboard=False)
    base.update(kw)
    rm = _frozen_copy("reward", r_layers, norm=True, **(r_kw or {}))
    cm = _frozen_copy("cost", c_layers, **(c_kw or {}))
    return PPOLagTrainer(PPOLagConfig(**base), actor, tok, rm, cm, PROMPTS)


@pytest.mark.parametrize(
    "r_layers, c_layers, extra, depth",
    [
        ((2,), (2,), {}, 2),  # the demo recipe: R and C trained only their top layer (+ norm + head)
        ((2,), (1, 2), {}, 1),  # the smallest shared prefix wins
        ((), (), {}, 3),  # heads (and R's final norm) only: every layer is shared
        ((0, 2), (2,), {}, 0),  # layer 0 differs
        ((2,), (2,), {"r_kw": {"embeddings": True}}, 0),  # the embeddings differ
        ((2,), (2,), {"c_kw": {"seed": 5}}, 0),  # another base model altogether
        ((2,), (2,), {"share_frozen_trunk": False}, 0),  # turned off
        ((2,), (2,), {"use_lora": False}, 2),  # full fine-tuning: the frozen reference copy shares the trunk
    ],
)
def test_shared_trunk_depth_is_detected(tmp_path, capsys, r_layers, c_layers, extra, depth):
    tr = _shared_trainer(tmp_path, r_layers, c_layers, **extra)
    assert tr.shared_trunk_depth == depth
    err = capsys.readouterr().err
    assert (
        "shared frozen trunk: "
        + (f"K={depth} of 3 layers" if depth else ("off" if "share_frozen_trunk" in extra else "K=0"))
        in err
    )


def test_seeds_differ_by_default_so_nothing_is_shared(tmp_path):
    assert _trainer(tmp_path).shared_trunk_depth == 0  # R and C of the other tests are other random models


def _layer_calls(modules) -> tuple[list[int], list]:
    calls = [0] * len(modules)
    handles = []
    for i, m in enumerate(modules):
        handles.append(m.register_forward_hook(lambda *a, i=i: calls.__setitem__(i, calls[i] + 1)))
    return calls, handles


@pytest.mark.parametrize(
    "r_layers, c_layers, critic, use_lora",
    [
        ((2,), (2,), {}, True),  # head critics read the final states
        ((2,), (2,), {"critic_mode": "top", "critic_top_layers": 1}, True),  # top states enter layer 2 = K
        (
            (2,),
            (2,),
            {"critic_mode": "top", "critic_top_layers": 2},
            True,
        ),  # ... layer 1 < K: kept from the shared trunk
        (
            (2,),
            (1, 2),
            {"critic_mode": "top", "critic_top_layers": 1},
            True,
        ),  # ... layer 2 > K = 1: from the model's own layers
        ((), (), {"critic_mode": "top", "critic_top_layers": 3}, True),  # K = n: the embeddings, tails are norm + heads
        ((2,), (2,), {}, False),  # full fine-tuning: the reference is a frozen copy
    ],
    ids=["head", "top1", "top2-below-K", "top1-above-K", "all-shared", "full-ft"],
)
def test_shared_trunk_scoring_equals_three_full_forwards(tmp_path, r_layers, c_layers, critic, use_lora):
    tr = _shared_trainer(tmp_path, r_layers, c_layers, use_lora=use_lora, **critic)
    K = tr.shared_trunk_depth
    assert K == (3 if not r_layers else min(min(r_layers), min(c_layers)))
    actor = tr.unwrapped_actor
    if use_lora:  # a trained adapter: the reference must be the adapter-DISABLED base
        with torch.no_grad():
            for n, p in actor.named_parameters():
                if "lora_B" in n:
                    p.add_(0.2 * torch.randn_like(p))
    tok = tr.processing_class
    torch.manual_seed(0)
    ro = generate_rollout(actor, tok, PROMPTS, max_new_tokens=8, temperature=1.0)
    ro = _right_pad(_right_pad(ro, row=1, keep=3, pad_id=tok.pad_token_id), row=3, keep=5, pad_id=tok.pad_token_id)
    assert ro.attention_mask[:, : ro.prompt_len].eq(0).any()  # left-padded prompts
    assert len(set(ro.response_mask.sum(-1).tolist())) > 1  # right-padded responses of different lengths
    from safealign.models.trunk import decoder_layers

    full = tr._scoring(ro, 0)
    ref_layers = decoder_layers(tr.ref_model if tr.ref_model is not None else actor)[1]
    r_layers_mod, c_layers_mod = tr.reward_model.backbone.layers, tr.cost_model.backbone.layers
    calls, handles = _layer_calls(
        [r_layers_mod[0], c_layers_mod[0], ref_layers[0]] + ([c_layers_mod[K]] if K < 3 else [])
    )
    shared = tr._scoring(ro)
    for h in handles:
        h.remove()
    # the lower layers ran once (R's copy), never for C or the reference; the layers above K ran for each model
    assert calls[:3] == [1, 0, 0] and calls[3:] in ([1], [])
    if use_lora:
        own, _ = policy_log_probs(actor, ro)
        assert not torch.allclose(own, full[0], atol=1e-3)  # the adapter really changes the policy
    torch.testing.assert_close(shared[0], full[0], atol=1e-5, rtol=0)
    assert (shared[0][ro.response_mask == 0] == 0).all()
    for a, b in zip(shared[1:], full[1:]):
        torch.testing.assert_close(a.end_scores, b.end_scores, atol=1e-5, rtol=0)
        assert a.hidden is not None and a.hidden.shape == b.hidden.shape
        torch.testing.assert_close(a.hidden, b.hidden, atol=1e-5, rtol=0)
    # and the values the critics compute from those states
    for critic_mod, a, b in ((tr.reward_critic, shared[1], full[1]), (tr.cost_critic, shared[2], full[2])):
        with torch.no_grad():
            torch.testing.assert_close(critic_mod(ro, a.hidden), critic_mod(ro, b.hidden), atol=1e-5, rtol=0)


@pytest.mark.parametrize("critic", [{}, {"critic_mode": "top", "critic_top_layers": 1}], ids=["head", "top"])
def test_two_steps_same_metrics_with_and_without_the_shared_trunk(tmp_path, critic):
    runs = {}
    for share in (True, False):
        tr = _shared_trainer(
            tmp_path / str(share), share_frozen_trunk=share, batch_size=4, mini_batches=2, seed=3, **critic
        )
        assert tr.shared_trunk_depth == (2 if share else 0)
        runs[share] = (_metrics(tr.train()), _state(tr))
    (m_on, s_on), (m_off, s_off) = runs[True], runs[False]
    assert len(m_on) == len(m_off) == 2
    for a, b in zip(m_on, m_off):
        assert a.keys() == b.keys()
        for k in a:
            if not k.startswith("time/"):
                assert a[k] == pytest.approx(b[k], abs=1e-5, rel=1e-5), k
    assert s_on.keys() == s_off.keys()
    for k in s_on:
        torch.testing.assert_close(s_on[k], s_off[k], atol=1e-5, rtol=1e-5, msg=k)


# ------------------------------------------------------------------------------- scoring in the training format


def _hand_rollout(tok, records, responses, eos_rows, T):
    """A left-padded prompt batch followed by the given responses, each cut at T tokens (truncated) or ended with EOS
    and right-padded, as ``generate_rollout`` lays them out; also returns the decoded responses (without the EOS)."""
    from safealign.train.rollout import encode_prompts

    enc = encode_prompts(records, tok)
    rows, texts = [], []
    for text, eos in zip(responses, eos_rows):
        ids = tok(text, add_special_tokens=False)["input_ids"][: T - 1 if eos else T] + (
            [tok.eos_token_id] if eos else []
        )
        texts.append(tok.decode(ids, skip_special_tokens=True))
        rows.append(ids + [tok.pad_token_id] * (T - len(ids)))
    resp = torch.tensor(rows)
    mask = response_mask_from_ids(resp, [tok.eos_token_id])
    P = enc["input_ids"].size(1)
    ro = Rollout(torch.cat([enc["input_ids"], resp], 1), torch.cat([enc["attention_mask"], mask.long()], 1), P, mask)
    return ro, texts


SCORED = [PROMPTS[1], PROMPTS[0], PROMPTS[3]]
SCORED_RESPONSES = ["Sure, first you mix flour and water", "Hello!", "Four, since two plus two is four"]
SCORED_EOS = [False, True, False]  # truncated mid-sentence / ended with EOS / truncated


def test_assistant_suffix_and_scoring_view():
    from safealign.train.rollout import assistant_suffix_ids, with_turn_suffix

    _, tok = tiny_lm(0)
    suffix = assistant_suffix_ids(tok)
    assert suffix == tok("<|im_end|>\n", add_special_tokens=False)["input_ids"] and suffix[0] == tok.eos_token_id
    plain = tiny_lm(0)[1]
    plain.chat_template = "{% for m in messages %}{{ m['role'] + ': ' + m['content'] }}{% endfor %}"
    assert assistant_suffix_ids(plain) == []  # a template without an end-of-turn suffix
    ro, _ = _hand_rollout(tok, SCORED, SCORED_RESPONSES, SCORED_EOS, T=11)
    assert with_turn_suffix(ro, [], [tok.eos_token_id]) is ro
    view = with_turn_suffix(ro, suffix, [tok.eos_token_id], tok.pad_token_id)
    P, T, S = ro.prompt_len, 11, len(suffix)
    assert view.input_ids.shape == (3, P + T + S) and view.prompt_len == P and view.response_mask is ro.response_mask
    for i in range(3):
        n = int(ro.response_mask[i].sum())
        real = view.input_ids[i][view.attention_mask[i].bool()].tolist()
        kept = ro.input_ids[i][ro.attention_mask[i].bool()].tolist()
        # truncated: prompt + response + the whole suffix; ended with the EOS = the suffix's first token: only the rest
        assert real == kept + (suffix[1:] if SCORED_EOS[i] else suffix)
        assert view.attention_mask[i, : P + n].tolist() == ro.attention_mask[i, : P + n].tolist()
        assert (view.input_ids[i][view.attention_mask[i] == 0] == tok.pad_token_id).all()
    # the response tokens of every row are those generated, wherever the mask is on
    assert torch.equal(view.response_ids * ro.response_mask.long(), ro.response_ids * ro.response_mask.long())


TRAINERS = {
    "plain-head": lambda p: _trainer(p),
    "plain-full": lambda p: _trainer(p, critic_mode="full", use_lora=False),
    "shared-head": lambda p: _shared_trainer(p),
    "shared-top2": lambda p: _shared_trainer(p, critic_mode="top", critic_top_layers=2),
}


@pytest.mark.parametrize("kind", list(TRAINERS))
def test_ppo_end_scores_equal_the_training_format_scorer(tmp_path, kind):
    from safealign.models.score import score_texts

    tr = TRAINERS[kind](tmp_path)
    assert tr.shared_trunk_depth == (2 if kind.startswith("shared") else 0)
    tok = tr.processing_class
    ro, texts = _hand_rollout(tok, SCORED, SCORED_RESPONSES, SCORED_EOS, T=11)
    assert ro.response_mask.sum(-1).tolist() == [11, 7, 11]  # two truncated rows, one EOS row right-padded
    assert ro.attention_mask[:, : ro.prompt_len].eq(0).any()  # left-padded prompts
    prompts, systems = [r.prompt for r in SCORED], [r.system for r in SCORED]
    _, r_out, c_out = tr._scoring(ro)
    for model, out in ((tr.reward_model, r_out), (tr.cost_model, c_out)):
        expected = score_texts(model, tok, prompts, texts, systems, all_outputs=True)
        torch.testing.assert_close(out.end_scores.cpu(), expected, atol=1e-5, rtol=0)
    # read at the last generated token instead (the old behaviour), the scores are not those of the training format
    tr.score_suffix_ids = []
    _, r_old, _ = tr._scoring(ro)
    expected = score_texts(tr.reward_model, tok, prompts, texts, systems)
    assert (r_old.end_scores[:, 0].cpu() - expected).abs().min() > 1e-4


@pytest.mark.parametrize("kind", list(TRAINERS))
def test_suffix_changes_no_log_prob_value_or_kl(tmp_path, kind):
    tr = TRAINERS[kind](tmp_path)
    actor, tok = tr.unwrapped_actor, tr.processing_class
    torch.manual_seed(0)
    gen = _right_pad(
        generate_rollout(actor, tok, PROMPTS, max_new_tokens=8, temperature=1.0), row=1, keep=3, pad_id=tok.pad_token_id
    )
    hand, _ = _hand_rollout(tok, SCORED, SCORED_RESPONSES, SCORED_EOS, T=11)
    rc, cc = tr.reward_critic, tr.cost_critic
    suffix_ids = tr.score_suffix_ids
    assert suffix_ids
    for ro in (gen, hand):
        old_lp = policy_log_probs(actor, ro)[0]
        runs = []
        for suffix in (suffix_ids, []):
            tr.score_suffix_ids = suffix
            with torch.no_grad():
                ref_lp, r_out, c_out = tr._scoring(ro)
                runs.append(
                    (
                        ref_lp, rc(ro, r_out.hidden), cc(ro, c_out.hidden),
                        ((old_lp - ref_lp) * ro.response_mask).sum(-1), r_out.end_scores,
                    )
                )
        (ref_a, rv_a, cv_a, kl_a, end_a), (ref_b, rv_b, cv_b, kl_b, end_b) = runs
        for a, b in ((ref_a, ref_b), (rv_a, rv_b), (cv_a, cv_b), (kl_a, kl_b)):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
        assert (ref_a[ro.response_mask == 0] == 0).all() and (rv_a[ro.response_mask == 0] == 0).all()
        assert not torch.allclose(end_a, end_b, atol=1e-4)  # ... while the end scores did move
        tr.score_suffix_ids = suffix_ids
