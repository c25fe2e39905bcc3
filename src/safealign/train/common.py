"""Trainer utilities shared by the score-model trainer and the RL trainers.

- :func:`make_accelerator` — one ``Accelerator`` for CPU (fp32) and GPU (bf16 when supported); runs unchanged
  under ``accelerate launch`` / ``torchrun`` (MULTI_CPU with gloo on CPU, DDP on GPUs).
- :func:`build_optimizer` / :func:`build_scheduler` — AdamW over the trainable parameters, any transformers schedule.
- :func:`save_checkpoint` / :func:`load_checkpoint` / :func:`latest_checkpoint` — atomic checkpoints of the
  TRAINABLE parameters, optimizer, scheduler, trainer state and every rank's RNG state; an interrupted run resumes
  from its last complete checkpoint (half-written ones live under ``.tmp-*`` names and are never read).
- :class:`MetricLogger` — JSONL metrics (one object per line, main process only), optional echo to the console.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

CHECKPOINT_PREFIX = "checkpoint-"
STATE_FILE = "trainer_state.json"


# ------------------------------------------------------------------------------------------------ accelerate setup
def make_accelerator(
    mixed_precision: str = "auto", gradient_accumulation_steps: int = 1, cpu: Optional[bool] = None
) -> Any:
    """``mixed_precision``: "auto" (bf16 on a bf16-capable GPU, none on CPU), "no", "bf16" or "fp16". ``cpu``: stay on
    the CPU even where a GPU exists (see :func:`init_process_state`)."""
    from accelerate import Accelerator

    on_gpu = torch.cuda.is_available() and not cpu
    if mixed_precision == "auto":
        mixed_precision = "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"
    init_process_state(cpu)
    return Accelerator(
        cpu=bool(cpu), mixed_precision=mixed_precision, gradient_accumulation_steps=gradient_accumulation_steps
    )


def init_process_state(cpu: Optional[bool] = None) -> None:
    """Set up accelerate's process state before an ``Accelerator`` is made: the CPU way (gloo; ranks from torchrun or
    mpirun) on a machine without a GPU or when ``cpu``. The ``Accelerator`` itself is then made without ``cpu=True``
    unless asked, so that a DeepSpeed launch stays DeepSpeed on CPU processes too (``Accelerator(cpu=True)`` turns
    it into plain DDP, and without this state accelerate counts one process under a DeepSpeed launch on CPUs), as
    transformers' Trainer does."""
    if cpu or not torch.cuda.is_available():
        from accelerate import PartialState

        PartialState(cpu=True)


def gather_episodes(values: torch.Tensor, valid: torch.Tensor, gather: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-episode ``values`` [N, K] and their ``valid`` mask [N, K] of this process, concatenated over every process
    with ``gather`` (``accelerator.gather``; None: one process), returned on the CPU. Bools travel as uint8."""
    if gather is not None:
        values = gather(values.contiguous())
        valid = gather(valid.to(torch.uint8).contiguous()).bool()
    return values.cpu(), valid.cpu()


def set_seed(seed: int) -> None:
    from accelerate.utils import set_seed as _set

    _set(seed)


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


# ------------------------------------------------------------------------------------------------ checkpoints
@dataclass
class TrainerState:
    """Where training is: global optimiser step, epoch, batches done in the current epoch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    samples_seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def rng_state() -> dict[str, Any]:
    """This process's random states: Python, NumPy, torch (and CUDA when there is one); checkpoints keep one per
    rank."""
    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(
    output_dir: str | Path,
    state: TrainerState,
    model: nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    accelerator: Any = None,
    keep_last: int = 1,
    wrapped: Optional[nn.Module] = None,
) -> Path:
    """Write ``output_dir/checkpoint-{step}`` atomically (every rank must call it; only rank 0 writes files other
    than its own RNG state). ``model`` is the UNWRAPPED model; only trainable parameters are stored, as full tensors
    also when the parameters are sharded (FSDP / ZeRO-3: gathered from ``wrapped``, the prepared model). Under
    DeepSpeed the optimiser states stay partitioned: the engine writes DeepSpeed's own checkpoint beside them."""
    from safetensors.torch import save_file

    from safealign.train import sharding
    from safealign.utils.atomic import atomic_write_json

    out = Path(output_dir)
    final = out / f"{CHECKPOINT_PREFIX}{state.step}"
    tmp = out / f".tmp-{CHECKPOINT_PREFIX}{state.step}"
    main = accelerator is None or accelerator.is_main_process
    rank = 0 if accelerator is None else accelerator.process_index
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier(accelerator)
    torch.save(rng_state(), tmp / f"rng_state_{rank}.pt")
    # every process: gathering sharded weights and optimiser states is a collective
    if accelerator is not None and sharding.sharded_parameters(accelerator):
        names = {sharding.clean_param_name(n) for n, p in model.named_parameters() if p.requires_grad}
        full = sharding.full_state_dict(accelerator, wrapped if wrapped is not None else model)
        weights = {k: v for k, v in full.items() if k in names} if full is not None else None
    else:
        weights = trainable_state_dict(model) if main else None
    if optimizer is None:
        opt_state = None
    elif sharding.is_deepspeed(accelerator):  # each process writes its optimiser partition (a collective)
        sharding.save_engine_states({"model": wrapped}, tmp / sharding.DEEPSPEED_DIR)
        opt_state = None
    elif accelerator is not None:
        opt_state = sharding.gathered_optimizer_state(accelerator, wrapped if wrapped is not None else model, optimizer)
    else:
        opt_state = optimizer.state_dict()
    if main:
        save_file(weights, str(tmp / "trainable.safetensors"))
        if opt_state is not None:
            torch.save(opt_state, tmp / "optimizer.pt")
        if scheduler is not None:
            torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        atomic_write_json(tmp / STATE_FILE, asdict(state))
    _barrier(accelerator)
    if main:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)  # the checkpoint appears complete or not at all
        for old in sorted(_checkpoints(out), key=checkpoint_step)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    _barrier(accelerator)
    return final


