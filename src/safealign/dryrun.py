"""Dry runs of training recipes: a config file validated end to end in seconds, on a CPU, without downloads.

A dry run reads the config, builds every model it names from its family's architecture at tiny size, with the
family's real tokenizer settings, special tokens and chat template (:mod:`safealign.models.families`; a base
checkpoint has no template, so the config's ``chat_template`` must name one), runs the trainer's own start-up checks
(template probe, the compatibility check of the models it combines) and ONE training step. Data that is not on this
machine (a hub dataset, a ``data/...`` file made by an earlier command) is replaced by a few bundled rows of the same
kind, and the report says so.

Models are found by name: the default model, a family's hub id or the hub id of its base checkpoint, or an
``output_dir`` of another config in the same folder (a recipe's earlier stage, e.g. PPO's ``runs/gpu-7b/reward``
made by ``reward.yaml``): that config's model, with the template it trains with (saved with the trained model).

One function per trainer kind: :func:`dry_run_score` (reward / cost), :func:`dry_run_trl` (SFT / DPO / ORPO),
:func:`dry_run_ppo` (PPO-Lagrangian); :func:`dry_run_file` picks the kind of a config file.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from safealign.errors import ConfigError

PPO_FIELDS = {"actor", "reward_model", "cost_model"}


@dataclass
class Model:
    """A model a config names, as the dry run builds it."""

    family: str
    base: bool  # a base checkpoint (no chat template of its own)
    chat_template: str  # the template option it is used with
    origin: str  # how the name was resolved


@dataclass
class DryRunReport:
    kind: str
    config: str
    models: dict[str, Model] = field(default_factory=dict)
    readings: dict[str, str] = field(default_factory=dict)
    substitutions: list[str] = field(default_factory=list)
    step: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        models = "; ".join(f"{role}: {m.family}{' (base)' if m.base else ''}, template {m.chat_template}"
                           for role, m in self.models.items())
        reads = "; ".join(f"{r} reads {how}" for r, how in self.readings.items())
        subs = f"; {'; '.join(self.substitutions)}" if self.substitutions else ""
        return f"dry run {self.kind} {self.config}: ok ({models}{'; ' + reads if reads else ''}{subs})"


# ------------------------------------------------------------------------------------------------ resolving models


def _producers(folder: Optional[Path]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """output_dir -> (config file, its fields) of every YAML config in ``folder`` (PPO's actor/ folder too)."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.yaml")) if folder is not None else []:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("output_dir"), str):
            key = str(Path(data["output_dir"]))
            out[key] = (path, data)
            if PPO_FIELDS <= set(data):
                out[str(Path(key) / "actor")] = (path, data)
    return out


def resolve_model(name: str, chat_template: str, folder: Optional[Path], seen: tuple[str, ...] = ()) -> Model:
    """The family of model ``name`` as a config of ``folder`` names it (see the module docstring)."""
    from safealign.models.families import family_of

    try:
        family, base = family_of(name)
        return Model(family, base, chat_template, name)
    except KeyError as e:
        known = str(e).strip("'\"")
    producers = _producers(folder)
    key = str(Path(name))
    if key not in producers or key in seen:
        raise ConfigError(f"dry run: cannot tell which model {name!r} is: {known}, and no config in "
                          f"{folder or 'this folder'} writes it (output_dir)")
    path, data = producers[key]
    inner = resolve_model(str(data.get("actor") or data.get("model") or "default"), data.get("chat_template", "auto"),
                          folder, seen + (key,))
    template = chat_template if chat_template != "auto" else inner.chat_template
    return Model(inner.family, inner.base, template, f"{name} <- {path.name} <- {inner.origin}")


def build_processing_class(model: Model) -> Any:
    """The family's tiny tokenizer (its processor for a vision-language family), without a template for a base
    checkpoint, with the template option applied."""
    from safealign.models.chat_templates import use_chat_template
    from safealign.models.families import is_vision, tiny_processor, tiny_tokenizer

    tok = tiny_tokenizer(model.family)
    if tok.pad_token is None:  # as safealign.models.loading.load_tokenizer does
        tok.pad_token = tok.eos_token
    if model.base:
        tok.chat_template = None
    pc = tiny_processor(model.family, tokenizer=tok) if is_vision(model.family) else tok
    if model.base:
        pc.chat_template = None
    return use_chat_template(pc, model.chat_template)


def _tiny(model: Model, processing_class: Any, seed: int = 0) -> Any:
    from safealign.models.chat_format import tokenizer_of
    from safealign.models.families import tiny_model

    return tiny_model(model.family, seed=seed, tokenizer=tokenizer_of(processing_class))


def _local(spec: Optional[str]) -> bool:
    """Data this machine can read: a bundled demo set or an existing file."""
    return bool(spec) and (spec.startswith("demo:") or Path(spec).exists())


# ------------------------------------------------------------------------------------------------ score models


def dry_run_score(cfg: Any, folder: Optional[Path] = None, config_name: str = "config") -> DryRunReport:
    """A reward / cost model recipe (:class:`safealign.train.score_config.ScoreTrainConfig`): its backbone at tiny
    size, the template probe, one optimiser step on two pairs."""
    from safealign.models.chat_format import chat_format, is_processor
    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.train.score_trainer import ScoreTrainer, load_pairs

    report = DryRunReport(cfg.kind, config_name)
    model = report.models[f"{cfg.kind} model"] = resolve_model(cfg.model, cfg.chat_template, folder)
    pc = build_processing_class(model)
    chat_format(pc, f"the {cfg.kind} model")
    vision = is_processor(pc)
    score = ScoreModel(_tiny(model, pc), ScoreConfig(kind=cfg.kind, is_vision=vision))
    pairs = _pairs(cfg.data, vision, report, load_pairs, cfg.skip_invalid)
    with tempfile.TemporaryDirectory() as tmp:
        small = cfg.replace(output_dir=str(Path(tmp) / "out"), epochs=1, max_steps=1, batch_size=2,
                            gradient_accumulation_steps=1, eval_data=None, save_every=0, mixed_precision="no",
                            progress=False, resume=False, limit=0, trunk_cache=str(Path(tmp) / "trunk.pt"),
                            top_layers=min(cfg.top_layers, 2))
        out = ScoreTrainer(small, score, pc, pairs, []).train()
        import json

        summary = json.loads((out / "train_summary.json").read_text())
    report.step = {"steps": summary["steps"]}
    return report


def _pairs(spec: str, vision: bool, report: DryRunReport, load_pairs: Any, skip_invalid: bool) -> list:
    pairs = list(load_pairs(spec, skip_invalid=skip_invalid, limit=16)) if _local(spec) else []
    pairs = [p for p in pairs if bool(p.images) == vision][:2]
    if len(pairs) < 2:
        from safealign.data.demo import load_demo

        bundled = "vision_train" if vision else "safety_train"
        pairs = list(load_demo(bundled))[:2]
        report.substitutions.append(f"data {spec} is not on this machine: 2 bundled demo:{bundled} pairs used")
    return pairs


# ------------------------------------------------------------------------------------------------ SFT / DPO / ORPO


def dry_run_trl(cfg: Any, method: str, folder: Optional[Path] = None, config_name: str = "config") -> DryRunReport:
    """A Janus SFT / DPO / ORPO recipe (:class:`safealign.janus.recipes.JanusTrainConfig`): the policy at tiny size,
    its rows in the form its template wants (the probe), TRL's tokenization and one optimiser step."""
    from safealign.janus import recipes

    report = DryRunReport(method, config_name)
    model = report.models["policy"] = resolve_model(cfg.model, cfg.chat_template, folder)
    pc = build_processing_class(model)
    data = cfg.data if _local(cfg.data) else "demo:system_train"
    if data != cfg.data:
        report.substitutions.append(f"data {cfg.data} is not on this machine: bundled demo:system_train rows used")
    with tempfile.TemporaryDirectory() as tmp:
        # max_length 2048: the tiny tokenizer is byte-level, so rows are several times longer in tokens
        small = cfg.replace(data=data, output_dir=str(Path(tmp) / "out"), max_steps=1, batch_size=2, grad_accum=1,
                            max_length=2048, max_examples=4, precision="fp32", save_every=0, report_to="none",
                            resume=False, attack_prompts=None, logging_steps=1)
        rows = recipes.sft_rows(small) if method == "sft" else recipes.preference_rows(small)
        trainer = recipes.build_trainer(small, method, rows, _tiny(model, pc), pc)
        result = trainer.train()
    report.step = {"steps": result.global_step, "loss": float(result.training_loss)}
    return report


# ------------------------------------------------------------------------------------------------ PPO-Lagrangian


def dry_run_ppo(cfg: Any, folder: Optional[Path] = None, config_name: str = "config") -> DryRunReport:
    """A PPO-Lagrangian recipe (:class:`safealign.train.ppo_lag.PPOLagConfig`): actor, reward and cost models at
    tiny size, the trainer's start-up checks (templates, the compatibility check, constraint names) and one RL
    step (rollout, scoring, multiplier, actor and critic updates)."""
    from safealign.models.chat_format import is_processor
    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.train.ppo_lag import PPOLagTrainer

    report = DryRunReport("ppo-lag", config_name)
    actor_m = report.models["actor"] = resolve_model(cfg.actor, cfg.chat_template, folder)
    actor_pc = build_processing_class(actor_m)
    scorers = {}
    for role, name, kind in (("reward model", cfg.reward_model, "reward"), ("cost model", cfg.cost_model, "cost")):
        m = report.models[role] = resolve_model(name, "auto", folder)
        pc = build_processing_class(m)
        scorers[kind] = (ScoreModel(_tiny(m, pc, seed=1 if kind == "reward" else 2),
                                    ScoreConfig(kind=kind, is_vision=is_processor(pc))), pc)
    prompts = _prompts(cfg, is_processor(actor_pc), report)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = cfg.replace(output_dir=tmp, steps=1, batch_size=2, mini_batches=1, max_new_tokens=4, save_every=0,
                            tensorboard=False, progress=False, resume=False, ptx_data=None,
                            critic_top_layers=min(cfg.critic_top_layers, 2))
        trainer = PPOLagTrainer(small, _tiny(actor_m, actor_pc), actor_pc, scorers["reward"][0], scorers["cost"][0],
                                prompts, reward_processing_class=scorers["reward"][1],
                                cost_processing_class=scorers["cost"][1])
        report.readings = {"the reward model": "ids" if trainer.reward_processing_class is None else "text",
                           "the cost model": "ids" if trainer.cost_processing_class is None else "text"}
        metrics = trainer.rl_step(trainer.prompts[: small.batch_size])
    report.step = {k: metrics[k] for k in ("reward", "cost", "actor_loss")}
    return report


def _prompts(cfg: Any, vision: bool, report: DryRunReport) -> list:
    """The config's prompts when they are on this machine, else one synthetic prompt per constraint name (so that
    every named constraint has a prompt), with an image for a vision-language actor."""
    from safealign.data.records import PromptRecord
    from safealign.models.families import tiny_image
    from safealign.train.ppo_lag import load_prompts

    if _local(cfg.prompts) or cfg.prompts in ("demo", "demo:eval"):
        return load_prompts(cfg.prompts)
    report.substitutions.append(f"prompts {cfg.prompts} are not on this machine: synthetic prompts used")
    names = cfg.constraint_names or ["harmful"]
    by = "label" if cfg.constraints == "prompt_label" else "category"
    recs = []
    for i, name in enumerate(names + names[:1]):  # at least two prompts
        rec = PromptRecord(prompt=f"dry-run prompt {i}", system="Answer briefly.", label="harmful",
                           image=tiny_image() if vision else None)
        setattr(rec, by, name)
        recs.append(rec)
    return recs


# ------------------------------------------------------------------------------------------------ config files


def config_kind(path: Path, data: dict[str, Any]) -> str:
    """reward | cost | ppo-lag | sft | dpo | orpo for a trainer config, from its fields (and, for the Janus recipes
    that share one config class, the file name)."""
    if PPO_FIELDS & set(data):
        return "ppo-lag"
    if data.get("kind") in ("reward", "cost"):
        return data["kind"]
    stem = path.stem.lower()
    for method in ("orpo", "dpo", "sft"):
        if data.get("method") == method or stem.endswith(method):
            return method
    if stem.endswith(("reward", "cost")):
        return "reward" if stem.endswith("reward") else "cost"
    raise ConfigError(f"{path}: not a trainer config that a dry run knows (reward, cost, sft, dpo, orpo, ppo-lag)")


def dry_run_config(cfg: Any, kind: str) -> DryRunReport:
    """The dry run of a loaded config of trainer ``kind`` (reward, cost, sft, dpo, orpo, ppo-lag); run folders it
    names are resolved through the folder of the file it was read from (``cfg.config_file``)."""
    source = Path(cfg.config_file) if cfg.config_file else None
    folder, name = (source.parent, source.name) if source else (None, "(command line)")
    cfg = cfg.replace(dry_run=False)
    if kind in ("reward", "cost"):
        return dry_run_score(cfg, folder, name)
    if kind == "ppo-lag":
        return dry_run_ppo(cfg, folder, name)
    return dry_run_trl(cfg, kind, folder, name)


def dry_run_file(path: str | Path) -> DryRunReport:
    """The dry run of one config file, by its kind (:func:`config_kind`)."""
    from safealign.utils.yaml_file import read_yaml

    path = Path(path)
    data = read_yaml(path, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of field: value at the top level")
    kind = config_kind(path, data)
    if kind in ("reward", "cost"):
        from safealign.train.score_config import CostTrainConfig, RewardTrainConfig

        cls = RewardTrainConfig if kind == "reward" else CostTrainConfig
        return dry_run_config(cls.from_yaml(path), kind)
    if kind == "ppo-lag":
        from safealign.train.ppo_lag import PPOLagConfig

        return dry_run_config(PPOLagConfig.from_yaml(path), kind)
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig

    if kind == "sft":
        return dry_run_config(SFTTrainConfig.from_yaml(path), kind)
    return dry_run_config(PreferenceTrainConfig.from_yaml(path, {"method": kind}), kind)
