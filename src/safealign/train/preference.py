"""Preference training on system-message pairs: DPO (TRL ``DPOTrainer``) and ORPO (TRL ``ORPOTrainer``, which lives
in ``trl.experimental.orpo`` in TRL 1.16). One code path; the method picks the TRL config/trainer class.

Pairs become conversational preference rows: ``prompt = [system turn, user turn]``, ``chosen``/``rejected`` = one
assistant turn each; the rejected answer is (in Janus data) the gold answer written for another system message.
DPO starts from the SFT model in the paper (``--model runs/janus-sft``); ORPO needs no SFT stage nor reference model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safealign.config import help_field
from safealign.errors import ConfigError
from safealign.train.sft import JanusTrainConfig, _attack_pairs, _shuffle_cap, chat_prompt, load_policy, peft_config, save_trained, train_resumable, trainer_kwargs


@dataclass
class PreferenceTrainConfig(JanusTrainConfig):
    """DPO or ORPO on system-message preference pairs."""

    method: Literal["dpo", "orpo"] = help_field("dpo", "dpo or orpo.")
    output_dir: str = help_field("runs/janus-dpo", "Where the trained model (merged when LoRA) and metrics.json are written.")
    learning_rate: float = help_field(5e-5, "Peak learning rate (paper, full 7B: DPO 5e-7; LoRA on small models needs more).")
    beta: float = help_field(0.1, "DPO: KL strength beta. ORPO: weight of the odds-ratio term (the paper's alpha/lambda, 0.1).")


def preference_rows(cfg: PreferenceTrainConfig) -> list[dict[str, Any]]:
    from safealign.pluralistic.data import load_system_pairs

    pairs = list(load_system_pairs(cfg.data)) + _attack_pairs(cfg)
    rows = [
        {"prompt": chat_prompt(p.system, p.prompt), "chosen": [{"role": "assistant", "content": p.chosen}], "rejected": [{"role": "assistant", "content": p.rejected}]}
        for p in pairs
        if p.chosen.strip() and p.rejected.strip() and p.chosen.strip() != p.rejected.strip()
    ]
    if not rows:
        raise ConfigError(f"no preference pairs in {cfg.data}")
    return _shuffle_cap(rows, cfg)


def _trl_classes(method: str) -> tuple[Any, Any]:
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOConfig, DPOTrainer
    if method == "orpo":
        try:
            from trl import ORPOConfig, ORPOTrainer  # type: ignore[attr-defined]
        except ImportError:  # TRL >= 1.0 moved ORPO to the experimental namespace
            from trl.experimental.orpo import ORPOConfig, ORPOTrainer
        return ORPOConfig, ORPOTrainer
    raise ConfigError(f"method must be dpo or orpo, got {method!r}")


def train_preference(cfg: PreferenceTrainConfig, model: Any = None, tokenizer: Any = None) -> Path:
    """Train with DPO or ORPO; returns the output folder (merged model + tokenizer + metrics.json)."""
    from datasets import Dataset

    ConfigCls, TrainerCls = _trl_classes(cfg.method)
    rows = preference_rows(cfg)
    if model is None:
        model, tokenizer = load_policy(cfg)
    tokenizer.padding_side = "right"
    extra: dict[str, Any] = {"beta": cfg.beta, "max_length": cfg.max_length}
    args = ConfigCls(**trainer_kwargs(cfg, cfg.learning_rate), **extra)
    kw: dict[str, Any] = {}
    if cfg.method == "dpo" and not cfg.lora:
        # full fine-tuning needs a frozen reference copy (with LoRA the adapter-free base serves as reference)
        import copy

        kw["ref_model"] = copy.deepcopy(model).eval().requires_grad_(False)
    trainer = TrainerCls(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer, peft_config=peft_config(cfg), **kw)
    seconds, resumed_from = train_resumable(trainer, cfg)
    return save_trained(trainer, tokenizer, cfg, cfg.method, len(rows), seconds, resumed_from)
