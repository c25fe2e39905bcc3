"""Configs of the commands that use a trained reward or cost model: ``safealign score`` (score a JSONL of answers with
:func:`safealign.models.score.score_texts`) and ``safealign eval score-model`` (held-out metrics,
:func:`safealign.models.score_metrics.evaluate_score_model`). Torch-free, so that building the CLI stays fast; the
training config is :mod:`safealign.train.score_config`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from safealign.config import BaseConfig, help_field


@dataclass
class ScoreTextsConfig(BaseConfig):
    """Score prompt/response pairs (text or image+text) with a reward or cost model; writes JSONL."""

    model: str = help_field(
        help="A saved reward or cost model folder (safealign train reward/cost).", flags=("--model", "-m")
    )
    input: str = help_field(
        help="JSONL with prompt, response (or answer), optional system and image (path relative to the file).",
        flags=("--input", "-i"),
    )
    output: Optional[str] = help_field(
        None, "Output JSONL (default: stdout): each input row + score (+ unsafe for cost models).",
        flags=("--output", "-o"),
    )
    batch_size: int = help_field(8, "Sequences per forward pass.")
    max_length: int = help_field(1024, "Token limit per sequence (text is cut from the left).")
    progress: bool = help_field(True, "Show a progress bar.")


@dataclass
class ScoreEvalConfig(BaseConfig):
    """Pairwise accuracy, cost sign accuracy and unsafe precision/recall, by category and severity."""

    model: str = help_field(help="A saved reward or cost model folder.", flags=("--model", "-m"))
    data: str = help_field(
        "demo:safety_test", "Safety pairs: 'demo:NAME' or a file in any supported schema.", flags=("--data", "-d")
    )
    kind: Optional[str] = help_field(None, "Evaluate as reward or cost (default: the model's own kind).")
    output: Optional[str] = help_field(
        None, "Also write the metrics JSON to this file.", flags=("--output", "-o")
    )
    batch_size: int = help_field(16, "Sequences per forward pass.")
    limit: int = help_field(0, "Evaluate only the first N pairs (0 = all).")
    skip_invalid: bool = help_field(
        False, "Drop invalid rows instead of stopping with an error.", flags=("--skip-invalid",)
    )
    progress: bool = help_field(True, "Show a progress bar.")
