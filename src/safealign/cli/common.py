"""What CLI modules share: the console and output helpers live in :mod:`safealign.ui` (the bottom layer, so the
library prints through them too); they are re-exported here for the CLI's modules."""

from __future__ import annotations

from typing import Any

from safealign.ui import console, is_main_process, print_json, summary, task_progress

__all__ = ["console", "dry_run", "is_main_process", "print_json", "summary", "task_progress"]


def dry_run(cfg: Any, kind: str) -> None:
    """``--dry-run`` of a trainer command: the recipe validated instead of trained (:mod:`safealign.dryrun`)."""
    from safealign.dryrun import dry_run_config

    summary(dry_run_config(cfg, kind).line())
