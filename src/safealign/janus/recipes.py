"""Janus training recipes: SFT, DPO and ORPO on system-message data, run by TRL through
:mod:`safealign.train.trl_runner`.

SFT rows are conversational prompt/completion examples: ``prompt = [system turn, user turn]``,
``completion = [assistant turn]``, so the system message goes through the model's chat template and the loss covers
the answer only. Preference rows have the same prompt and ``chosen``/``rejected`` = one assistant turn each; the
rejected answer is (in Janus data) the gold answer written for another system message. DPO starts from the SFT model
in the paper (``--model runs/janus-sft``); ORPO (TRL ``ORPOTrainer``) needs no SFT stage nor reference model.

Attack refusals (``attack_prompts``): harmful prompts under attack system messages answered by a refusal in the
requested style. Those pairs are built by :func:`safealign.pluralistic.attacks.attack_pairs_for` (pluralistic safety
sits above Janus) and handed to :func:`train_sft` / :func:`train_preference` as ``attack_pairs``; the CLI does it.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from safealign.config import help_field
from safealign.data.records import SystemPair
from safealign.errors import ConfigError
from safealign.janus.data import as_example, load_system_examples, load_system_pairs
from safealign.train.trl_runner import (
    TRLTrainConfig,
    load_policy,
    peft_config,
    preference_trainer_classes,
    save_trained,
    train_resumable,
    trainer_kwargs,
)


@dataclass
class JanusTrainConfig(TRLTrainConfig):
    """Fields shared by SFT, DPO and ORPO on system-message data."""

    output_dir: str = help_field(
        "runs/janus", "Where the trained model (merged when LoRA) and metrics.json are written."
    )
    data: str = help_field(
        "demo:system_train", "Training data: 'demo:<name>' or a Multifaceted-Collection(-DPO) JSONL file."
    )
    max_examples: Optional[int] = help_field(None, "Use at most N training rows (after shuffling with the seed).")
    attack_prompts: Optional[str] = help_field(
        None,
        "Optional harmful prompts (.txt/.json/.jsonl/.csv) wrapped in attack system messages; adds 'styled refusal' "
        "examples.",
    )
    attack_pairs_per_prompt: int = help_field(1, "Attack framings per harmful prompt when --attack-prompts is set.")


@dataclass
class SFTTrainConfig(JanusTrainConfig):
    """Supervised fine-tuning on system-message data."""

    output_dir: str = help_field(
        "runs/janus-sft", "Where the trained model (merged when LoRA) and metrics.json are written."
    )
    learning_rate: float = help_field(2e-4, "Peak learning rate (paper, full 7B fine-tuning: 5e-6; LoRA needs more).")


@dataclass
class PreferenceTrainConfig(JanusTrainConfig):
    """DPO or ORPO on system-message preference pairs."""

    method: Literal["dpo", "orpo"] = help_field("dpo", "dpo or orpo.")
    output_dir: str = help_field(
        "runs/janus-dpo", "Where the trained model (merged when LoRA) and metrics.json are written."
    )
    learning_rate: float = help_field(
        5e-5, "Peak learning rate (paper, full 7B: DPO 5e-7; LoRA on small models needs more)."
    )
    beta: float = help_field(
        0.1, "DPO: KL strength beta. ORPO: weight of the odds-ratio term (the paper's alpha/lambda, 0.1)."
    )


@dataclass
class DPOTrainConfig(PreferenceTrainConfig):
    """DPO on system-message pairs (chosen = answer for this system message, rejected = answer for another)."""

    method: Literal["dpo", "orpo"] = help_field("dpo", "Fixed to dpo by this command.")


@dataclass
class ORPOTrainConfig(PreferenceTrainConfig):
    """ORPO on system-message pairs (no reference model, no SFT stage needed)."""

    method: Literal["dpo", "orpo"] = help_field("orpo", "Fixed to orpo by this command.")
    output_dir: str = help_field(
        "runs/janus-orpo", "Where the trained model (merged when LoRA) and metrics.json are written."
    )
    learning_rate: float = help_field(1e-4, "Peak learning rate.")


# ----------------------------------------------------------------------------------------------- data


def chat_prompt(system: Optional[str], prompt: str) -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


def _attack_pairs(cfg: JanusTrainConfig, given: Optional[Sequence[SystemPair]]) -> list[SystemPair]:
    if given is None and cfg.attack_prompts:
        raise ConfigError(
            "attack_prompts is set but no attack pairs were given: pass "
            "attack_pairs=safealign.pluralistic.attacks.attack_pairs_for(cfg) (the CLI does)"
        )
    return list(given or [])


def _shuffle_cap(rows: list[Any], cfg: JanusTrainConfig) -> list[Any]:
    rows = list(rows)
    random.Random(cfg.seed).shuffle(rows)
    return rows[: cfg.max_examples] if cfg.max_examples is not None else rows


def sft_rows(cfg: JanusTrainConfig, attack_pairs: Optional[Sequence[SystemPair]] = None) -> list[dict[str, Any]]:
    """Conversational prompt/completion rows (system turn included) from ``cfg.data`` (+ the attack refusals)."""
    examples = [as_example(e) for e in load_system_examples(cfg.data)]
    examples += [as_example(p) for p in _attack_pairs(cfg, attack_pairs)]
    rows = [
        {"prompt": chat_prompt(e.system, e.prompt), "completion": [{"role": "assistant", "content": e.response}]}
        for e in examples
        if e.response.strip()
    ]
    if not rows:
        raise ConfigError(f"no training rows in {cfg.data}")
    return _shuffle_cap(rows, cfg)


def preference_rows(
    cfg: PreferenceTrainConfig, attack_pairs: Optional[Sequence[SystemPair]] = None
) -> list[dict[str, Any]]:
    """Conversational preference rows from ``cfg.data`` (+ the attack refusals); identical answers are dropped."""
    pairs = list(load_system_pairs(cfg.data)) + _attack_pairs(cfg, attack_pairs)
    rows = [
        {
            "prompt": chat_prompt(p.system, p.prompt),
            "chosen": [{"role": "assistant", "content": p.chosen}],
            "rejected": [{"role": "assistant", "content": p.rejected}],
        }
        for p in pairs
        if p.chosen.strip() and p.rejected.strip() and p.chosen.strip() != p.rejected.strip()
    ]
    if not rows:
        raise ConfigError(f"no preference pairs in {cfg.data}")
    return _shuffle_cap(rows, cfg)


# ------------------------------------------------------------------------------------------- training


def _train(cfg: JanusTrainConfig, method: str, rows: list[dict[str, Any]], trainer_cls: Any, make_args: Any, model: Any,
           tokenizer: Any, reference: bool = False) -> Path:
    """Load the policy (unless given), run ``trainer_cls`` on ``rows`` with ``make_args()`` resumably, save it.
    ``reference``: hand the trainer a frozen copy of the starting model (full-weight DPO)."""
    from datasets import Dataset

    if model is None:
        model, tokenizer = load_policy(cfg)
    tokenizer.padding_side = "right"
    args = make_args()
    kw: dict[str, Any] = {}
    if reference:
        kw["ref_model"] = copy.deepcopy(model).eval().requires_grad_(False)
    trainer = trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                          peft_config=peft_config(cfg), **kw)
    seconds, resumed_from = train_resumable(trainer, cfg)
    return save_trained(trainer, tokenizer, cfg, method, len(rows), seconds, resumed_from)


def train_sft(
    cfg: SFTTrainConfig, model: Any = None, tokenizer: Any = None, attack_pairs: Optional[Sequence[SystemPair]] = None
) -> Path:
    """Fine-tune on (system, prompt) -> answer; returns the output folder. ``model``/``tokenizer`` override loading
    ``cfg.model`` (tests pass tiny in-memory models)."""
    from trl import SFTConfig, SFTTrainer

    rows = sft_rows(cfg, attack_pairs)
    return _train(cfg, "sft", rows, SFTTrainer, lambda: SFTConfig(
        **trainer_kwargs(cfg, cfg.learning_rate), max_length=cfg.max_length, packing=False, completion_only_loss=True,
        dataset_num_proc=None), model, tokenizer)


def train_preference(
    cfg: PreferenceTrainConfig,
    model: Any = None,
    tokenizer: Any = None,
    attack_pairs: Optional[Sequence[SystemPair]] = None,
) -> Path:
    """Train with DPO or ORPO; returns the output folder (merged model + tokenizer + metrics.json). Full-weight DPO
    gets a frozen reference copy (with LoRA the adapter-free base serves as reference)."""
    config_cls, trainer_cls = preference_trainer_classes(cfg.method)
    rows = preference_rows(cfg, attack_pairs)
    return _train(cfg, cfg.method, rows, trainer_cls, lambda: config_cls(
        **trainer_kwargs(cfg, cfg.learning_rate), beta=cfg.beta, max_length=cfg.max_length), model, tokenizer,
        reference=cfg.method == "dpo" and not cfg.lora)
