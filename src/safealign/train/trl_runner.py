"""Run a TRL trainer (SFTTrainer, DPOTrainer, ORPOTrainer) the house's way: the policy loaded with its tokenizer, LoRA
(peft, merged into the saved model by default) or full fine-tuning, TrainingArguments from one config, resumable from
the newest complete checkpoint of a work folder, and an atomic save of the model, tokenizer, config and metrics. It
runs under ``accelerate launch`` unchanged (TRL/accelerate handle the processes; the main process writes the
checkpoint). The recipes that build the rows (Janus SFT / DPO / ORPO) live in :mod:`safealign.janus.recipes`.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from safealign.config import DRY_RUN_HELP, BaseConfig, help_field
from safealign.errors import ConfigError
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP
from safealign.ui import library_bars_enabled
from safealign.utils.atomic import replace_dir


@dataclass
class TRLTrainConfig(BaseConfig):
    """What running a TRL trainer needs: the model, LoRA, the optimisation schedule, precision, checkpoints."""

    model: str = help_field("default", "Model to train: 'default', a hub id or a local path.")
    chat_template: str = help_field("auto", CHAT_TEMPLATE_HELP)
    dry_run: bool = help_field(False, DRY_RUN_HELP)
    output_dir: str = help_field("runs/trl", "Where the trained model (merged when LoRA) and metrics.json are written.")
    lora: bool = help_field(True, "Train LoRA adapters (peft) instead of all weights.")
    lora_r: int = help_field(16, "LoRA rank.")
    lora_alpha: int = help_field(32, "LoRA alpha.")
    lora_dropout: float = help_field(0.0, "LoRA dropout.")
    lora_target: str = help_field("all-linear", "LoRA target modules: 'all-linear' or comma-separated module names.")
    merge_lora: bool = help_field(
        True, "Merge the adapters into the saved model (loadable with --model PATH everywhere)."
    )
    num_epochs: float = help_field(1.0, "Training epochs.")
    max_steps: int = help_field(-1, "Stop after this many optimizer steps (-1 = run all epochs).")
    batch_size: int = help_field(4, "Per-device batch size.")
    grad_accum: int = help_field(1, "Gradient accumulation steps.")
    max_length: int = help_field(512, "Maximum tokens per example (prompt + answer).")
    warmup_ratio: float = help_field(0.0, "Fraction of steps for learning-rate warm-up.")
    lr_scheduler: str = help_field("linear", "Learning-rate schedule (linear, cosine, constant, ...).")
    gradient_checkpointing: bool = help_field(False, "Recompute activations to save memory (slower; for large models).")
    precision: str = help_field("auto", "auto (bf16 on a GPU that supports it, else fp32), bf16, fp16 or fp32.")
    logging_steps: int = help_field(5, "Log the loss every N steps.")
    seed: int = help_field(0, "Random seed (data order, LoRA init).")
    report_to: str = help_field("none", "Where trainers report: none, tensorboard, wandb.")
    save_every: int = help_field(
        0,
        "Write a resumable checkpoint (weights, optimiser, scheduler, RNG, data position) every N optimiser steps into "
        "the work folder .work-NAME beside output_dir (0 = none); the folder is removed once the model is saved.",
    )
    resume: bool = help_field(
        True, "Continue from the newest complete checkpoint in the work folder when there is one."
    )


# ---------------------------------------------------------------------------------------- model, args


def load_policy(cfg: TRLTrainConfig) -> tuple[Any, Any]:
    from safealign.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(cfg.model, dtype=_dtype(cfg), padding_side="right",
                                          chat_template=cfg.chat_template)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _dtype(cfg: TRLTrainConfig) -> Any:
    import torch

    from safealign.models.loading import default_dtype

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(cfg.precision) or default_dtype()


def peft_config(cfg: TRLTrainConfig) -> Any:
    if not cfg.lora:
        return None
    from peft import LoraConfig

    target: Any = (
        "all-linear"
        if cfg.lora_target == "all-linear"
        else [t.strip() for t in cfg.lora_target.split(",") if t.strip()]
    )
    return LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=target,
        task_type="CAUSAL_LM",
    )


def trainer_kwargs(cfg: TRLTrainConfig, learning_rate: float) -> dict[str, Any]:
    """TrainingArguments shared by the TRL configs (SFTConfig / DPOConfig / ORPOConfig)."""
    import torch

    cuda = torch.cuda.is_available()
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    return dict(
        output_dir=str(Path(cfg.output_dir).with_name(f".work-{Path(cfg.output_dir).name}")),
        learning_rate=learning_rate,
        num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.lr_scheduler,
        gradient_checkpointing=cfg.gradient_checkpointing,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_every > 0 else "no",
        save_steps=max(cfg.save_every, 1),
        save_total_limit=1,  # older checkpoints are removed only after the new one is complete
        report_to=[] if cfg.report_to in ("", "none") else [cfg.report_to],
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=not library_bars_enabled(),
        dataloader_num_workers=0,
    )


# ------------------------------------------------------------------------------------- training, saving


def formatted_rows(tokenizer: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's prompt and answer turns in the form the tokenizer's chat template wants (TRL renders them with it):
    see :func:`safealign.models.chat_format.format_messages` (probes the template first: one line if text would be
    lost)."""
    from safealign.models.chat_format import format_messages

    out = []
    for row in rows:
        new = dict(row)
        for key in ("completion", "chosen", "rejected"):
            if key in row:
                msgs = format_messages(tokenizer, list(row["prompt"]) + list(row[key]), what="the policy")
                n = len(msgs) - len(row[key])
                new["prompt"], new[key] = msgs[:n], msgs[n:]
        out.append(new)
    return out