def _barrier(accelerator: Any) -> None:
    if accelerator is not None:
        accelerator.wait_for_everyone()


def checkpoint_step(path: Path) -> int:
    """N of a ``checkpoint-N`` folder (-1 when its name carries no step)."""
    try:
        return int(path.name[len(CHECKPOINT_PREFIX) :])
    except ValueError:
        return -1


def _checkpoints(output_dir: Path) -> list[Path]:
    if not output_dir.is_dir():
        return []
    return [
        p
        for p in output_dir.iterdir()
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).exists() and checkpoint_step(p) >= 0
    ]


def latest_checkpoint(output_dir: str | Path) -> Optional[Path]:
    """The complete checkpoint with the highest step under ``output_dir``, or None."""
    cps = _checkpoints(Path(output_dir))
    return max(cps, key=checkpoint_step) if cps else None


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: Any = None,
    scheduler: Any = None,
    accelerator: Any = None,
    wrapped: Optional[nn.Module] = None,
) -> TrainerState:
    """Restore what :func:`save_checkpoint` wrote into the (unwrapped) ``model``, the optimizer and scheduler, and
    this rank's RNG state (rank 0's when the run had fewer processes). With sharded parameters (FSDP) each process
    takes its shard of the saved full tensors and optimiser states (``wrapped``: the prepared model); under DeepSpeed
    the engine (``wrapped``) reads its weights and this process's optimiser partition from DeepSpeed's own files."""
    from safetensors.torch import load_file

    from safealign.errors import ConfigError
    from safealign.train import sharding

    path = Path(path)
    deepspeed = sharding.check_checkpoint_kind(path, accelerator)
    saved = load_file(str(path / "trainable.safetensors"))
    params = {sharding.clean_param_name(n) for n, _ in model.named_parameters()}
    missing = [n for n in saved if n not in params]
    if missing:
        raise ConfigError(f"checkpoint {path} does not match the model (unknown parameters, e.g. {missing[0]})")
    if deepspeed:  # the engine restores its weights and this process's optimiser partition
        sharding.load_engine_states({"model": wrapped}, path / sharding.DEEPSPEED_DIR)
    else:
        sharding.copy_full_state(model, saved, every_key=False)
    if optimizer is not None and (path / "optimizer.pt").exists():
        opt_state = torch.load(path / "optimizer.pt", weights_only=False)
        sharding.load_optimizer_state(accelerator, wrapped if wrapped is not None else model, optimizer, opt_state)
    if scheduler is not None and (path / "scheduler.pt").exists():
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rank = 0 if accelerator is None else accelerator.process_index
    rng = path / f"rng_state_{rank}.pt"
    if not rng.exists():
        rng = path / "rng_state_0.pt"
    if rng.exists():
        set_rng_state(torch.load(rng, weights_only=False))
    data = json.loads((path / STATE_FILE).read_text())
    return TrainerState(**data)


# ------------------------------------------------------------------------------------------------ metrics + progress
class MetricLogger:
    """Append JSON objects to ``path`` (one per line, flushed), on the main process only."""

    def __init__(self, path: str | Path | None, enabled: bool = True, resume: bool = False):
        self.path = Path(path) if path else None
        self.enabled = enabled and self.path is not None
        self.t0 = time.time()
        if self.enabled:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not resume and self.path.exists():
                self.path.unlink()

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        assert self.path is not None
        rec = {"time_s": round(time.time() - self.t0, 3), **record}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, default=_jsonable) + "\n")
            f.flush()


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else x.tolist()
    return str(x)
