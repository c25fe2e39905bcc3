"""Configuration of reward / cost model training (torch-free, so ``safealign --help`` stays fast).

``RewardTrainConfig`` / ``CostTrainConfig`` are :class:`ScoreTrainConfig` with the defaults of each command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from safealign.config import DRY_RUN_HELP, BaseConfig, help_field
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP


@dataclass
class ScoreTrainConfig(BaseConfig):
    """Train a reward or cost model on safety preference pairs."""

    kind: Literal["reward", "cost"] = help_field(
        "reward", "reward (helpfulness, Bradley-Terry) or cost (harm; cost > 0 means unsafe)."
    )
    model: str = help_field(
        "default",
        "Backbone: 'default' (embedded SmolLM2-135M-Instruct), a hub id or a local path (causal LM or LLaVA-style "
        "VLM).",
    )
    chat_template: str = help_field("auto", CHAT_TEMPLATE_HELP)
    dry_run: bool = help_field(False, DRY_RUN_HELP)
    data: str = help_field(
        "demo:safety_train",
        "Training pairs: 'demo:NAME' (bundled set) or a file/folder in any supported schema (PKU-SafeRLHF, "
        "BeaverTails-V, safealign JSONL); several sources joined by commas are concatenated.",
    )
    eval_data: Optional[str] = help_field(
        "demo:safety_test", "Held-out pairs evaluated at the end (same forms as --data); empty to skip."
    )
    output_dir: str = help_field(
        "runs/reward", "Where the model (HF format + score head + score_config.json), metrics.jsonl and checkpoints go."
    )
    train_mode: Literal["full", "lora", "top", "head"] = help_field(
        "full", "What to train: full backbone, lora adapters, top layers only, or the head only."
    )
    top_layers: int = help_field(
        2, "train_mode=top: how many top decoder layers to train; lora: adapt only the top N layers (0 = all)."
    )
    cache_trunk: bool = help_field(
        False, "train_mode top/head: compute the frozen lower layers once and cache their hidden states (text models)."
    )
    trunk_cache: Optional[str] = help_field(
        None,
        "cache_trunk: also keep the cached states in this file and reuse them in later runs (same backbone, layer, "
        "texts).",
    )
    lora_r: int = help_field(16, "LoRA rank.")
    lora_alpha: int = help_field(32, "LoRA alpha.")
    lora_dropout: float = help_field(0.05, "LoRA dropout.")
    lora_target_modules: list[str] = help_field(
        ["q_proj", "k_proj", "v_proj", "o_proj"], "Module name suffixes that get LoRA adapters."
    )
    epochs: int = help_field(2, "Passes over the training pairs.")
    max_steps: int = help_field(0, "Stop after this many optimiser steps (0 = run all epochs).")
    batch_size: int = help_field(8, "Pairs per device per micro-batch (each pair is two sequences).")
    gradient_accumulation_steps: int = help_field(1, "Micro-batches per optimiser step.")
    learning_rate: float = help_field(2e-5, "Peak learning rate (reference 7B: 2e-5 reward, 3e-5 cost).")
    weight_decay: float = help_field(0.0, "AdamW weight decay (not applied to biases and norms).")
    lr_scheduler: str = help_field(
        "cosine", "transformers schedule name: cosine, linear, constant, constant_with_warmup, ..."
    )
    warmup_ratio: float = help_field(0.03, "Share of steps spent warming up the learning rate.")
    max_grad_norm: float = help_field(1.0, "Gradient clipping (0 = off).")
    regularization: float = help_field(1e-3, "Score regulariser eta * mean(score^2) (reference: 1e-3).")
    severity_weighted: bool = help_field(
        False, "Cost: weight each response's sign term by its severity (minor/moderate/severe)."
    )
    severity_weights: list[float] = help_field(
        [1.0, 1.0, 1.5, 2.0], "Sign-term weights for severity 0 (safe), 1 (minor), 2 (moderate), 3 (severe)."
    )
    unsafe_cost_threshold: float = help_field(
        0.0, "Saved in score_config.json (as threshold): a cost above it means unsafe.", aliases=("threshold",)
    )
    max_length: int = help_field(
        512, "Token limit per sequence (text is cut from the left so the response stays whole)."
    )
    gradient_checkpointing: bool = help_field(
        False, "Recompute activations in the backward pass (less memory, ~30% slower)."
    )
    freeze_vision_tower: bool = help_field(True, "VLMs: keep the vision tower and projector frozen.")
    mixed_precision: str = help_field("auto", "auto (bf16 on a bf16 GPU, fp32 on CPU), no, bf16 or fp16.")
    seed: int = help_field(42, "Seed for the head initialisation, data order and dropout.")
    save_every: int = help_field(0, "Write a checkpoint every N optimiser steps (0 = at the end of each epoch only).")
    resume: bool = help_field(True, "Resume from the latest checkpoint in output_dir when there is one.")
    skip_invalid: bool = help_field(
        False, "Drop invalid rows and contradictory pairs instead of stopping with an error."
    )
    limit: int = help_field(0, "Use at most this many training pairs (0 = all).")
    eval_batch_size: int = help_field(16, "Sequences per batch when evaluating / caching.")
    progress: bool = help_field(True, "Show progress bars.")


@dataclass
class RewardTrainConfig(ScoreTrainConfig):
    """Train a reward model (helpfulness; Bradley-Terry + score regulariser)."""

    kind: Literal["reward", "cost"] = help_field("reward", "Fixed by the command (reward).")
    output_dir: str = help_field(
        "runs/reward", "Where the model (HF format + score head + score_config.json), metrics.jsonl and checkpoints go."
    )


@dataclass
class CostTrainConfig(ScoreTrainConfig):
    """Train a cost model (harm; preference + sign terms, cost > 0 means unsafe)."""

    kind: Literal["reward", "cost"] = help_field("cost", "Fixed by the command (cost).")
    output_dir: str = help_field(
        "runs/cost", "Where the model (HF format + score head + score_config.json), metrics.jsonl and checkpoints go."
    )
    learning_rate: float = help_field(3e-5, "Peak learning rate (reference 7B cost model: 3e-5).")
