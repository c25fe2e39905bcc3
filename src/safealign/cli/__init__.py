"""The ``safealign`` command. Thin: each area registers its commands from its own module.

Groups: ``data``, ``train``, ``eval``; top-level commands: ``score``, ``guard``, ``serve``, ``report``, ``demo``.
User errors (:class:`safealign.errors.SafealignError`) print one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import typer

from safealign.errors import SafealignError


@dataclass
class Apps:
    root: typer.Typer
    data: typer.Typer
    train: typer.Typer
    eval: typer.Typer


def build_app() -> typer.Typer:
    root = typer.Typer(
        name="safealign", help="Safe and pluralistic alignment: Safe RLHF-V + Janus.", no_args_is_help=True,
        add_completion=False, pretty_exceptions_enable=False,
    )
    apps = Apps(
        root=root,
        data=typer.Typer(help="Read, inspect, convert and synthesise data.", no_args_is_help=True),
        train=typer.Typer(
            help="Train reward/cost/guard models and policies (PPO-Lagrangian, SFT, DPO, ORPO).", no_args_is_help=True
        ),
        eval=typer.Typer(help="Evaluate models: score models, safety, arena, rubric, adherence.", no_args_is_help=True),
    )
    root.add_typer(apps.data, name="data")
    root.add_typer(apps.train, name="train")
    root.add_typer(apps.eval, name="eval")

    from safealign.cli import data, evaluation, guard, janus, pluralistic, ppo, safe_rlhf, score_models

    for module in (data, score_models, ppo, safe_rlhf, guard, janus, pluralistic, evaluation):
        module.register(apps)
    return root


def _quiet_libraries() -> None:
    """Library chatter (weight-loading bars, load reports) would drown our own progress output."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not _has_accelerator_device():  # DeepSpeed would print its CPU fallback warning on stdout (breaks `| jq`)
        os.environ.setdefault("DS_ACCELERATOR", "cpu")


def _has_accelerator_device() -> bool:
    """A GPU device node (NVIDIA or ROCm) exists: cheap, no CUDA initialisation."""
    import glob
    import os

    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def _close_process_group() -> None:
    """Under torchrun / accelerate launch: leave the process group cleanly (a rank that exits with gloo still up
    can abort at interpreter shutdown)."""
    torch_dist = sys.modules.get("torch.distributed")
    if torch_dist is not None and torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()  # no barrier: a rank that failed must not leave the others hanging


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    app = build_app()
    try:
        _run(app, argv)
    finally:
        _close_process_group()


def _run(app: typer.Typer, argv: list[str] | None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except SafealignError as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        sys.exit(2)
    except OSError as e:
        # transformers / huggingface_hub report an unreachable or unknown model as OSError deep inside loading
        text = str(e)
        if "huggingface.co" not in text and "does not appear to have a file" not in text:
            raise
        typer.secho(
            f"error: model not found locally and could not be fetched (offline?): {text.splitlines()[0][:200]}",
            err=True,
            fg="red",
        )
        sys.exit(2)