def build_rows_trainer(cfg: TRLTrainConfig, rows: Sequence[dict[str, Any]], trainer_cls: Any, make_args: Any,
                       model: Any = None, tokenizer: Any = None, reference: bool = False) -> Any:
    """``trainer_cls`` with ``make_args()`` on ``rows`` (dicts in TRL's conversational format, put in the form the
    chat template wants; TRL tokenizes them), the policy loaded from ``cfg.model`` unless given. ``reference``: hand
    the trainer a frozen copy of the starting model (full-weight DPO; with LoRA the adapter-free base serves)."""
    import copy

    from datasets import Dataset

    if model is None:
        model, tokenizer = load_policy(cfg)
    tokenizer.padding_side = "right"
    formatted = formatted_rows(tokenizer, rows)
    args = make_args()
    kw: dict[str, Any] = {}
    if reference:
        kw["ref_model"] = copy.deepcopy(model).eval().requires_grad_(False)
    return trainer_cls(model=model, args=args, train_dataset=Dataset.from_list(formatted), processing_class=tokenizer,
                       peft_config=peft_config(cfg), **kw)


def train_rows(cfg: TRLTrainConfig, method: str, rows: Sequence[dict[str, Any]], trainer_cls: Any, make_args: Any,
               model: Any = None, tokenizer: Any = None, reference: bool = False,
               skipped: Optional[dict[str, int]] = None) -> Path:
    """Build the trainer (:func:`build_rows_trainer`), run it resumably and save the model (:func:`save_trained`;
    ``skipped``: source rows left out, by reason)."""
    trainer = build_rows_trainer(cfg, rows, trainer_cls, make_args, model, tokenizer, reference)
    seconds, resumed_from = train_resumable(trainer, cfg)
    return save_trained(trainer, trainer.processing_class, cfg, method, len(rows), seconds, resumed_from,
                        skipped=skipped)


def sft_trainer_parts(cfg: TRLTrainConfig, learning_rate: float) -> tuple[Any, Any]:
    """TRL's SFTTrainer and a maker of its arguments: loss on the completion only, no packing."""
    from trl import SFTConfig, SFTTrainer

    return SFTTrainer, lambda: SFTConfig(**trainer_kwargs(cfg, learning_rate), max_length=cfg.max_length,
                                         packing=False, completion_only_loss=True, dataset_num_proc=None)


def train_sft_rows(cfg: TRLTrainConfig, rows: Sequence[dict[str, Any]], learning_rate: float, model: Any = None,
                   tokenizer: Any = None, skipped: Optional[dict[str, int]] = None) -> Path:
    """Supervised fine-tuning on conversational prompt/completion rows (loss on the completion only)."""
    trainer_cls, make_args = sft_trainer_parts(cfg, learning_rate)
    return train_rows(cfg, "sft", rows, trainer_cls, make_args, model, tokenizer, skipped=skipped)


def train_resumable(trainer: Any, cfg: TRLTrainConfig) -> tuple[float, Optional[str]]:
    """``trainer.train()``, continuing from the newest complete checkpoint of the work folder when ``cfg.resume``
    (complete: transformers writes ``trainer_state.json`` last). Returns (seconds, the checkpoint resumed from)."""
    from safealign.train.common import CHECKPOINT_PREFIX, checkpoint_step, latest_checkpoint

    work = Path(trainer.args.output_dir)
    cp = latest_checkpoint(work) if cfg.resume else None
    if cp is not None and trainer.accelerator.is_main_process:
        # a newer, unfinished checkpoint (a crash while writing) would be kept by the rotation instead of the next one
        for p in work.glob(f"{CHECKPOINT_PREFIX}*"):
            if p.is_dir() and checkpoint_step(p) > checkpoint_step(cp):
                shutil.rmtree(p, ignore_errors=True)
        print(f"resuming from {cp}", flush=True)
    trainer.accelerator.wait_for_everyone()
    t0 = time.time()
    trainer.train(resume_from_checkpoint=str(cp) if cp is not None else None)
    return time.time() - t0, (str(cp) if cp is not None else None)


