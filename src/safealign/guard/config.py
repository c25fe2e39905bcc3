"""Configs of the guardrail's commands: ``safealign guard`` (check prompts and answers, or run the whole guardrail;
:class:`~safealign.guard.pipeline.GuardrailPipeline`) and ``safealign train guard``
(:meth:`~safealign.guard.classifier.Guard.train` on :mod:`~safealign.guard.training_data`). Torch-free, so that
building the CLI stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from safealign.backends.base import GenerationConfig
from safealign.config import BaseConfig, help_field

DEFAULT_GUARD = "runs/demo/guard"


@dataclass
class GuardCheckConfig(GenerationConfig):
    """Check prompts (and answers) with the guard, or run the full guardrail with --generate."""

    prompt: Optional[str] = help_field(None, "The prompt to check (or use --input for a file).", positional=True)
    input: Optional[str] = help_field(
        None, 'JSONL file of {"prompt", "response"?} objects (or a text file, one prompt per line).',
        flags=("--input", "-i"),
    )
    response: Optional[str] = help_field(
        None, "Check this answer to PROMPT (output moderation) instead of the prompt alone.",
        flags=("--response", "-r"),
    )
    guard: Optional[str] = help_field(
        None, f"Trained guard folder (default: {DEFAULT_GUARD}).", flags=("--guard", "-g")
    )
    judge: Optional[str] = help_field(
        None,
        "Use a generative judge instead: a local model ('default', hub id, path) or, with --judge-url, the endpoint's "
        "model name.",
    )
    judge_url: Optional[str] = help_field(
        None, "OpenAI-compatible base URL of the judge (e.g. http://127.0.0.1:8001/v1)."
    )
    generate: bool = help_field(
        False,
        "Run the whole guardrail: answer with --model through input screening, moderation, regeneration and fallback.",
        flags=("--generate",),
    )
    model: str = help_field(
        "default", "Model that answers with --generate ('default', hub id or path).", flags=("--model", "-m")
    )
    policy: Optional[str] = help_field(
        None, "Policy YAML (severity/category -> action); default: the packaged policy."
    )
    max_rounds: Optional[int] = help_field(
        None, "Regeneration rounds before the fallback (default: the policy's, 5)."
    )
    max_new_tokens: int = help_field(128, "Answer length limit with --generate.", min=1)
    batch_size: int = help_field(16, "Prompts checked (or answered) per batch.", min=1)
    output: Optional[str] = help_field(
        None, "Write one JSON result per line here (default with --input: stdout).", flags=("--output", "-o")
    )
    as_json: bool = help_field(False, "Print the single result as JSON on stdout.", flags=("--json",))


@dataclass
class GuardTrainConfig(BaseConfig):
    """Train the guard: a fine-tuned encoder (default) or heads on frozen sentence embeddings, each with unsafe /
    severity / category heads, calibrated and thresholded on a dev split carved from the training data."""

    kind: str = help_field("finetuned", "'finetuned' (all-MiniLM-L6-v2 trained end to end) or 'frozen' (heads on "
                                        "frozen embeddings, for comparison).")
    data: list[str] = help_field(
        ["seed", "demo", "lookalikes"],
        "Training sources, comma-separated: 'seed' (packaged seed prompts), 'demo' (demo safety pairs), 'lookalikes' "
        "(the train split of the packaged look-alike set), or labelled JSONL/JSON files ({prompt, label, response?, "
        "category?, severity?}; data collect's .answers.jsonl too).",
    )
    shared_data: Optional[str] = help_field(
        None, "A shared/data folder: adds the train split of its public prompt sets (never their held-out split)."
    )
    output_dir: str = help_field(DEFAULT_GUARD, "Where the guard folder is written (atomically).")
    augment: bool = help_field(
        True,
        "Add response-level examples built from prompt labels (refusal = safe; compliance after a harmful prompt = "
        "unsafe).",
    )
    augment_share: float = help_field(0.15, "Share of the prompts that get augmented answers.")
    steps: int = help_field(500, "Fine-tuning steps (finetuned).")
    batch_size: int = help_field(16, "Examples per fine-tuning step (finetuned).")
    learning_rate: Optional[float] = help_field(None, "AdamW learning rate (default 1.5e-4 finetuned, 2e-3 frozen).")
    max_length: int = help_field(128, "Longest input in tokens, prompt and answer together (finetuned).")
    freeze_layers: int = help_field(2, "Lowest encoder layers kept frozen, with the embeddings (finetuned).")
    target_fpr: float = help_field(
        0.03, "Prompt threshold: at most this share of the dev split's safe prompts flagged."
    )
    target_fpr_response: float = help_field(
        0.05, "Answer threshold: at most this share of the dev split's safe (prompt, answer) items flagged (finetuned)."
    )
    epochs: int = help_field(60, "Training epochs of the heads (frozen).")
    hidden: int = help_field(256, "Hidden width of the heads (frozen).")
    stage2: Optional[str] = help_field(
        None,
        "Stage 2 for the uncertain band (frozen): a backbone ('default', hub id, path) trained with the same heads.",
    )
    cost_model: Optional[str] = help_field(None, "Stage 2 = a trained safealign cost model folder (frozen).")
    band_low: float = help_field(0.2, "Stage 1 is unsure above this P(unsafe) ... (frozen)")
    band_high: float = help_field(0.8, "... and below this one; only those go to stage 2 (frozen).")
    threads: int = help_field(0, "torch threads (0: torch's default).")
    seed: int = help_field(0, "Random seed.")
