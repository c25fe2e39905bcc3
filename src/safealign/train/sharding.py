"""Trainers under sharded parameters (FSDP, DeepSpeed ZeRO-3): which runs shard, preparing several models, gathering
full weights and optimiser states for a checkpoint, and giving each process its shard back on resume.

Under FSDP2 every process holds a shard of each parameter (a DTensor); ``named_parameters()`` and
``optimizer.state_dict()`` then describe one shard. A checkpoint stores full tensors, gathered with collectives that
EVERY process must enter (:func:`full_state_dict`, :func:`gathered_optimizer_state`); resuming hands each process
its own shard of them (:func:`copy_full_state`, :func:`load_optimizer_state`). Tested on 2 CPU processes
(:func:`safealign.testing.fsdp2_cpu_accelerator`) and on a GPU under ``accelerate launch`` with the shipped FSDP config.
DeepSpeed partitions optimiser states its own way: checkpoints hold DeepSpeed's own per-engine checkpoints
(:func:`save_engine_states`, :func:`load_engine_states`; :func:`check_checkpoint_kind`). Under DeepSpeed every
prepared model is an engine that steps itself (:func:`optimizer_step`), and its config's batch sizes are filled in
before ``prepare`` (:func:`fill_deepspeed_batch`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from safealign.errors import ConfigError

_WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def sharded_parameters(accelerator: Any) -> bool:
    """Whether every process holds only a shard of each parameter: DeepSpeed ZeRO stage 3 or FSDP. Then the
    full weights come from ``accelerator.get_state_dict`` (on every process), not from ``named_parameters()``."""
    if is_fsdp(accelerator):
        return True
    if is_deepspeed(accelerator):
        plugin = getattr(getattr(accelerator, "state", None), "deepspeed_plugin", None)
        ds_cfg = getattr(plugin, "deepspeed_config", None) or {}
        stage = ds_cfg.get("zero_optimization", {}).get("stage", getattr(plugin, "zero_stage", None))
        return stage is not None and int(stage) == 3
    return False


def is_fsdp(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return getattr(accelerator, "distributed_type", None) == DistributedType.FSDP


def is_deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return getattr(accelerator, "distributed_type", None) == DistributedType.DEEPSPEED


def clean_param_name(name: str) -> str:
    """A parameter name without FSDP / activation-checkpointing / compile wrapper parts (the state-dict names)."""
    for prefix in _WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


def save_engine_states(engines: dict[str, Any], folder: Path) -> None:
    """DeepSpeed: every prepared model (an engine) writes its trainable weights and each process its partition of the
    optimiser states into ``folder``/NAME (a collective: every process calls it; frozen weights are left out)."""
    for name, engine in engines.items():
        engine.save_checkpoint(str(folder), tag=name, save_latest=False, exclude_frozen_parameters=True)


def load_engine_states(engines: dict[str, Any], folder: Path) -> None:
    """Restore what :func:`save_engine_states` wrote (every process; the same number of processes)."""
    for name, engine in engines.items():
        engine.load_checkpoint(
            str(folder), tag=name, load_module_strict=False, load_optimizer_states=True, load_lr_scheduler_states=False
        )


DEEPSPEED_DIR = "deepspeed"  # inside a checkpoint: what save_engine_states wrote


def check_checkpoint_kind(path: Path, accelerator: Any) -> bool:
    """Whether the checkpoint at ``path`` was written under DeepSpeed (its optimiser states are partitioned per
    process, in DeepSpeed's own files); a run of the other kind cannot continue it (one-line ConfigError)."""
    written = (Path(path) / DEEPSPEED_DIR).is_dir()
    if written != is_deepspeed(accelerator):
        raise ConfigError(
            f"--resume: {path} was written {'under' if written else 'without'} DeepSpeed; resume it "
            f"{'under DeepSpeed' if written else 'without DeepSpeed (DDP or FSDP)'} with the same number of processes, "
            "or start over with --no-resume"
        )
    return written


def prepare_pair(accelerator: Any, model: Any, optimizer: Any, micro_batch_size: int) -> tuple[Any, Any]:
    """``accelerator.prepare(model, optimizer)``: one model per call (FSDP2 and DeepSpeed wrap one model per call).
    Under FSDP the transformer-layer classes to wrap are taken from the first model prepared; a model holding none
    of them (a value head) is sharded as one unit instead of failing accelerate's lookup of those classes.
    ``micro_batch_size``: sequences per process and backward pass (DeepSpeed's config needs it, see
    :func:`fill_deepspeed_batch`)."""
    fill_deepspeed_batch(accelerator, micro_batch_size)
    plugin = getattr(accelerator.state, "fsdp_plugin", None) if sharded_parameters(accelerator) else None
    names = getattr(plugin, "transformer_cls_names_to_wrap", None)
    if not names or any(type(m).__name__ in names for m in model.modules()):
        return accelerator.prepare(model, optimizer)
    plugin.transformer_cls_names_to_wrap = []
    try:
        return accelerator.prepare(model, optimizer)
    finally:
        plugin.transformer_cls_names_to_wrap = names


def optimizer_step(accelerator: Any, model: Any, optimizer: Any, loss: torch.Tensor, max_grad_norm: float) -> None:
    """One update of the prepared ``model`` on ``loss``: zero the gradients, backward, clip to ``max_grad_norm``
    (0: no clipping), step, and free the gradients (no model's gradients outlive its own update). Under DeepSpeed
    every prepared model is its own engine, which runs backward, clipping (its config's ``gradient_clipping``) and
    the step itself; ``accelerator.backward`` would send every loss through the engine prepared last (one of PPO's
    critics)."""
    if is_deepspeed(accelerator):
        model.backward(loss)
        model.step()
        return
    optimizer.zero_grad(set_to_none=True)
    accelerator.backward(loss)
    if max_grad_norm > 0:
        accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # the gradients are spent: their memory is free for the next phase


def fill_deepspeed_batch(accelerator: Any, micro_batch_size: int) -> None:
    """DeepSpeed refuses to start while its config's batch sizes are "auto" (the shipped configs leave them so), and
    accelerate fills them only from a prepared data loader, which our trainers do not hand it. Fill what is "auto" or
    missing: the micro batch per process, the accumulation steps from the accelerator, and their product with the
    process count. No-op without DeepSpeed."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    ds = plugin.deepspeed_config
    if ds.get("train_micro_batch_size_per_gpu", "auto") == "auto":
        ds["train_micro_batch_size_per_gpu"] = int(micro_batch_size)
    if ds.get("gradient_accumulation_steps", "auto") == "auto":
        ds["gradient_accumulation_steps"] = int(accelerator.gradient_accumulation_steps)
    if ds.get("train_batch_size", "auto") == "auto":
        ds["train_batch_size"] = (
            ds["train_micro_batch_size_per_gpu"] * ds["gradient_accumulation_steps"] * accelerator.num_processes
        )


def full_state_dict(accelerator: Any, model: Any) -> Optional[dict[str, torch.Tensor]]:
    """The prepared ``model``'s full state (parameters and persistent buffers, wrapper-free names, CPU tensors) on the
    main process, None on the others. EVERY process must call it under FSDP / ZeRO-3 (a collective)."""
    full = accelerator.get_state_dict(model)
    if not accelerator.is_main_process:
        return None
    return {clean_param_name(k): v.detach().cpu().clone() for k, v in full.items()}


def gathered_optimizer_state(accelerator: Any, model: Any, optimizer: Any) -> Optional[dict[str, Any]]:
    """The optimiser's state on the main process (None on the others). Under FSDP each process holds the states of
    its shards only: they are gathered into full states keyed by parameter name (a collective: every process calls)."""
    if is_fsdp(accelerator):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        state = get_optimizer_state_dict(
            model,
            getattr(optimizer, "optimizer", optimizer),
            options=StateDictOptions(full_state_dict=True, cpu_offload=True),
        )
    else:
        state = optimizer.state_dict()
    return state if accelerator.is_main_process else None


def load_optimizer_state(accelerator: Any, model: Any, optimizer: Any, state: dict[str, Any]) -> None:
    """Restore what :func:`gathered_optimizer_state` saved (every process; under FSDP each takes its shards;
    ``accelerator`` may be None: a plain single-process run)."""
    if is_fsdp(accelerator):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(
            model, getattr(optimizer, "optimizer", optimizer), state, options=StateDictOptions(full_state_dict=True)
        )
    else:
        optimizer.load_state_dict(state)


@torch.no_grad()
def copy_full_state(module: Any, state: dict[str, torch.Tensor], every_key: bool) -> None:
    """Copy full (unsharded) tensors into a module's parameters and persistent buffers by name; a sharded (DTensor)
    parameter takes its own shard of the full tensor. ``every_key``: the module's whole state must be in ``state``."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    reshard(module)  # FSDP keeps the root gathered after a forward: copy into the shards
    saved = {clean_param_name(k) for k in module.state_dict()}
    targets = {
        clean_param_name(n): t
        for n, t in [*module.named_parameters(), *module.named_buffers()]
        if clean_param_name(n) in saved
    }
    unknown = sorted(set(state) - set(targets))
    missing = sorted(set(targets) - set(state)) if every_key else []
    if unknown or missing:
        raise ConfigError(
            f"--resume: checkpoint does not match the model (unknown: {unknown[:3]}, missing: {missing[:3]})"
        )
    for name, full in state.items():
        t = targets[name]
        if isinstance(t, DTensor):
            t.copy_(distribute_tensor(full.to(device=t.device, dtype=t.dtype), t.device_mesh, t.placements))
        else:
            t.copy_(full.to(device=t.device, dtype=t.dtype))


@contextmanager
def whole_model_loading() -> Iterator[None]:
    """Load models whole on this process alone. While a DeepSpeed ZeRO-3 run is set up, transformers builds every
    model it loads partitioned over the processes (a collective, so a load on the main process alone hangs) and
    refuses ``device_map``; a merge or a read-back for evaluation on the main process needs the whole model."""
    try:
        import transformers.integrations.deepspeed as hf_ds
    except ImportError:
        yield
        return
    ref = hf_ds._hf_deepspeed_config_weak_ref
    hf_ds.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_ds._hf_deepspeed_config_weak_ref = ref


def reshard(model: Any) -> None:
    """Free the gathered parameters of an FSDP2 module (no-op for any other module)."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:
        return
    if isinstance(model, FSDPModule):
        model.reshard()


@contextmanager
def unsharded_root(model: Any) -> Iterator[None]:
    """Under FSDP, the root unit's own parameters (embeddings, final norm, LM head) gathered for the duration.
    ``generate`` of a PEFT model reaches the wrapped model's forward without passing through the root module's
    forward, so the root's hooks never gather them; each decoder layer still gathers its own in its forward."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch without FSDP2
        FSDPModule = ()  # type: ignore[assignment]
    if isinstance(model, FSDPModule):
        model.unshard()
        try:
            yield
        finally:
            model.reshard()
        return
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    if isinstance(model, FSDP):
        with FSDP.summon_full_params(model, recurse=False, writeback=False):
            yield
        return
    yield
