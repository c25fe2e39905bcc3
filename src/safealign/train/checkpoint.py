"""The one checkpoint format of our trainers (the score trainer and PPO-Lagrangian; TRL's SFT/DPO/ORPO keep
transformers' own). A checkpoint is a folder that appears complete or not at all:

    trainer_state.json      {"step", "num_processes", ...the trainer's own bookkeeping}; written last
    NAME_trainable.pt       the trainable parameters of part NAME (full tensors; a LoRA actor, a score model's top)
    NAME.pt                 the whole state of part NAME (parameters and buffers; e.g. PPO's critics)
    optimizers.pt           {NAME: optimiser state} (full states, gathered under FSDP); absent under DeepSpeed
    deepspeed/NAME/         DeepSpeed's own checkpoint of part NAME's engine (its weights and each process's
                            partition of the optimiser states)
    schedulers.pt           {NAME: learning-rate scheduler state}, when the trainer has any
    NAME.json               small states of the trainer's own (the Lagrange multipliers, the score scales)
    rng-rank{R}.pt          process R's random states (Python, NumPy, torch, CUDA)

Writing is a collective (every process calls :func:`save_checkpoint`): with sharded parameters (FSDP, ZeRO-3) the
full weights and optimiser states are gathered; each process writes its own RNG state (and, under DeepSpeed, its
optimiser partition) into a shared temporary folder that the main process then puts in place with
:func:`safealign.utils.atomic.replace_dir`. :func:`load_checkpoint` gives each process its shard back.

Why not ``accelerator.save_state``: it writes every prepared model whole (a LoRA actor's frozen base, a frozen
trunk's layers: gigabytes per checkpoint on 7B models, where ours keeps the trainable tensors), and in its own
layout per distributed type; our files hold full tensors whatever the launcher.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from safealign.errors import ConfigError
from safealign.train import sharding
from safealign.utils.atomic import atomic_write_json, replace_dir

CHECKPOINT_PREFIX = "checkpoint-"  # numbered checkpoints (checkpoint-N), as transformers names them
STATE_FILE = "trainer_state.json"
OPTIMIZERS_FILE = "optimizers.pt"
SCHEDULERS_FILE = "schedulers.pt"


@dataclass
class Part:
    """A trained model of a trainer: the prepared ``model`` (what ``accelerator.prepare`` returned), its optimiser,
    and whether the checkpoint keeps its trainable parameters only (``NAME_trainable.pt``) or its whole state."""

    model: Any
    optimizer: Any
    trainable_only: bool = False

    def weights_file(self, name: str) -> str:
        return f"{name}_trainable.pt" if self.trainable_only else f"{name}.pt"


# ------------------------------------------------------------------------------------------------ random states
def rng_state() -> dict[str, Any]:
    """This process's random states: Python, NumPy, torch (and CUDA when there is one)."""
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


# ------------------------------------------------------------------------------------------------ weights
def trainable_tensors(module: Any) -> dict[str, torch.Tensor]:
    """CPU copies of a module's trainable parameters."""
    return {n: p.detach().cpu().clone() for n, p in module.named_parameters() if p.requires_grad}


def whole_tensors(module: Any) -> dict[str, torch.Tensor]:
    """CPU copies of a module's whole state (parameters and persistent buffers)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def part_weights(accelerator: Any, part: Part) -> Optional[dict[str, torch.Tensor]]:
    """The part's weights to save (full CPU tensors) on the main process, None on the others. EVERY process must call
    it: with sharded parameters (ZeRO-3, FSDP) ``named_parameters()`` holds one shard, so the full state is gathered
    with ``accelerator.get_state_dict`` (a collective); otherwise the main process reads its own replica."""
    unwrapped = accelerator.unwrap_model(part.model)
    if sharding.sharded_parameters(accelerator):
        full = sharding.full_state_dict(accelerator, part.model)
        if full is None or not part.trainable_only:
            return full
        trainable = {sharding.clean_param_name(n) for n, p in unwrapped.named_parameters() if p.requires_grad}
        return {k: v for k, v in full.items() if k in trainable}
    if not accelerator.is_main_process:
        return None
    return trainable_tensors(unwrapped) if part.trainable_only else whole_tensors(unwrapped)


# ------------------------------------------------------------------------------------------------ save / load
def save_checkpoint(
    accelerator: Any,
    path: str | Path,
    parts: Mapping[str, Part],
    state: Mapping[str, Any],
    schedulers: Optional[Mapping[str, Any]] = None,
    json_states: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Write the checkpoint folder ``path`` (every process calls it). ``state``: the trainer's bookkeeping (a
    ``step`` at least; ``num_processes`` is added); ``json_states``: NAME -> a JSON-able state (NAME.json)."""
    acc, path = accelerator, Path(path)
    main = acc.is_main_process
    tmp = path.with_name(f".tmp-{path.name}")  # one name every process knows
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    torch.save(rng_state(), tmp / f"rng-rank{acc.process_index}.pt")
    weights = {name: part_weights(acc, part) for name, part in parts.items()}  # every process (a collective)
    optimizers = None
    if sharding.is_deepspeed(acc):  # optimiser states stay partitioned: each process writes its own (a collective)
        sharding.save_engine_states({name: part.model for name, part in parts.items()}, tmp / sharding.DEEPSPEED_DIR)
    else:  # every process (gathered under FSDP)
        optimizers = {
            name: sharding.gathered_optimizer_state(acc, part.model, part.optimizer)
            for name, part in parts.items()
            if part.optimizer is not None
        }
    acc.wait_for_everyone()
    if main:
        for name, part in parts.items():
            torch.save(weights[name], tmp / part.weights_file(name))
        if optimizers:
            torch.save(optimizers, tmp / OPTIMIZERS_FILE)
        if schedulers:
            torch.save({name: s.state_dict() for name, s in schedulers.items()}, tmp / SCHEDULERS_FILE)
        for name, value in (json_states or {}).items():
            atomic_write_json(tmp / f"{name}.json", value)
        atomic_write_json(tmp / STATE_FILE, {**state, "num_processes": acc.num_processes})
        replace_dir(tmp, path)  # the checkpoint appears complete or not at all
    acc.wait_for_everyone()
    return path


