"""Small helpers shared by CLI modules: console, JSON output, one-line summaries."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

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
