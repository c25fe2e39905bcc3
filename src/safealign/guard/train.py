"""One entry point for training either kind of guard on assembled data (``safealign train guard`` and the demo).

    data = assemble(["seed", "demo", "lookalikes"], shared_data="../shared/data")
    guard = train_guard(data, GuardTrainSpec(kind="finetuned", steps=500))
    guard.save("runs/guard")

``finetuned`` (the default): :func:`safealign.guard.finetune.train_encoder_guard`. ``frozen``: the cascade of heads on
frozen all-MiniLM-L6-v2 embeddings (:class:`safealign.guard.classifier.Guard`), kept for comparison; its threshold
is chosen on the same dev split for the same prompt false-positive rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from safealign.errors import ConfigError

KINDS = ("finetuned", "frozen")


@dataclass
class GuardTrainSpec:
    kind: str = "finetuned"
    steps: int = 500  # fine-tuning steps (finetuned)
    batch_size: int = 16
    learning_rate: Optional[float] = None  # None: 1.5e-4 (finetuned), 2e-3 (frozen heads)
    max_length: int = 128
    freeze_layers: int = 2
    target_fpr: float = 0.03  # prompts: share of the dev split's safe prompts the threshold may flag
    target_fpr_response: float = 0.05  # (prompt, response) items: the same for safe answers
    epochs: int = 60  # frozen heads
    hidden: int = 256  # frozen heads
    stage2: Optional[str] = None  # frozen: a backbone for the uncertain band
    cost_model: Optional[str] = None  # frozen: a cost model as stage 2
    band: tuple[float, float] = (0.2, 0.8)
    threads: int = 0
    seed: int = 0

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"guard kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for name in ("target_fpr", "target_fpr_response"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.steps < 1 or self.batch_size < 1 or self.max_length < 8:
            raise ConfigError("steps and batch_size must be >= 1 and max_length >= 8")
        if not 0 <= self.band[0] <= self.band[1] <= 1:
            raise ConfigError("need 0 <= band_low <= band_high <= 1")
        if self.stage2 and self.cost_model:
            raise ConfigError("give --stage2 or --cost-model, not both")
        if self.kind == "finetuned" and (self.stage2 or self.cost_model):
            raise ConfigError("--stage2 and --cost-model belong to the frozen guard (--kind frozen)")


def train_guard(data: Any, spec: GuardTrainSpec, progress: Optional[Callable[[str, int, int], None]] = None) -> Any:
    """A trained guard of ``spec.kind`` on ``data`` (:class:`~safealign.guard.training_data.GuardData`)."""
    spec.validate()
    if spec.kind == "finetuned":
        from safealign.guard.finetune import FinetuneSettings, train_encoder_guard

        settings = FinetuneSettings(
            max_steps=spec.steps, batch_size=spec.batch_size, learning_rate=spec.learning_rate or 1.5e-4,
            max_length=spec.max_length, freeze_layers=spec.freeze_layers, target_fpr_prompt=spec.target_fpr,
            target_fpr_response=spec.target_fpr_response, seed=spec.seed, threads=spec.threads,
        )
        guard = train_encoder_guard(data, settings, progress=progress)
    else:
        guard = _train_frozen(data, spec, progress)
    guard_metrics(guard)["data"] = data.report()
    return guard


def _train_frozen(data: Any, spec: GuardTrainSpec, progress: Optional[Callable[[str, int, int], None]]) -> Any:
    import torch

    from safealign.guard.classifier import CascadeConfig, Guard, TrainSettings
    from safealign.guard.scoring import threshold_for_fpr

    if spec.threads:
        torch.set_num_threads(spec.threads)
    settings = TrainSettings(epochs=spec.epochs, lr=spec.learning_rate or 2e-3, hidden=spec.hidden, seed=spec.seed)
    guard = Guard.train(
        data.train, settings, stage2_encoder=spec.stage2, cost_model=spec.cost_model,
        config=CascadeConfig(band=spec.band), progress=progress,
    )
    safe = [e for e in data.dev if e.response is None and not e.unsafe]
    if safe:
        probs = [v.unsafe_prob for v in guard.classify_batch([(e.prompt, None, None) for e in safe])]
        guard.config.threshold = threshold_for_fpr(probs, spec.target_fpr)
    guard.stage1.metrics["threshold"] = round(guard.config.threshold, 4)
    guard.stage1.metrics["n_dev_safe_prompts"] = len(safe)
    return guard


def guard_metrics(guard: Any) -> dict[str, Any]:
    """The training metrics of either kind (the guard's own dict: they are saved with it)."""
    stage1 = getattr(guard, "stage1", None)
    return stage1.metrics if stage1 is not None else guard.metrics
