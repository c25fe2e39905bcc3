"""Configuration of ``safealign train safe-rlhf`` (torch-free, so ``safealign --help`` stays fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from safealign.config import BaseConfig, help_field
from safealign.errors import ConfigError
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP


@dataclass
class SafeRLHFConfig(BaseConfig):
    """The Safe RLHF recipe: a supervised warm start, then rounds of sample -> label -> retrain R and C ->
    PPO-Lagrangian from the current policy, each round judged on held-out prompts by judges that were not optimised."""

    # models and data
    model: str = help_field("default", "Policy to align: 'default' (embedded SmolLM2-135M-Instruct), a hub id or path.")
    output_dir: str = help_field("runs/safe-rlhf", "Run folder: one sub-folder per round, rounds.json, state.json.")
    shared_data: Optional[str] = help_field(
        None,
        "Folder of the shared public prompt sets (e.g. ../shared/data): their train parts join the training prompts "
        "and their held-out parts the evaluation. Without it: the look-alike set only.",
    )
    guard: str = help_field(
        "runs/demo/guard", "Guard folder: the annotator of the policy's answers and an independent judge of them."
    )
    reward_model: Optional[str] = help_field(
        None, "Round-0 reward model folder; empty: trained here on the bundled pairs and the look-alike train pairs."
    )
    cost_model: Optional[str] = help_field(
        None, "Round-0 cost model folder; empty: trained here like the reward model."
    )
    chat_template: str = help_field(
        "auto", "Chat template of the policy, also used by the score models trained here. " + CHAT_TEMPLATE_HELP
    )
    seed: int = help_field(0, "Random seed of every stage.")
    rounds: int = help_field(1, "Rounds of sample -> label -> retrain R and C -> PPO-Lagrangian after the warm start.")
    # round 0: the supervised warm start
    warm_start: bool = help_field(True, "Round 0: supervised warm start (off: PPO starts from the raw model).")
    warm_harmful: int = help_field(160, "Warm start: harmful training prompts (answered with a helpful refusal).")
    warm_benign: int = help_field(160, "Warm start: benign training prompts (answered with the policy's best of n).")
    best_of: int = help_field(4, "Warm start: answers sampled per benign prompt; the best by reward is kept.")
    sample_tokens: int = help_field(96, "Answer length of sampled answers (warm start and rounds).")
    sample_temperature: float = help_field(0.8, "Sampling temperature of the warm start and of each round's answers.")
    sft_epochs: float = help_field(2.0, "Warm start: SFT epochs over its rows.")
    sft_learning_rate: float = help_field(2e-4, "Warm start: SFT learning rate (LoRA, merged into the saved policy).")
    sft_batch_size: int = help_field(8, "Warm start: SFT batch size.")
    sft_max_length: int = help_field(384, "Warm start: token limit of an SFT example.")
    # each round: sample, label, retrain R and C
    round_harmful: int = help_field(48, "Per round: harmful training prompts the current policy answers.")
    round_benign: int = help_field(48, "Per round: benign training prompts the current policy answers.")
    samples: int = help_field(2, "Per round: answers sampled per prompt, labelled by the guard/compliance judge.")
    score_epochs: int = help_field(
        2, "R and C retraining: epochs over the labelled answers of every round so far plus a replay of round-0 data."
    )
    trunk_cache: Optional[str] = help_field(
        None, "Cached trunk states shared with other score-model runs of the same backbone (default: the run folder)."
    )
    eval_rounds: bool = help_field(
        True, "Evaluate the base model and every round's policy on held-out prompts (off: a caller evaluates them)."
    )
    score_max_length: int = help_field(256, "R and C: token limit per sequence.")
    # each round: PPO-Lagrangian
    ppo_steps: int = help_field(16, "Per round: PPO-Lagrangian steps.")
    ppo_batch_size: int = help_field(8, "PPO: prompts per step.")
    ppo_tokens: int = help_field(48, "PPO: answer length.")
    actor_lr: float = help_field(1e-4, "PPO: LoRA actor learning rate.")
    kl_coef: float = help_field(0.05, "PPO: KL penalty towards the round's starting policy.")
    cost_threshold: float = help_field(0.0, "d: the limit of J_C, the mean cost of answers to HARMFUL prompts.")
    lambda_init: float = help_field(1.0, "PPO: initial Lagrange multiplier.")
    lambda_lr: float = help_field(0.1, "PPO: multiplier learning rate (on log lambda).")
    lambda_max: float = help_field(10.0, "PPO: cap on lambda.")
    ptx_coeff: float = help_field(0.0, "PPO: weight of a supervised loss on the warm-start rows (0: none).")
    fixed_lambda: Optional[float] = help_field(None, "PPO baseline: fixed lambda (0 = reward-only PPO).")
    # evaluation after each round
    eval_harmful: int = help_field(40, "Per-round evaluation: held-out real harmful prompts (with shared_data).")
    eval_benign: int = help_field(24, "Per-round evaluation: held-out real benign prompts (with shared_data).")
    eval_lookalike: int = help_field(
        16, "Per-round evaluation: held-out look-alike pairs (a benign and a harmful each)."
    )
    eval_tokens: int = help_field(64, "Per-round evaluation: answer length (greedy).")
    eval_seed: int = help_field(0, "Which held-out prompts are drawn (the same for every run with the same value).")
    eval_base: bool = help_field(True, "Also evaluate the starting model (off: another run evaluated it).")
    batch_size: int = help_field(8, "Generation and scoring batch size.")
    resume: bool = help_field(True, "Skip the stages already finished in output_dir (each stage also resumes itself).")
    progress: bool = help_field(True, "Show progress.")

    def validate(self) -> None:
        if self.rounds < 0:
            raise ConfigError(f"rounds must be >= 0, got {self.rounds}")
        if self.rounds == 0 and not self.warm_start:
            raise ConfigError("nothing to do: rounds is 0 and warm_start is off")
        for name in ("best_of", "samples", "ppo_steps", "ppo_batch_size", "sft_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
