"""Console output for the library and the CLI: the bottom layer every module may use.

- :data:`console` -- a rich Console on stderr, so that stdout can carry JSON / JSONL;
- :func:`print_json` -- one JSON document on stdout;
- :func:`summary` -- the one-line "done ..." that ends a command;
- :func:`is_main_process` -- False on the other processes of a launch (only the main one prints results);
- :func:`progress_bar` -- one bar advanced by a callback (``advance(n, loss=0.3)``), off on request;
- :func:`task_progress` -- a rich Progress for several named tasks (stages of one command);
- :func:`quiet_library_bars` / :func:`library_bars_enabled` -- the libraries' own progress bars (tqdm in transformers'
  Trainer, TRL, datasets) off while a command draws its own.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console

console = Console(stderr=True)  # human output goes to stderr so stdout can carry JSON/JSONL


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def is_main_process() -> bool:
    """False on the other processes of a launch (torchrun / accelerate launch / deepspeed set RANK): only the main one
    prints a training command's results."""
    return int(os.environ.get("RANK", "0")) == 0


def summary(line: str) -> None:
    console.print(f"[bold green]done[/] {line}")


def task_progress(transient: bool = True, disable: bool = False, spinner: bool = False) -> Any:
    """A rich ``Progress`` on :data:`console` for several tasks: description, bar, done/total, elapsed time. Use it
    as a context manager and ``add_task`` / ``update`` / ``advance`` each task."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    return Progress(*([SpinnerColumn()] if spinner else []), *columns, console=console, transient=transient,
                    disable=disable)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """``with progress_bar(n, "training") as advance: advance(1, loss=0.3)`` -- one bar on stderr with the time left
    and the latest values given to ``advance``; ``enabled=False`` (other ranks, or asked) shows nothing."""
    if not enabled:
        yield lambda n=1, **_: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console, transient=False,
    ) as prog:
        task = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, **info: Any) -> None:
            text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
            prog.update(task, advance=n, info=text)

        yield advance


_QUIET_BARS = "SAFEALIGN_QUIET_LIBRARY_BARS"


def library_bars_enabled() -> bool:
    """False inside :func:`quiet_library_bars` (also in processes it starts): trainers then pass ``disable_tqdm``."""
    return os.environ.get(_QUIET_BARS, "") in ("", "0")


@contextmanager
def quiet_library_bars(quiet: bool = True) -> Iterator[None]:
    """The libraries' progress bars off for the block: datasets' map/filter bars and, through
    :func:`library_bars_enabled`, the Trainer's (tqdm itself ignores TQDM_DISABLE when a caller passes ``disable``)."""
    if not quiet:
        yield
        return
    import datasets

    was_disabled, old = datasets.is_progress_bar_enabled() is False, os.environ.get(_QUIET_BARS)
    os.environ[_QUIET_BARS] = "1"
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_QUIET_BARS, None)
        else:
            os.environ[_QUIET_BARS] = old
        if not was_disabled:
            datasets.enable_progress_bars()