def save_trained(
    trainer: Any,
    tokenizer: Any,
    cfg: TRLTrainConfig,
    method: str,
    n_rows: int,
    seconds: float,
    resumed_from: Optional[str] = None,
    skipped: Optional[dict[str, int]] = None,
) -> Path:
    """Write the model (LoRA merged unless ``merge_lora`` is off), tokenizer, config and metrics (``skipped``: source
    rows left out, by reason) atomically.

    Every process takes part in ``save_model`` (needed under DeepSpeed/FSDP); only the main process renames the
    finished folder into place, so ``output_dir`` is either the previous complete model or the new one.

    LoRA merge: when every process holds the full weights (one process, DDP, DeepSpeed ZeRO-1/2) the main process
    merges the trained adapters in memory. When the weights are sharded (ZeRO-3, FSDP) no process holds them, so the
    gathered adapter is saved and the main process merges it into the base weights reloaded on the CPU.

    Under FSDP the weights (or the adapter) are gathered here (:func:`safealign.train.sharding.full_state_dict`):
    transformers' ``save_model`` writes nothing at all under FSDP with a sharded state dict (the shipped
    ``configs/accelerate/fsdp.yaml``).
    """
    from safealign.train.sharding import full_state_dict, is_fsdp, sharded_parameters

    out = Path(cfg.output_dir)
    staging = out.with_name(f".tmp-{out.name}")
    acc = trainer.accelerator
    model = trainer.model
    is_peft = hasattr(model, "peft_config")
    if acc.is_main_process and staging.exists():
        shutil.rmtree(staging)
    acc.wait_for_everyone()
    merged = False
    if is_peft and cfg.merge_lora and not sharded_parameters(acc):
        if acc.is_main_process:
            unwrapped = acc.unwrap_model(model)
            unwrapped.merge_and_unload().save_pretrained(staging)
            merged = True
    elif is_fsdp(acc):
        state = full_state_dict(acc, model)  # a collective: every process
        if acc.is_main_process:
            acc.unwrap_model(model).save_pretrained(staging, state_dict=state)  # full weights, or the adapter
    else:
        trainer.save_model(str(staging))  # full weights, or the adapter (merge_lora off, or ZeRO-3 weights)
    acc.wait_for_everyone()
    if is_peft and cfg.merge_lora and not merged and acc.is_main_process:
        merged = merge_saved_adapter(staging, _dtype(cfg))
    if acc.is_main_process:
        tokenizer.save_pretrained(staging)
        history = [h for h in trainer.state.log_history if "loss" in h]
        metrics = {
            "method": method,
            "rows": n_rows,
            "skipped": dict(skipped or {}),
            "steps": trainer.state.global_step,
            "seconds": round(seconds, 1),
            "first_loss": history[0]["loss"] if history else None,
            "final_loss": history[-1]["loss"] if history else None,
            "train_loss": next((h["train_loss"] for h in trainer.state.log_history if "train_loss" in h), None),
            "lora": cfg.lora,
            "merged": merged,
            "processes": acc.num_processes,
            "resumed_from": resumed_from,
            "log_history": trainer.state.log_history,
        }
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        (staging / "safealign_train.yaml").write_text(cfg.to_yaml())
        replace_dir(staging, out)
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
    acc.wait_for_everyone()
    return out


def merge_saved_adapter(folder: Path, dtype: Any = None) -> bool:
    """Replace the LoRA adapter saved in ``folder`` by the merged model: the base named in its ``adapter_config.json``
    is loaded on the CPU, the adapter applied and merged. Returns False (adapter kept, with a warning) when the base
    cannot be loaded."""
    import warnings

    from peft import AutoPeftModelForCausalLM

    from safealign.train.sharding import whole_model_loading

    folder = Path(folder)
    try:
        with whole_model_loading():
            model = AutoPeftModelForCausalLM.from_pretrained(str(folder), dtype=dtype, device_map="cpu")
    except Exception as e:  # base weights moved or unreachable: keep the adapter rather than lose the run
        warnings.warn(
            f"could not merge the LoRA adapter in {folder} ({type(e).__name__}: {e}); the adapter is saved instead",
            stacklevel=2,
        )
        return False
    merged = model.merge_and_unload()
    for name in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md"):
        (folder / name).unlink(missing_ok=True)
    merged.save_pretrained(folder)
    return True


def preference_trainer_classes(method: str) -> tuple[Any, Any]:
    """TRL's (config class, trainer class) for ``dpo`` or ``orpo`` (ORPO lives in ``trl.experimental.orpo`` in TRL
    1.16)."""
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
