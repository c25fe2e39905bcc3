"""Trainer utilities shared by the score-model trainer and the RL trainers.

- :func:`build_optimizer` / :func:`build_scheduler` — AdamW over the trainable parameters, any transformers schedule;
- :func:`gather_episodes` — per-episode values of every process;
- :class:`TrainerState` — where the score trainer is (step, epoch, batches done in the epoch).

The accelerator set-up, seeding, checkpoints and metrics are the trainers' spine (:mod:`safealign.train.spine`, the
checkpoint format in :mod:`safealign.train.checkpoint`); their names are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from safealign.train.checkpoint import (  # noqa: F401 - re-exported
    CHECKPOINT_PREFIX,
    STATE_FILE,
    checkpoint_step,
    latest_checkpoint,
    rng_state,
    set_rng_state,
)
from safealign.train.spine import MetricLogger, init_process_state, make_accelerator, set_seed  # noqa: F401


def gather_episodes(values: torch.Tensor, valid: torch.Tensor, gather: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-episode ``values`` [N, K] and their ``valid`` mask [N, K] of this process, concatenated over every process
    with ``gather`` (``accelerator.gather``; None: one process), returned on the CPU. Bools travel as uint8."""
    if gather is not None:
        values = gather(values.contiguous())
        valid = gather(valid.to(torch.uint8).contiguous()).bool()
    return values.cpu(), valid.cpu()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def count_parameters(model: nn.Module) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def build_optimizer(
    model: nn.Module, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and norms."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
    groups = [
        g
        for g in ({"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0})
        if g["params"]
    ]
    if not groups:
        from safealign.errors import ConfigError

        raise ConfigError("nothing to train: every parameter is frozen")
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def build_scheduler(optimizer: torch.optim.Optimizer, name: str, total_steps: int, warmup_ratio: float = 0.0) -> Any:
    """Any transformers schedule ("cosine", "linear", "constant", "constant_with_warmup", ...)."""
    from transformers import get_scheduler

    warmup = int(round(warmup_ratio * total_steps))
    return get_scheduler(name, optimizer=optimizer, num_warmup_steps=warmup, num_training_steps=max(total_steps, 1))


@dataclass
class TrainerState:
    """Where training is: global optimiser step, epoch, batches done in the current epoch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    samples_seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
