"""Every shipped recipe in configs/ is validated: the trainer configs by a dry run (safealign.dryrun: each model
built from its family at tiny size with the family's real template, the start-up checks, one step), the guard
config and the accelerate launcher configs by their own readers. And the dry run catches what the old recipes got
wrong: a LLaVA actor scored by text-only models, a base checkpoint without a chat template."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from safealign.dryrun import config_kind, dry_run_file, resolve_model
from safealign.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FILES = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))
TRAINERS = [f for f in FILES if not f.startswith("accelerate/") and not f.endswith("guard.yaml")]


def test_every_config_file_is_covered():
    assert FILES and set(FILES) == set(TRAINERS) | {f for f in FILES if f.startswith("accelerate/")} | {
        f for f in FILES if f.endswith("guard.yaml")}


@pytest.mark.parametrize("name", TRAINERS)
def test_trainer_recipe_dry_runs(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = dry_run_file(CONFIGS / name)
    assert report.step, report.line()
    assert report.line().startswith(f"dry run {report.kind} {Path(name).name}: ok")


@pytest.mark.parametrize("name", [f for f in FILES if f.startswith("accelerate/")])
def test_launcher_configs_load(name):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(CONFIGS / name))
    assert cfg.num_processes >= 1 and cfg.compute_environment is not None


@pytest.mark.parametrize("name", [f for f in FILES if f.endswith("guard.yaml")])
def test_guard_config_loads(name):
    from safealign.cli.guard import GuardTrainConfig

    cfg = GuardTrainConfig.from_yaml(CONFIGS / name)
    sources = ("seed", "demo", "lookalikes")
    assert cfg.data and all(d in sources or Path(d).suffix in (".jsonl", ".json") for d in cfg.data)


def test_the_gpu_ppo_recipe_pairs_its_llava_actor_with_llava_score_models():
    text = (CONFIGS / "gpu-7b" / "ppo_lag.yaml").read_text()
    folder = CONFIGS / "gpu-7b"
    actor = resolve_model("llava-hf/llava-1.5-7b-hf", "auto", folder)
    assert "actor: llava-hf/llava-1.5-7b-hf" in text
    for line in ("reward_model: runs/gpu-7b/reward-v", "cost_model: runs/gpu-7b/cost-v"):
        assert line in text
        assert resolve_model(line.split(": ")[1], "auto", folder).family == actor.family == "llava15"


def test_the_old_pairing_of_a_llava_actor_with_text_score_models_fails_in_one_line(tmp_path):
    for name in ("ppo_lag.yaml", "reward.yaml", "cost.yaml"):
        shutil.copy(CONFIGS / "gpu-7b" / name, tmp_path / name)
    ppo = tmp_path / "ppo_lag.yaml"
    ppo.write_text(ppo.read_text().replace("runs/gpu-7b/reward-v", "runs/gpu-7b/reward")
                   .replace("runs/gpu-7b/cost-v", "runs/gpu-7b/cost"))
    with pytest.raises(ConfigError, match="the prompts have images but the reward model is a text-only model") as e:
        dry_run_file(ppo)
    assert "\n" not in str(e.value)


def test_a_base_checkpoint_without_a_template_names_the_flag(tmp_path):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("model: mistral-community/Mistral-7B-v0.2\ndata: demo:system_train\noutput_dir: runs/x\n")
    with pytest.raises(ConfigError, match=r"the policy has no chat template .*--chat-template default\|chatml\|FILE"):
        dry_run_file(cfg)
    assert config_kind(cfg, {"model": "x"}) == "sft"
    with pytest.raises(ConfigError, match="cannot tell which model 'runs/nowhere' is"):
        resolve_model("runs/nowhere", "auto", tmp_path)


def test_the_trainer_commands_take_dry_run(capsys):
    from safealign.cli import main

    with pytest.raises(SystemExit) as done:
        main(["train", "dpo", "--config", str(CONFIGS / "gpu-7b" / "dpo.yaml"), "--dry-run"])
    err = " ".join(capsys.readouterr().err.split())
    assert done.value.code == 0 and "dry run dpo dpo.yaml: ok (policy: mistral_v02 (base), template default" in err
    with pytest.raises(SystemExit) as done:
        main(["train", "sft", "--model", "mistral-community/Mistral-7B-v0.2", "--dry-run"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("error:") == 1 and "--chat-template default|chatml|FILE" in err


PPO_PAIRS = [  # (actor, reward/cost backbone): every vision family end to end, and two text families that differ
    ("llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-7b-hf"),
    ("llava-hf/llava-v1.6-mistral-7b-hf", "llava-hf/llava-v1.6-mistral-7b-hf"),
    ("Qwen/Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-7B-Instruct"),
    ("Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
    ("google/gemma-2-2b-it", "microsoft/Phi-3-mini-4k-instruct"),
]


@pytest.mark.parametrize("actor,scorer", PPO_PAIRS, ids=[f"{a.split('/')[1]}+{s.split('/')[1]}" for a, s in PPO_PAIRS])
def test_a_ppo_step_for_each_vision_family_and_across_text_families(tmp_path, actor, scorer):
    """One PPO-Lagrangian step (rollout, scoring, lambda, actor and critic updates, critic_mode top) with the
    families' real templates; R and C share the actor's ids when they are of its family, else read re-tokenized
    text."""
    for kind in ("reward", "cost"):
        (tmp_path / f"{kind}.yaml").write_text(f"kind: {kind}\nmodel: {scorer}\noutput_dir: runs/{kind}\n")
    cfg = tmp_path / "ppo_lag.yaml"
    cfg.write_text(f"actor: {actor}\nreward_model: runs/reward\ncost_model: runs/cost\nprompts: data/p.jsonl\n"
                   "output_dir: runs/ppo\ncritic_mode: top\ncritic_top_layers: 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = dry_run_file(cfg)
    same = "ids" if actor == scorer else "text"
    assert report.readings == {"the reward model": same, "the cost model": same}
    assert all(v == v for v in report.step.values())
