"""What CLI modules share: the console and output helpers live in :mod:`safealign.ui` (the bottom layer, so the
library prints through them too); they are re-exported here for the CLI's modules."""

from __future__ import annotations

from safealign.ui import console, is_main_process, print_json, summary, task_progress

__all__ = ["console", "is_main_process", "print_json", "summary", "task_progress"]