def read_state(path: str | Path) -> dict[str, Any]:
    """A checkpoint's ``trainer_state.json``."""
    return json.loads((Path(path) / STATE_FILE).read_text())


def load_checkpoint(
    accelerator: Any,
    path: str | Path,
    parts: Mapping[str, Part],
    schedulers: Optional[Mapping[str, Any]] = None,
    same_processes: bool = False,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into the prepared parts, the schedulers and this process's random
    state (process 0's when the run had fewer processes, unless ``same_processes`` requires as many); returns the
    trainer's state. Under FSDP each process takes its shard of the saved full tensors and optimiser states; under
    DeepSpeed each engine reads its weights and this process's optimiser partition. A checkpoint of the other kind
    (DeepSpeed or not) or of another process count is a one-line ConfigError."""
    acc, path = accelerator, Path(path)
    deepspeed = sharding.check_checkpoint_kind(path, acc)
    state = read_state(path)
    if same_processes and state.get("num_processes") != acc.num_processes:
        raise ConfigError(
            f"checkpoint was written by {state.get('num_processes')} process(es), this run has {acc.num_processes}"
        )
    if deepspeed:  # each engine restores its weights and this process's optimiser partition
        sharding.load_engine_states({name: part.model for name, part in parts.items()}, path / sharding.DEEPSPEED_DIR)
    else:
        # every tensor is loaded to the CPU and copied into place (an accelerator's device may be "cpu:0", which
        # torch.load cannot map to; optimiser states follow their parameters' device when loaded)
        for name, part in parts.items():
            if not (path / part.weights_file(name)).is_file():
                raise ConfigError(
                    f"checkpoint {path} has no {part.weights_file(name)} (written by another trainer or an older "
                    "safealign): resume from a checkpoint of this kind, or start afresh in a new output folder"
                )
            saved = torch.load(path / part.weights_file(name), map_location="cpu")
            sharding.copy_full_state(acc.unwrap_model(part.model), saved, every_key=not part.trainable_only)
        if (path / OPTIMIZERS_FILE).exists():
            optimizers = torch.load(path / OPTIMIZERS_FILE, map_location="cpu", weights_only=False)
            for name, part in parts.items():
                if part.optimizer is not None:
                    sharding.load_optimizer_state(acc, part.model, part.optimizer, optimizers[name])
    if schedulers and (path / SCHEDULERS_FILE).exists():
        saved_schedulers = torch.load(path / SCHEDULERS_FILE, weights_only=False)
        for name, scheduler in schedulers.items():
            scheduler.load_state_dict(saved_schedulers[name])
    rng = path / f"rng-rank{acc.process_index}.pt"
    set_rng_state(torch.load(rng if rng.exists() else path / "rng-rank0.pt", weights_only=False))
    return state


def read_json_state(path: str | Path, name: str) -> Optional[Any]:
    """The NAME.json state of a checkpoint (None when it has none)."""
    file = Path(path) / f"{name}.json"
    return json.loads(file.read_text()) if file.exists() else None


# ------------------------------------------------------------------------------------------------ numbered folders
def checkpoint_step(path: Path) -> int:
    """N of a ``checkpoint-N`` folder (-1 when its name carries no step)."""
    try:
        return int(path.name[len(CHECKPOINT_PREFIX) :])
    except ValueError:
        return -1


def numbered_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete ``checkpoint-N`` folders under ``output_dir`` (their ``trainer_state.json`` is written last),
    oldest first."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [
        p
        for p in out.iterdir()
        if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and (p / STATE_FILE).exists() and checkpoint_step(p) >= 0
    ]
    return sorted(found, key=checkpoint_step)


def latest_checkpoint(output_dir: str | Path) -> Optional[Path]:
    """The complete checkpoint with the highest step under ``output_dir``, or None."""
    found = numbered_checkpoints(output_dir)
    return found[-1] if found else None


def prune_checkpoints(output_dir: str | Path, keep_last: int) -> None:
    """Remove all but the ``keep_last`` newest numbered checkpoints (main process; ``keep_last`` <= 0 keeps all)."""
    if keep_last > 0:
        for old in numbered_checkpoints(output_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
