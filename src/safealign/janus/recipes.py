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

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from safealign.config import help_field
from safealign.data.records import SystemPair
from safealign.errors import ConfigError
from safealign.janus.data import as_example, load_system_examples, load_system_pairs
from safealign.models.conversation import build_messages
from safealign.train.trl_runner import (
    TRLTrainConfig,
    build_rows_trainer,
    preference_trainer_classes,
    sft_trainer_parts,
    train_rows,
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


@dataclass
class TrainingRows:
    """The rows a TRL trainer gets, and how many source rows were left out, by reason (reported in metrics.json)."""

    rows: list[dict[str, Any]]
    skipped: dict[str, int] = field(default_factory=dict)


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


def _answer(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def sft_rows(cfg: JanusTrainConfig, attack_pairs: Optional[Sequence[SystemPair]] = None) -> TrainingRows:
    """Conversational prompt/completion rows (system turn included) from ``cfg.data`` (+ the attack refusals); rows
    with an empty answer are left out and counted (``skipped["empty_answer"]``)."""
    examples = [as_example(e) for e in load_system_examples(cfg.data)]
    examples += [as_example(p) for p in _attack_pairs(cfg, attack_pairs)]
    rows = [{"prompt": build_messages(e.prompt, None, e.system), "completion": _answer(e.response)}
            for e in examples if e.response.strip()]
    if not rows:
        raise ConfigError(f"no training rows in {cfg.data}")
    skipped = {"empty_answer": len(examples) - len(rows)}
    return TrainingRows(_shuffle_cap(rows, cfg), {k: v for k, v in skipped.items() if v})


def preference_rows(cfg: PreferenceTrainConfig, attack_pairs: Optional[Sequence[SystemPair]] = None) -> TrainingRows:
    """Conversational preference rows from ``cfg.data`` (+ the attack refusals). Pairs with an empty answer or two
    identical answers carry no preference: left out and counted (``skipped["empty_answer"]``,
    ``skipped["identical_answers"]``)."""
    pairs = list(load_system_pairs(cfg.data)) + _attack_pairs(cfg, attack_pairs)
    rows, skipped = [], {"empty_answer": 0, "identical_answers": 0}
    for p in pairs:
        if not (p.chosen.strip() and p.rejected.strip()):
            skipped["empty_answer"] += 1
        elif p.chosen.strip() == p.rejected.strip():
            skipped["identical_answers"] += 1
        else:
            rows.append({"prompt": build_messages(p.prompt, None, p.system), "chosen": _answer(p.chosen),
                         "rejected": _answer(p.rejected)})
    if not rows:
        raise ConfigError(f"no preference pairs in {cfg.data}")
    return TrainingRows(_shuffle_cap(rows, cfg), {k: v for k, v in skipped.items() if v})


# ------------------------------------------------------------------------------------------- training


def _trainer_parts(cfg: JanusTrainConfig, method: str) -> tuple[Any, Any]:
    """The TRL trainer class of ``method`` (sft, dpo or orpo) and a maker of its arguments."""
    if method == "sft":
        return sft_trainer_parts(cfg, cfg.learning_rate)
    config_cls, trainer_cls = preference_trainer_classes(method)
    return trainer_cls, lambda: config_cls(**trainer_kwargs(cfg, cfg.learning_rate), beta=cfg.beta,
                                           max_length=cfg.max_length)


def build_trainer(cfg: JanusTrainConfig, method: str, data: TrainingRows, model: Any = None,
                  tokenizer: Any = None) -> Any:
    """The TRL trainer of ``method`` on ``data``'s rows, the policy loaded from ``cfg.model`` unless given. Full-weight
    DPO gets a frozen reference copy (with LoRA the adapter-free base serves as reference)."""
    trainer_cls, make_args = _trainer_parts(cfg, method)
    return build_rows_trainer(cfg, data.rows, trainer_cls, make_args, model, tokenizer,
                              reference=method == "dpo" and not cfg.lora)


def _train(cfg: JanusTrainConfig, method: str, data: TrainingRows, model: Any, tokenizer: Any) -> Path:
    """Train ``method`` on ``data`` resumably and save the model (the rows left out counted in metrics.json)."""
    trainer_cls, make_args = _trainer_parts(cfg, method)
    return train_rows(cfg, method, data.rows, trainer_cls, make_args, model, tokenizer,
                      reference=method == "dpo" and not cfg.lora, skipped=data.skipped)


def train_sft(
    cfg: SFTTrainConfig, model: Any = None, tokenizer: Any = None, attack_pairs: Optional[Sequence[SystemPair]] = None
) -> Path:
    """Fine-tune on (system, prompt) -> answer; returns the output folder. ``model``/``tokenizer`` override loading
    ``cfg.model`` (tests pass tiny in-memory models)."""
    return _train(cfg, "sft", sft_rows(cfg, attack_pairs), model, tokenizer)


def train_preference(
    cfg: PreferenceTrainConfig,
    model: Any = None,
    tokenizer: Any = None,
    attack_pairs: Optional[Sequence[SystemPair]] = None,
) -> Path:
    """Train with DPO or ORPO; returns the output folder (merged model + tokenizer + metrics.json)."""
    return _train(cfg, cfg.method, preference_rows(cfg, attack_pairs), model, tokenizer)
