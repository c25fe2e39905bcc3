"""PPO-Lagrangian over system-message prompts, end to end on tiny models; score models read the system turn."""

from __future__ import annotations

import json

import pytest

from safealign.data.records import SystemExample
from safealign.pluralistic.conditioned import PromptMix, attack_framings, ppo_prompt_set


def _prompts(n: int = 8):
    seen = [
        SystemExample(system=f"Answer like pirate number {i}.", prompt=f"tell me about ships {i}", response="arr")
        for i in range(4)
    ]
    unseen = [SystemExample(system="Answer only in lowercase.", prompt="tell me about rivers", response="ok")]
    harmful = ["[redacted harmful request] a", "[redacted harmful request] b"]
    return ppo_prompt_set(
        n, seen, harmful, unseen=unseen, mix=PromptMix(seen=0.5, unseen=0.125, attack=0.25, harmful_plain=0.125), seed=3
    )


def _spy(score_model, sink: list[str], tok):
    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        sink.extend(tok.batch_decode(ids))

    return score_model.backbone.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("constraints", ["single", "prompt_category"])
def test_ppo_lag_end_to_end_on_system_message_prompts(tmp_path, constraints):
    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.testing import tiny_lm
    from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

    actor, tok = tiny_lm(seed=0)
    rm = ScoreModel(tiny_lm(seed=1)[0], ScoreConfig(kind="reward"))
    cm = ScoreModel(tiny_lm(seed=2)[0], ScoreConfig(kind="cost"))
    seen_by_rm: list[str] = []
    seen_by_cm: list[str] = []
    _spy(rm, seen_by_rm, tok)
    _spy(cm, seen_by_cm, tok)

    prompts = _prompts()
    assert sum(1 for p in prompts if p.category.startswith("attack")) == 2
    names = [
        "attack:" + f for f in sorted({p.category.split(":")[1] for p in prompts if p.category.startswith("attack")})
    ] + ["seen"]
    cfg = PPOLagConfig(
        output_dir=str(tmp_path / "run"), steps=2, batch_size=4, max_new_tokens=6, use_lora=False, tensorboard=False,
        progress=False, save_every=0, lambda_init=1.0, cost_threshold=[0.0], seed=0, constraints=constraints,
        constraint_names=names if constraints == "prompt_category" else [],
    )
    if constraints == "prompt_category":
        cfg.cost_threshold = [0.0] * len(names)
    trainer = PPOLagTrainer(cfg, actor=actor, processing_class=tok, reward_model=rm, cost_model=cm, prompts=prompts)
    out = trainer.train()

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert all(v == v for v in r.values())  # no NaN
    lam_keys = [k for k in rows[-1] if k.startswith("lambda")]
    assert lam_keys, rows[-1].keys()
    # both frozen score models read the system messages of the prompts (preference and attack framings)
    attack_texts = {f.text for f in attack_framings("train")}
    batch_systems = {p.system for p in trainer._batch(0) + trainer._batch(1) if p.system}
    assert batch_systems
    for sink in (seen_by_rm, seen_by_cm):
        joined = "\n".join(sink)
        assert "<|im_start|>system" in joined
        for s in batch_systems:
            assert s in joined
    assert len({p.id for p in trainer._batch(0) + trainer._batch(1)}) == len(prompts)  # one epoch: every prompt seen
    assert any(t in "\n".join(seen_by_cm) for t in attack_texts)


@pytest.mark.parametrize(
    "path",
    [
        "configs/cpu-demo/pluralistic_ppo_lag.yaml",
        "configs/gpu-7b/pluralistic_ppo_lag.yaml",
        "configs/gpu-7b/pluralistic_ppo_lag_1gpu.yaml",
    ],
)
def test_recipes_are_valid_ppo_lag_configs(path):
    from pathlib import Path

    from safealign.pluralistic.conditioned import ATTACK_FAMILIES
    from safealign.train.ppo_lag import PPOLagConfig

    repo = Path(__file__).resolve().parents[1]
    cfg = PPOLagConfig.from_yaml(repo / path)
    cfg.validate()
    assert cfg.fixed_lambda is None  # a learned multiplier: PPO-Lagrangian, not reward-only PPO
    if cfg.constraints == "prompt_category":  # names must be categories that ppo_prompt_set produces
        assert set(cfg.constraint_names) == {f"attack:{f}" for f in ATTACK_FAMILIES} | {"harmful"}
        assert len(cfg.cost_threshold) == len(cfg.constraint_names)
