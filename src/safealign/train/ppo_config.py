"""Configuration of PPO-Lagrangian (torch-free, so that building the CLI stays fast); the trainer is
:mod:`safealign.train.ppo_lag`. Its generation settings (max_new_tokens, temperature, top_p, batch_size, seed) are
those of :class:`~safealign.backends.base.GenerationConfig`, with PPO's own defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from safealign.backends.base import GenerationConfig
from safealign.config import DRY_RUN_HELP, help_field
from safealign.errors import ConfigError
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP


@dataclass
class PPOLagConfig(GenerationConfig):
    """Safe RLHF(-V) PPO-Lagrangian: maximise reward subject to J_C <= d."""

    # models and data
    actor: str = help_field(
        "default", "Policy to train: 'default' (embedded SmolLM2-135M-Instruct), a hub id or a local path."
    )
    chat_template: str = help_field("auto", CHAT_TEMPLATE_HELP)
    dry_run: bool = help_field(False, DRY_RUN_HELP)
    reward_model: str = help_field("runs/demo/reward", "Frozen reward model folder (safealign score model).")
    cost_model: str = help_field("runs/demo/cost", "Frozen cost model folder (safealign score model).")
    prompts: str = help_field(
        "demo",
        "Training prompts: 'demo' (bundled safety_train prompts) or a .jsonl/.json file with prompt [, system, "
        "category, label, image].",
    )
    ptx_data: Optional[str] = help_field(
        None, "Optional supervised .jsonl (prompt, response [, system]) for the PTX loss."
    )
    output_dir: str = help_field(
        "runs/ppo_lag", "Where checkpoints, the final actor, metrics.jsonl and TensorBoard logs go."
    )
    seed: int = help_field(42, "Random seed (prompt order, sampling, initialisation).")
    # rollout
    steps: int = help_field(20, "Number of RL steps (one rollout batch + update each).")
    batch_size: int = help_field(8, "Prompts per step per process.")
    max_new_tokens: int = help_field(32, "Maximum response length.")
    temperature: float = help_field(1.0, "Sampling temperature (log-probs are always those of the unwarped policy).")
    top_p: float = help_field(1.0, "Nucleus sampling: sample from the smallest token set holding this probability.")
    record_log_probs: bool = help_field(
        True, "Record the actor's log-probs during generation instead of a second forward."
    )
    # PPO
    ppo_epochs: int = help_field(1, "Passes over each rollout batch.")
    mini_batches: int = help_field(1, "Minibatches per pass.")
    actor_lr: float = help_field(
        2e-5, "Actor learning rate (the papers: 5e-7 for full 7B fine-tuning; LoRA needs more)."
    )
    critic_lr: float = help_field(1e-4, "Critic learning rate.")
    adam_beta1: float = help_field(0.9, "Adam beta1.")
    adam_beta2: float = help_field(0.95, "Adam beta2.")
    weight_decay: float = help_field(0.0, "AdamW weight decay.")
    max_grad_norm: float = help_field(1.0, "Gradient clipping (0 disables).")
    kl_coef: float = help_field(0.02, "beta of the per-token KL penalty (reward -beta*kl, cost +beta*kl).")
    clip_range_ratio: float = help_field(0.2, "PPO ratio clip epsilon.")
    clip_range_value: float = help_field(5.0, "Value clip around the old values.")
    clip_range_score: float = help_field(50.0, "End scores are clipped to +- this.")
    gamma: float = help_field(1.0, "Discount factor of GAE.")
    gae_lambda: float = help_field(0.95, "lambda of GAE.")
    ptx_coeff: float = help_field(16.0, "Weight of the PTX (supervised LM) loss when ptx_data is given.")
    ptx_batch_size: int = help_field(4, "Supervised examples per PTX step.")
    ptx_mode: Literal["separate", "joint"] = help_field(
        "separate",
        "separate: after the PPO updates, one more optimiser step on ptx_coeff x the supervised loss (the reference "
        "code's way; with gradient clipping every coefficient large enough to reach the clip gives the same step). "
        "joint: every actor update minimises PPO loss + ptx_coeff x supervised loss on a fresh PTX batch, so the "
        "coefficient weighs the two objectives (InstructGPT's PPO-ptx objective).",
    )
    # multiplier(s)
    cost_threshold: list[float] = help_field([0.0], "d: the cost limit (one value, or one per constraint).")
    lambda_init: float = help_field(1.0, "Initial multiplier (1 in Safe RLHF, 10 in Safe RLHF-V).")
    lambda_lr: float = help_field(0.1, "SGD learning rate of log(lambda).")
    lambda_max: Optional[float] = help_field(None, "Cap on lambda (20 in Safe RLHF-V); none by default.")
    lambda_update_delay: int = help_field(0, "Steps before lambda starts to move.")
    lambda_window: int = help_field(128, "Episodes in the sliding window that defines J_C.")
    fixed_lambda: Optional[float] = help_field(
        None, "Keep lambda fixed: 0 = reward-only PPO, x > 0 = fixed-lambda shaping."
    )
    constraints: Literal["single", "prompt_category", "prompt_label"] = help_field(
        "single",
        "single: one lambda (the papers). prompt_category: one lambda per prompt category (or severity label). "
        "prompt_label: one lambda per prompt label, e.g. constraint_names [harmful]: only the cost of harmful prompts "
        "is constrained, so answers to benign prompts follow the reward alone. A name no prompt carries is an error.",
    )
    constraint_names: list[str] = help_field(
        [], "Names of the per-category constraints (prompt categories or prompt labels)."
    )
    advantage_normalization: Literal["episode", "global"] = help_field(
        "episode",
        "With prompt_category/prompt_label constraints: 'episode' divides each episode's advantage by 1 + the lambdas "
        "of "
        "the constraints that apply to it (an unconstrained episode keeps its reward advantage at full scale); "
        "'global' "
        "divides every episode by 1 + all lambdas. Identical (the papers' formula) when every constraint applies to "
        "every episode.",
    )
    score_scaling: Literal["none", "running"] = help_field(
        "none",
        "running: divide the reward and each constraint's cost by the running standard deviation of that stream's end "
        "scores (all episodes so far, all processes) before the KL penalty, so that both streams weigh alike in the "
        "advantage whatever the score models' ranges; J_C, lambda and the logs keep raw costs. none: the papers.",
    )
    # models: memory/speed
    use_lora: bool = help_field(True, "LoRA actor; the reference is the adapter-disabled base (no second copy).")
    lora_r: int = help_field(16, "LoRA rank.")
    lora_alpha: int = help_field(32, "LoRA alpha.")
    lora_dropout: float = help_field(0.0, "LoRA dropout (0 keeps rollout log-probs exact).")
    lora_target_modules: str = help_field(
        "auto", "'auto' (all linear layers of the language model) or a peft target spec."
    )
    critic_mode: Literal["head", "top", "full"] = help_field(
        "head",
        "head: critics share the frozen R/C trunks (train a value head); top: they share the lower layers and train "
        "copies of the top critic_top_layers layers + norm + value head; full: trainable copies.",
    )
    critic_top_layers: int = help_field(
        2, "critic_mode=top: how many top decoder layers of the R/C trunks each critic copies and trains."
    )
    gradient_checkpointing: Literal["auto", "on", "off"] = help_field(
        "auto",
        "Recompute each decoder layer's activations in the backward pass instead of keeping them (less memory, one "
        "more forward per update). auto: on for the fully trained models (full fine-tuning actor, full critics), off "
        "for a LoRA actor and head/top critics; on: also the LoRA actor.",
    )
    share_frozen_trunk: bool = help_field(
        True,
        "Scoring runs the lower layers that the reference, R and C hold bit-identically (found once at start, e.g. "
        "score models trained with train_mode top) once for the three, then only each model's own upper layers. "
        "Same results; text models on one device without mixed precision.",
    )
    # bookkeeping
    save_every: int = help_field(10, "Write a checkpoint every N steps (0: only at the end).")
    resume: bool = help_field(False, "Continue from output_dir/checkpoint.")
    tensorboard: bool = help_field(True, "Also log to TensorBoard (output_dir/tb).")
    progress: bool = help_field(True, "Show a progress bar.")

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError("steps, batch_size and max_new_tokens must be >= 1")
        if self.mini_batches < 1 or self.batch_size % self.mini_batches:
            raise ConfigError(
                f"batch_size ({self.batch_size}) must be a multiple of mini_batches ({self.mini_batches})"
            )
        if self.constraints != "single" and not self.constraint_names:
            raise ConfigError(f"constraints={self.constraints} needs constraint_names")
        if self.fixed_lambda is not None and self.fixed_lambda < 0:
            raise ConfigError("fixed_lambda must be >= 0")
        if self.critic_mode == "top" and self.critic_top_layers < 1:
            raise ConfigError(f"critic_top_layers must be >= 1 with critic_mode=top, got {self.critic_top_layers}")

    @property
    def names(self) -> list[str]:
        return ["cost"] if self.constraints == "single" else list(self.constraint_names)
