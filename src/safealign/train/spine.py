"""The spine our trainers share (the score trainer and PPO-Lagrangian; TRL runs SFT/DPO/ORPO its own way):

- accelerator set-up: one ``Accelerator`` for CPU (fp32) and GPU, unchanged under ``accelerate launch`` / torchrun
  (:func:`make_accelerator`), or the one a caller passes;
- seeding: every generator (Python, NumPy, torch, CUDA) from the run's seed;
- random state, atomic checkpoint and resume in the one format of :mod:`safealign.train.checkpoint` (the trainer
  names its parts: which prepared models, with which optimisers, and whether only their trainable tensors are kept);
- metrics: JSON Lines on the main process (a resumed run drops the rows logged after its checkpoint), optionally
  TensorBoard (:class:`MetricLogger`).

    class MyTrainer(TrainerSpine):
        def __init__(self, cfg):
            super().__init__(cfg.output_dir, cfg.seed)       # accelerator, seed
            ...
        def checkpoint_parts(self):
            return {"model": Part(self.model, self.optimizer, trainable_only=True)}
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from safealign.train import checkpoint as ckpt
from safealign.train.checkpoint import Part
from safealign.utils.atomic import atomic_write_text
from safealign.utils.jsonl import read_jsonl


# ------------------------------------------------------------------------------------------------ accelerate set-up
def make_accelerator(
    mixed_precision: Optional[str] = "auto", gradient_accumulation_steps: int = 1, cpu: Optional[bool] = None
) -> Any:
    """``mixed_precision``: "auto" (bf16 on a bf16-capable GPU, none on CPU), "no", "bf16", "fp16", or None (what the
    launcher says). ``cpu``: stay on the CPU even where a GPU exists (see :func:`init_process_state`)."""
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


def set_seed(seed: int) -> None:
    """Seed Python, NumPy, torch and every CUDA device (accelerate's ``set_seed``)."""
    from accelerate.utils import set_seed as _set

    _set(seed)


# ------------------------------------------------------------------------------------------------ metrics
class MetricLogger:
    """Append JSON objects to ``path`` (one per line, flushed) on the main process, and each numeric value to
    TensorBoard under ``tensorboard_dir`` when given (at the record's ``step``). A fresh run starts the file afresh;
    a run resumed from the checkpoint of step ``resume_step`` keeps the rows up to that step (rows without a step,
    such as start events, stay). ``timestamps``: add ``time_s`` (seconds since the logger started) to every row."""

    def __init__(
        self,
        path: str | Path | None,
        enabled: bool = True,
        resume_step: Optional[int] = None,
        timestamps: bool = True,
        tensorboard_dir: str | Path | None = None,
    ):
        self.path = Path(path) if path else None
        self.enabled = enabled and self.path is not None
        self.timestamps = timestamps
        self.tensorboard_dir = tensorboard_dir if self.enabled else None
        self._writer: Any = None
        self.t0 = time.time()
        if self.enabled:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if resume_step is None:
                self.path.unlink(missing_ok=True)
            elif self.path.exists():
                keep = [r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step]
                atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in keep))

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        assert self.path is not None
        rec = {"time_s": round(time.time() - self.t0, 3), **record} if self.timestamps else record
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, default=_jsonable) + "\n")
            f.flush()
        if self.tensorboard_dir is not None:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.tensorboard_dir))
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._writer.add_scalar(k, v, record.get("step"))
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.item() if x.numel() == 1 else x.tolist()
    return str(x)


# ------------------------------------------------------------------------------------------------ the base
class TrainerSpine:
    """Accelerator, seed, checkpoints and metrics of a trainer. A subclass calls ``super().__init__`` first and names
    what a checkpoint holds in :meth:`checkpoint_parts`; ``self.acc`` is read at each call (a caller may swap it)."""

    def __init__(
        self,
        output_dir: str | Path,
        seed: int,
        accelerator: Any = None,
        mixed_precision: Optional[str] = None,
        gradient_accumulation_steps: int = 1,
        flush_denormal: bool = False,
    ):
        """``mixed_precision``: see :func:`make_accelerator` (None: the launcher's); ``flush_denormal``: on a CPU,
        flush denormal floats to zero (e.g. a vision tower on dark images makes CPU matmuls ~100x slower)."""
        self.acc = accelerator or make_accelerator(mixed_precision, gradient_accumulation_steps)
        self.out = Path(output_dir)
        set_seed(seed)
        if flush_denormal and self.acc.device.type == "cpu":
            torch.set_flush_denormal(True)

    @property
    def main(self) -> bool:
        return self.acc.is_main_process

    def checkpoint_parts(self) -> dict[str, Part]:
        """NAME -> :class:`~safealign.train.checkpoint.Part`: the prepared models a checkpoint holds."""
        raise NotImplementedError

    def write_checkpoint(
        self,
        path: str | Path,
        state: Mapping[str, Any],
        schedulers: Optional[Mapping[str, Any]] = None,
        json_states: Optional[Mapping[str, Any]] = None,
    ) -> Path:
        """Every process: the checkpoint folder ``path`` (:func:`safealign.train.checkpoint.save_checkpoint`)."""
        return ckpt.save_checkpoint(self.acc, path, self.checkpoint_parts(), state, schedulers, json_states)

    def read_checkpoint(
        self, path: str | Path, schedulers: Optional[Mapping[str, Any]] = None, same_processes: bool = False
    ) -> dict[str, Any]:
        """Every process: restore the parts, schedulers and random state; returns the trainer's saved state."""
        return ckpt.load_checkpoint(self.acc, path, self.checkpoint_parts(), schedulers, same_processes)

    def metric_logger(
        self, resume_step: Optional[int] = None, timestamps: bool = True, tensorboard: bool = False
    ) -> MetricLogger:
        """``output_dir/metrics.jsonl`` (and ``output_dir/tb`` for TensorBoard), written by the main process."""
        return MetricLogger(
            self.out / "metrics.jsonl", enabled=self.main, resume_step=resume_step, timestamps=timestamps,
            tensorboard_dir=self.out / "tb" if tensorboard else None,
        )
