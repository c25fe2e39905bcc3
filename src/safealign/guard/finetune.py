"""Training the fine-tuned guard (:class:`safealign.guard.encoder_guard.EncoderGuard`) with transformers' Trainer.

    data = assemble(["seed", "demo", "lookalikes"], shared_data="../shared/data")
    guard = train_encoder_guard(data, FinetuneSettings(max_steps=600))
    guard.save("runs/guard")

1. Fine-tune the encoder and the three heads on ``data.train`` (:func:`safealign.guard.encoder_guard.guard_loss`;
   AdamW, linear decay after a warm-up, batches of similar length). The embeddings and the lowest
   ``freeze_layers`` encoder layers stay frozen: on a CPU that halves the backward pass, and the lexical knowledge
   of the pretrained encoder is kept.
2. Fit the temperature on ``data.dev`` (prompts never fitted on; carved from the TRAIN parts of the sources).
3. Choose the operating thresholds on ``data.dev``: the prompt threshold flags at most ``target_fpr_prompt`` of the
   safe prompts, the response threshold at most ``target_fpr_response`` of the safe (prompt, response) items; within
   that bound, the threshold with the best recall - FPR on dev, set midway between the neighbouring dev scores
   (:func:`safealign.guard.scoring.operating_threshold`). The evaluation held-out parts are never read here.

Why Trainer and not SetFit or a CrossEncoder: SetFit's contrastive pair sampling is built for a few labelled rows
per class (with thousands it costs more than supervised fine-tuning) and fits a single head; sentence-transformers'
CrossEncoder trains one label set through ``AutoModelForSequenceClassification``. The guard needs one encoder under
three heads with a masked multi-task loss, which is a small ``nn.Module`` (:class:`GuardEncoder`), and Trainer runs
its loop (optimiser, schedule, length grouping, clipping, logging).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from safealign.guard.categories import CATEGORY_NAMES
from safealign.guard.encoder_guard import TOKEN_KEYS, EncoderGuard, GuardEncoder, encode_items
from safealign.guard.examples import GuardExample
from safealign.guard.scoring import expected_calibration_error, fit_temperature, operating_threshold


@dataclass
class FinetuneSettings:
    encoder: str = "minilm"  # 'minilm' (the bundled all-MiniLM-L6-v2), a hub id or a local encoder folder
    max_steps: int = 500
    batch_size: int = 16
    learning_rate: float = 1.5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 128
    freeze_layers: int = 2
    target_fpr_prompt: float = 0.03
    target_fpr_response: float = 0.05
    seed: int = 0
    threads: int = 0  # torch threads (0: torch's default)


def encoder_path(name: str) -> str:
    if name == "minilm":
        from safealign.guard.classifier import minilm_path

        return minilm_path()
    from safealign.models.loading import resolve_model

    return resolve_model(name)


def freeze_lower(encoder: torch.nn.Module, layers: int) -> int:
    """Freeze the embeddings and the lowest ``layers`` transformer layers of a BERT-like encoder; returns how many
    layers were frozen (0 when the encoder has no ``encoder.layer`` list)."""
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if layers <= 0 or stack is None:
        return 0
    for p in getattr(encoder, "embeddings", torch.nn.Module()).parameters():
        p.requires_grad_(False)
    k = min(layers, len(stack))
    for layer in stack[:k]:
        for p in layer.parameters():
            p.requires_grad_(False)
    return k


class _Rows(torch.utils.data.Dataset):
    """Tokenized examples with their labels, one dict per example (Trainer's length grouping reads ``input_ids``)."""

    def __init__(self, tokenizer: Any, examples: Sequence[GuardExample], categories: list[str], max_length: int):
        enc = encode_items(tokenizer, [(e.prompt, e.response) for e in examples], max_length)
        self.rows = []
        for e, tokens in zip(examples, enc):
            cats = [categories.index(c) for c in (e.categories or []) if c in categories] if e.unsafe else []
            vec = torch.zeros(len(categories))
            vec[cats] = 1.0
            sev = (e.severity - 1) if (e.unsafe and e.severity in (1, 2, 3)) else -100
            self.rows.append({
                **tokens, "labels_unsafe": float(e.unsafe), "labels_severity": sev, "labels_categories": vec,
                "categories_mask": float(bool(cats)),
            })

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def _collator(tokenizer: Any) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = tokenizer.pad([{k: r[k] for k in TOKEN_KEYS if k in r} for r in rows], return_tensors="pt")
        batch = dict(batch)
        batch["labels_unsafe"] = torch.tensor([r["labels_unsafe"] for r in rows])
        batch["labels_severity"] = torch.tensor([r["labels_severity"] for r in rows], dtype=torch.long)
        batch["labels_categories"] = torch.stack([r["labels_categories"] for r in rows])
        batch["categories_mask"] = torch.tensor([r["categories_mask"] for r in rows])
        return batch

    return collate


def _trainer_progress(progress: Optional[Callable[[str, int, int], None]]) -> list[Any]:
    if progress is None:
        return []
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress("training", state.global_step, state.max_steps)

    return [_Progress()]


def train_encoder_guard(
    data: Any,
    settings: Optional[FinetuneSettings] = None,
    categories: Optional[list[str]] = None,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> EncoderGuard:
    """Fine-tune, calibrate and set the thresholds (module doc). ``data``: a
    :class:`~safealign.guard.training_data.GuardData` (``train`` and ``dev`` lists of :class:`GuardExample`)."""
    import tempfile

    from transformers import AutoModel, AutoTokenizer, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    st = settings or FinetuneSettings()
    names = list(categories or CATEGORY_NAMES)
    train, dev = list(data.train), list(data.dev)
    if len(train) < 4 or len({e.unsafe for e in train}) < 2:
        raise ValueError("need at least 4 training examples with both safe and unsafe ones to train a guard")
    if st.threads:
        torch.set_num_threads(st.threads)
    random.seed(st.seed)
    torch.manual_seed(st.seed)
    t0 = time.perf_counter()
    path = encoder_path(st.encoder)
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path, dtype=torch.float32)
    frozen = freeze_lower(encoder, st.freeze_layers)
    n_pos = sum(e.unsafe for e in train)
    pos_weight = min(5.0, max(0.2, (len(train) - n_pos) / max(1, n_pos)))
    model = GuardEncoder(encoder, len(names), pos_weight=pos_weight)
    if progress:
        progress("tokenizing", 0, len(train))
    rows = _Rows(tokenizer, train, names, st.max_length)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory(prefix="safealign-guard-") as tmp:
        args = TrainingArguments(
            output_dir=tmp, max_steps=st.max_steps, per_device_train_batch_size=st.batch_size,
            learning_rate=st.learning_rate, weight_decay=st.weight_decay,
            warmup_steps=math.ceil(st.warmup_ratio * st.max_steps), lr_scheduler_type="linear", max_grad_norm=1.0,
            train_sampling_strategy="group_by_length", logging_steps=max(1, st.max_steps // 10),
            save_strategy="no", report_to="none", use_cpu=True, seed=st.seed, data_seed=st.seed,
            dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True,
        )
        trainer = Trainer(
            model=model, args=args, train_dataset=rows, data_collator=_collator(tokenizer),
            callbacks=_trainer_progress(progress),
        )
        result = trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    hf_logging.set_verbosity(verbosity)
    os.environ.pop("ACCELERATE_USE_CPU", None)
    train_s = time.perf_counter() - t0
    guard = EncoderGuard(model.eval(), tokenizer, names, max_length=st.max_length)
    metrics: dict[str, Any] = {
        "n_train": len(train), "n_dev": len(dev), "n_unsafe_train": n_pos, "steps": st.max_steps,
        "epochs": round(st.max_steps * st.batch_size / len(train), 2), "frozen_layers": frozen,
        "pos_weight": round(pos_weight, 3), "train_seconds": round(train_s, 1),
        "train_loss_first_last": [round(losses[0], 4), round(losses[-1], 4)] if losses else None,
        "train_loss": round(float(result.training_loss), 4), "settings": asdict(st),
    }
    calibrate(guard, dev, st, metrics, progress)
    guard.metrics = metrics
    return guard


def calibrate(
    guard: EncoderGuard,
    dev: Sequence[GuardExample],
    st: FinetuneSettings,
    metrics: dict[str, Any],
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> None:
    """Fit the temperature on ``dev`` and choose the prompt and response thresholds for the target FPRs there."""
    if not dev:
        metrics["calibration"] = "no dev split: temperature 1, thresholds 0.5"
        return
    if progress:
        progress("calibrating", 0, len(dev))
    logits = guard.logits([(e.prompt, e.response) for e in dev])[0]
    y = torch.tensor([float(e.unsafe) for e in dev])
    guard.temperature = fit_temperature(logits, y)
    p = torch.sigmoid(logits / guard.temperature)
    metrics["temperature"] = round(guard.temperature, 4)
    metrics["dev_ece_before"] = round(expected_calibration_error(torch.sigmoid(logits), y), 4)
    metrics["dev_ece_after"] = round(expected_calibration_error(p, y), 4)
    for level, target in (("prompt", st.target_fpr_prompt), ("response", st.target_fpr_response)):
        sel = [i for i, e in enumerate(dev) if (e.response is None) == (level == "prompt")]
        safe = [float(p[i]) for i in sel if not dev[i].unsafe]
        unsafe = [float(p[i]) for i in sel if dev[i].unsafe]
        t = operating_threshold(safe, unsafe, target)
        guard.thresholds[level] = t
        metrics[f"dev_{level}"] = {
            "n_safe": len(safe), "n_unsafe": len(unsafe), "target_fpr": target, "threshold": round(t, 4),
            "fpr": round(sum(q >= t for q in safe) / max(1, len(safe)), 4),
            "recall": round(sum(q >= t for q in unsafe) / max(1, len(unsafe)), 4),
        }
    flagged = [float(p[i]) >= guard.threshold_for(e.response) for i, e in enumerate(dev)]
    metrics["dev_accuracy"] = round(sum(f == e.unsafe for f, e in zip(flagged, dev)) / len(dev), 4)
