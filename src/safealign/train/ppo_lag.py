"""PPO-Lagrangian (Safe RLHF / Safe RLHF-V) for text and vision-language policies. Orchestration only: every
formula comes from :mod:`safealign.losses` (the PPO-Lagrangian of the Safe RLHF / Safe RLHF-V papers).

One RL step:
  1. rollout: batched KV-cached sampling, per-token log-probs of the unwarped policy   (time/generation)
  2. scoring: reference log-probs (LoRA adapter disabled: no second copy), frozen R and C (one batched trunk
     forward each, the same pixel values; with share_frozen_trunk the lower layers that the reference, R and C
     hold bit-identically run once for the three), old critic values                   (time/scoring)
     R and C read each episode in their training format: the chat template's end-of-turn suffix is appended after
     the response (a truncated one too) and the end score read there; it still lands on the last response token of
     the reward / cost streams.
  3. multiplier(s): episode costs -> sliding window -> J_C -> lambda step (all processes' episodes)
  4. KL-shaped reward / cost streams, GAE per stream, A = (A_R - sum_k lambda_k A_C,k) / (1 + sum_k lambda_k)
     (with constraints on prompt labels/categories: only the constraints that apply to an episode, see
     combined_advantage; with score_scaling running, the end scores and critic values in stream units: see
     score_scaling.py)
  5. actor: clipped surrogate over response tokens                                      (time/actor)
  6. critics: clipped value losses                                                       (time/critic)
  7. optional PTX step on supervised data (x ptx_coeff); with ptx_mode joint the PTX loss joins every actor update
     instead
Baselines by configuration: ``fixed_lambda: 0`` = reward-only PPO, ``fixed_lambda: x`` = fixed-lambda shaping.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from safealign.config import DRY_RUN_HELP, BaseConfig, help_field
from safealign.data.records import PromptRecord
from safealign.errors import ConfigError, DataError
from safealign.models.chat_templates import CHAT_TEMPLATE_HELP
from safealign.train.common import rng_state, set_rng_state
from safealign.train.sharding import (
    DEEPSPEED_DIR,
    check_checkpoint_kind,
    clean_param_name,
    copy_full_state,
    full_state_dict,
    gathered_optimizer_state,
    is_deepspeed,
    load_engine_states,
    load_optimizer_state,
    optimizer_step,
    prepare_pair,
    reshard,
    save_engine_states,
    sharded_parameters,
    unsharded_root,
    whole_model_loading,
)
from safealign.ui import console
from safealign.utils.atomic import atomic_dir, atomic_torch_save, atomic_write_json, atomic_write_text
from safealign.utils.jsonl import read_json_rows, read_jsonl


class _LazyTorch:
    """``torch`` imported on first use, so that building the CLI (which reads PPOLagConfig) stays fast."""

    def __getattr__(self, name: str) -> Any:
        import torch as _torch

        return getattr(_torch, name)


torch = _LazyTorch()

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"


@dataclass
class PPOLagConfig(BaseConfig):
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
    top_p: float = help_field(1.0, "Nucleus sampling threshold.")
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


# --------------------------------------------------------------------------------------------------- data


def load_prompts(spec: str) -> list[PromptRecord]:
    """'demo' (prompts of the bundled safety_train pairs), 'demo:eval' (held-out eval prompts) or a .jsonl/.json
    file."""
    if spec in ("demo", "demo:eval"):
        # the prompts of the bundled safety_train pairs; "demo:eval" is the held-out evaluation set (harmful + benign
        # look-alikes), for evaluation only. The demo generator gives harmful prompts (only) a prompt category; the
        # responses do not tell (some harmful prompts have two refusals, some benign ones an unsafe answer)
        from safealign.data.demo import load_demo

        if spec == "demo:eval":
            return list(load_demo("eval_prompts"))
        seen: dict[str, PromptRecord] = {}
        for pair in load_demo("safety_train"):
            if pair.prompt in seen or pair.images:
                continue
            harmful = pair.prompt_category is not None
            cat = pair.prompt_category or "benign"
            seen[pair.prompt] = PromptRecord(
                prompt=pair.prompt, system=pair.system, category=cat, label="harmful" if harmful else "benign",
                id=pair.id,
            )
        return list(seen.values())
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"prompt file not found: {spec}")
    rows = read_json_rows(path)
    out = []
    for i, row in enumerate(rows, 1):
        text = next(
            (row[k] for k in ("prompt", "question", "instruction", "goal") if isinstance(row.get(k), str)), None
        )
        if not text:
            raise DataError("no prompt text (expected one of prompt/question/instruction/goal)", str(path), i, "prompt")
        for key in ("image", "system", "category", "id"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise DataError(f"must be a string, got {type(row[key]).__name__}", str(path), i, key)
        image = None
        if row.get("image"):
            from PIL import Image, UnidentifiedImageError

            ip = Path(row["image"])
            ip = ip if ip.is_absolute() else path.parent / ip
            if not ip.is_file():
                raise DataError(f"image not found: {ip}", str(path), i, "image")
            try:
                image = Image.open(ip).convert("RGB")
            except (UnidentifiedImageError, OSError) as e:
                raise DataError(f"unreadable image {ip} ({type(e).__name__})", str(path), i, "image") from None
        label = row.get("label")
        if label is not None and label not in ("harmful", "benign"):
            raise DataError(f"label must be harmful or benign, got {label!r}", str(path), i, "label")
        out.append(
            PromptRecord(
                prompt=text, system=row.get("system"), image=image, category=row.get("category"), label=label,
                id=row.get("id"),
            )
        )
    if not out:
        raise DataError("no prompts", str(path))
    return out


# ---------------------------------------------------------------------------------------------- trainer


def _is_vision(model: Any) -> bool:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "vision_config", None) is not None


def _check_constraint_names(cfg: PPOLagConfig, prompts: Sequence[PromptRecord]) -> None:
    """A per-category constraint that no prompt carries would leave its lambda still and the run silently
    unconstrained for it: an error naming the values the prompts do carry."""
    if cfg.constraints not in ("prompt_category", "prompt_label"):
        return
    field = "category" if cfg.constraints == "prompt_category" else "label"
    have = {getattr(r, field) for r in prompts} - {None}
    if field == "label":  # a run whose prompts are all benign has nothing to constrain, but is no mistake
        have |= {"harmful", "benign"}
    missing = [n for n in cfg.constraint_names if n not in have]
    if missing:
        raise ConfigError(
            f"constraint_names {missing} match no prompt's {field} in {cfg.prompts} (the prompts carry: "
            f"{', '.join(sorted(have)[:12]) or 'none'})"
        )


def _reads_images(score_model: Any) -> bool:
    return bool(score_model.score_config.is_vision) or _is_vision(score_model.backbone)


class PPOLagTrainer:
    """Build with a config (models/data loaded from its paths) or pass models directly (tests, notebooks).

    actor: a causal LM / LLaVA-style model (LoRA is added when ``cfg.use_lora``); processing_class: its tokenizer
    or processor; reward_model / cost_model: :class:`~safealign.models.score.ScoreModel` (frozen here).
    """

    def __init__(
        self,
        cfg: PPOLagConfig,
        actor: Any = None,
        processing_class: Any = None,
        reward_model: Any = None,
        cost_model: Any = None,
        prompts: Optional[Sequence[PromptRecord]] = None,
        reward_processing_class: Any = None,
        cost_processing_class: Any = None,
        ptx_examples: Optional[Sequence[dict[str, str]]] = None,
        accelerator: Any = None,
    ):
        from accelerate import Accelerator

        cfg.validate()
        self.cfg = cfg
        if accelerator is None:
            from safealign.train.common import init_process_state

            init_process_state()  # a DeepSpeed launch stays DeepSpeed on CPU processes too
        self.acc = accelerator or Accelerator()  # mixed precision from the launcher
        self.out = Path(cfg.output_dir)
        _seed_everything(cfg.seed)
        device = self.acc.device
        if device.type == "cpu":
            # denormal floats (e.g. from a vision tower on dark images) make CPU matmuls ~100x slower
            torch.set_flush_denormal(True)

        # ---- models: loaded whole on every process (under ZeRO-3 transformers would load them partitioned, and the
        # reference copy and the frozen R and C never go through DeepSpeed); prepare() shards the trained ones
        from safealign.models.score import load_score_model

        with whole_model_loading():
            if actor is None:
                actor, processing_class = _load_actor(cfg.actor, cfg.chat_template)
            if reward_model is None:
                reward_model, reward_processing_class = load_score_model(cfg.reward_model)
            if cost_model is None:
                cost_model, cost_processing_class = load_score_model(cfg.cost_model)
            self.reward_model, self.cost_model = reward_model, cost_model
        if processing_class is None:
            raise ConfigError("processing_class (tokenizer or processor) is required with a given actor")
        for m in (self.reward_model, self.cost_model):
            m.requires_grad_(False)
            m.eval().to(device)
        self.processing_class = processing_class
        self.vision = _is_vision(actor)
        # R and C were trained on conversations ending with the template's end-of-turn suffix: rollouts are scored so
        from safealign.train.rollout import assistant_suffix_ids, eos_ids_of, tokenizer_of

        tok = tokenizer_of(processing_class)
        self.score_suffix_ids = assistant_suffix_ids(processing_class)
        self.eos_ids = eos_ids_of(actor, tok)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (self.eos_ids[0] if self.eos_ids else 0)
        actor.to(device)
        self.ref_model = None
        if cfg.use_lora:
            actor = self._add_lora(actor)
        else:
            import copy

            self.ref_model = copy.deepcopy(actor).eval().requires_grad_(False)
            if self.vision:
                for name, p in actor.named_parameters():
                    if "vision_tower" in name or "multi_modal_projector" in name:
                        p.requires_grad_(False)
        actor.train()

        # ---- constraints and critics
        from safealign.train.critic import Critic
        from safealign.train.lagrange import LagrangeMultipliers

        names = cfg.names
        self.cost_rows = [0] * len(names)  # every constraint's stream starts from the cost model's overall output
        self.reward_critic = Critic(
            self.reward_model, rows=(0,), mode=cfg.critic_mode, top_layers=cfg.critic_top_layers
        ).to(device)
        self.cost_critic = Critic(
            self.cost_model, rows=self.cost_rows, mode=cfg.critic_mode, top_layers=cfg.critic_top_layers
        ).to(device)
        fixed = cfg.fixed_lambda is not None
        self.lagrange = LagrangeMultipliers(
            names=names, thresholds=cfg.cost_threshold, lambda_init=cfg.fixed_lambda if fixed else cfg.lambda_init,
            lr=cfg.lambda_lr, window=cfg.lambda_window, delay=cfg.lambda_update_delay, lambda_max=cfg.lambda_max,
            fixed=fixed,
        )
        self.cost_threshold_safe = float(self.cost_model.score_config.threshold)
        from safealign.train.score_scaling import RunningScale

        self.score_scale = RunningScale(1 + len(names)) if cfg.score_scaling == "running" else None

        # ---- optimisers
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        actor_params = [p for p in actor.parameters() if p.requires_grad]
        self.actor_opt = torch.optim.AdamW(actor_params, lr=cfg.actor_lr, betas=betas, weight_decay=cfg.weight_decay)
        self.reward_critic_opt = torch.optim.AdamW(self.reward_critic.parameters(), lr=cfg.critic_lr, betas=betas)
        self.cost_critic_opt = torch.optim.AdamW(
            [p for p in self.cost_critic.parameters() if p.requires_grad], lr=cfg.critic_lr, betas=betas
        )
        # one model with its optimiser per prepare call: FSDP2 (and DeepSpeed) wrap a single model per call
        micro = cfg.batch_size // cfg.mini_batches  # episodes per process in one backward pass
        self.actor, self.actor_opt = prepare_pair(self.acc, actor, self.actor_opt, micro)
        self.reward_critic, self.reward_critic_opt = prepare_pair(
            self.acc, self.reward_critic, self.reward_critic_opt, micro
        )
        self.cost_critic, self.cost_critic_opt = prepare_pair(self.acc, self.cost_critic, self.cost_critic_opt, micro)
        if sharded_parameters(self.acc):
            # FSDP sets itself up at the first forward, which must enter through the root module: generate does not
            with torch.no_grad():
                one = torch.full((1, 1), self.pad_id, dtype=torch.long, device=device)
                self.actor(input_ids=one, attention_mask=torch.ones_like(one))
            reshard(self.actor)  # FSDP keeps the root gathered after a forward (for the backward that follows)

        # ---- data
        self.prompts = list(prompts) if prompts is not None else load_prompts(cfg.prompts)
        if not self.prompts:
            raise ConfigError("no training prompts")
        with_image = sum(r.image is not None for r in self.prompts)
        if 0 < with_image < len(self.prompts):
            raise ConfigError(
                f"{with_image} of {len(self.prompts)} prompts have an image: use all-image or all-text prompt sets"
            )
        if with_image and not self.vision:
            raise ConfigError("the prompts have images but the actor is a text-only model")
        _check_constraint_names(cfg, self.prompts)
        # ---- the compatibility check: every chat template probed; R and C share the actor's token ids, or read the
        # episodes re-tokenized through text (their own tokenizer and template); text-only R/C never see image prompts
        from safealign.models.compat import check_models

        given = {"the reward model": (self.reward_model, reward_processing_class),
                 "the cost model": (self.cost_model, cost_processing_class)}
        readings = check_models(
            processing_class, {name: (pc or processing_class, _reads_images(m)) for name, (m, pc) in given.items()},
            images=with_image > 0, policy_name="the actor")
        self.reward_processing_class, self.cost_processing_class = (
            pc if readings[name].mode == "text" else None for name, (_, pc) in given.items())
        if self.acc.is_main_process:
            for r in readings.values():
                console.print(f"ppo-lag: {r.name}: {r.why}", soft_wrap=True)
        self.ptx_examples = (
            list(ptx_examples) if ptx_examples is not None else (read_json_rows(cfg.ptx_data) if cfg.ptx_data else [])
        )
        self.step = 0
        self._writer = None

        # ---- shared frozen trunk: the lower layers the reference, R and C hold bit-identically run once per rollout
        t_find = time.perf_counter()
        self.shared_trunk_depth, why = self._find_shared_trunk()
        if self.acc.is_main_process:
            console.print(f"ppo-lag: shared frozen trunk: {why} ({time.perf_counter() - t_find:.2f} s)", soft_wrap=True)

    # ------------------------------------------------------------------------------------------------ setup
    def _add_lora(self, actor: Any) -> Any:
        from peft import LoraConfig, get_peft_model

        cfg = self.cfg
        target: Any = cfg.lora_target_modules
        if target == "auto":
            target = (
                r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
                if self.vision
                else "all-linear"
            )
        elif "," in target:
            target = [t.strip() for t in target.split(",") if t.strip()]
        lcfg = LoraConfig(
            r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=target,
            task_type="CAUSAL_LM",
        )
        return get_peft_model(actor, lcfg)

    @property
    def unwrapped_actor(self) -> Any:
        return self.acc.unwrap_model(self.actor)

    @contextmanager
    def _reference(self) -> Any:
        """The reference policy: the frozen copy (full fine-tuning) or the actor with its LoRA adapter disabled."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        model = self.unwrapped_actor
        with model.disable_adapter():
            yield model

    def _ref_log_probs(self, rollout: Any, trunk: Any = None) -> torch.Tensor:
        """Reference log-probs of the response tokens; with ``trunk`` (shared lower layers already run) only the
        reference's own upper layers + norm + LM head (response positions only) run."""
        from safealign.train.rollout import policy_log_probs

        with torch.no_grad(), self._reference() as ref:
            if trunk is None:
                return policy_log_probs(ref, rollout)[0]
            from safealign.models.trunk import decoder_layers, layer_slice

            with layer_slice(decoder_layers(ref)[0], trunk.depth):
                return policy_log_probs(ref, rollout, inputs_embeds=trunk.hidden)[0]

    def _scoring_view(self, rollout: Any) -> Any:
        """The rollout in the score models' training format: the chat template's end-of-turn suffix appended after each
        response (only its tail where the generated EOS is its first token); prompt and response tokens unchanged."""
        from safealign.train.rollout import with_turn_suffix

        return with_turn_suffix(rollout, self.score_suffix_ids, self.eos_ids, self.pad_id)

    def _scoring(self, rollout: Any, depth: Optional[int] = None) -> tuple[torch.Tensor, Any, Any]:
        """(reference log-probs, R read-out, C read-out) of a rollout. ``depth``: how many lower layers run once for
        the three (default: the depth found at start; 0: three full forwards). Everything runs on the scoring view
        (:meth:`_scoring_view`): R and C end scores are read at the end of the suffix, as in their training; the
        reference log-probs and the critic states are those of the response positions, which the suffix after them
        does not change. A score model whose tokenizer or template differs from the actor's reads the episodes
        re-tokenized through text (:mod:`safealign.train.score_view`); each read-out's ``critic_input`` is what its
        critic reads (the rollout, or that text view)."""
        from safealign.models.trunk import decoder_layers
        from safealign.train.critic import score_rollout, shared_trunk_states
        from safealign.train.score_view import text_view

        depth = self.shared_trunk_depth if depth is None else depth
        plain, rollout = rollout, self._scoring_view(rollout)
        rc, cc = self.acc.unwrap_model(self.reward_critic), self.acc.unwrap_model(self.cost_critic)
        trunk = None
        if depth > 0:
            # states a top critic reads below the shared depth are kept while the trunk runs
            keep = [
                len(decoder_layers(m.backbone)[1]) - c.top_layers
                for m, c in ((self.reward_model, rc), (self.cost_model, cc))
                if c.top_layers
            ]
            trunk = shared_trunk_states(self.reward_model, rollout, depth, keep)
        ref_lp = self._ref_log_probs(rollout, trunk)
        outs = []
        for model, critic, pc in ((self.reward_model, rc, self.reward_processing_class),
                                  (self.cost_model, cc, self.cost_processing_class)):
            # a score model with another tokenizer or template reads the episodes re-tokenized through text
            view = rollout if pc is None else text_view(plain, self.processing_class, pc,
                                                        pixel_dtype=next(model.parameters()).dtype)
            out = score_rollout(model, view, keep_hidden=critic.needs_hidden, top_layers=critic.top_layers,
                                trunk=trunk if pc is None else None)
            out.critic_input = plain if pc is None else view
            outs.append(out)
        return ref_lp, outs[0], outs[1]

    def _find_shared_trunk(self) -> tuple[int, str]:
        """(K, a line for the log): the number of lower decoder layers (with the embeddings) that the reference, R and
        C hold bit-identically, compared tensor by tensor once; 0 where sharing does not apply. A 2-row padded probe
        then checks that the split forward reproduces the full ones on this architecture."""
        from safealign.models.trunk import decoder_layers, shared_depth

        if not self.cfg.share_frozen_trunk:
            return 0, "off (share_frozen_trunk: false)"
        if self.reward_processing_class is not None or self.cost_processing_class is not None:
            return 0, "off (a score model reads re-tokenized text)"
        scorers = (self.reward_model, self.cost_model)
        if self.vision or any(m.score_config.is_vision or _is_vision(m.backbone) for m in scorers):
            return 0, "off (vision models)"
        if sharded_parameters(self.acc):
            return 0, "off (sharded parameters)"
        if str(getattr(self.acc, "mixed_precision", "no")) != "no":
            return 0, "off (mixed precision)"
        try:
            with self._reference() as ref:
                decoders = [decoder_layers(ref)[0]] + [decoder_layers(m.backbone)[0] for m in scorers]
        except ConfigError:
            return 0, "off (no decoder layer list found)"
        n = len(decoder_layers(self.reward_model.backbone)[1])
        depth = shared_depth(decoders)
        if depth == 0:
            return 0, "K=0 (the reference, R and C differ from the embeddings or layer 0 on)"
        if not self._shared_scoring_matches(depth):
            return (
                0,
                f"off ({depth} identical layers, but a split forward differs from a full one on this architecture)",
            )
        return depth, f"K={depth} of {n} layers run once for the reference, R and C"

    def _shared_scoring_matches(self, depth: int) -> bool:
        """Scoring with and without the shared trunk agree on a tiny padded probe (left-padded prompt, right-padded
        response); random token ids from a private generator (the global RNG stays untouched)."""
        from safealign.train.rollout import Rollout

        g = torch.Generator().manual_seed(0)
        vocab = int(self.reward_model.backbone.get_input_embeddings().num_embeddings)
        dev = self.acc.device
        ids = torch.randint(0, vocab, (2, 7), generator=g).to(dev)
        attn = torch.tensor([[0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]], device=dev)
        probe = Rollout(ids, attn, 4, attn[:, 4:].float())
        with torch.no_grad():
            full, split = self._scoring(probe, 0), self._scoring(probe, depth)
        pairs = [(full[0], split[0])]
        for a, b in zip(full[1:], split[1:]):
            pairs.append((a.end_scores, b.end_scores))
            if a.hidden is not None:
                pairs.append((a.hidden, b.hidden))
        for a, b in pairs:
            tol = 1e-4 if a.dtype == torch.float32 else 2e-2
            if a.shape != b.shape or not torch.allclose(a.float(), b.float(), atol=tol, rtol=tol, equal_nan=True):
                return False
        return True

    def _batch(self, step: int) -> list[PromptRecord]:
        """Prompts of this process at ``step``: a per-epoch seeded permutation, so a resumed run sees the same order."""
        n, world, rank, B = len(self.prompts), self.acc.num_processes, self.acc.process_index, self.cfg.batch_size
        G = B * world
        out = []
        perms: dict[int, list[int]] = {}
        for i in range(step * G + rank * B, step * G + rank * B + B):
            epoch, pos = divmod(i, n)
            if epoch not in perms:
                g = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)
                perms[epoch] = torch.randperm(n, generator=g).tolist()
            out.append(self.prompts[perms[epoch][pos]])
        return out

    def _episode_costs(
        self, cost_end: torch.Tensor, records: Sequence[PromptRecord]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-constraint end costs [B, K] and which episodes count for each constraint [B, K]."""
        cfg = self.cfg
        if cfg.constraints in ("prompt_category", "prompt_label"):
            cats = [r.category if cfg.constraints == "prompt_category" else r.label for r in records]
            valid = torch.tensor([[c == n for n in cfg.names] for c in cats], dtype=torch.bool, device=cost_end.device)
            return cost_end[:, :1].expand(-1, len(cfg.names)) * valid, valid
        costs = cost_end[:, self.cost_rows]
        return costs, torch.ones_like(costs, dtype=torch.bool)

    # ------------------------------------------------------------------------------------------------- step
    def rl_step(self, records: Sequence[PromptRecord]) -> dict[str, float]:
        from safealign import losses as L
        from safealign.train.rollout import generate_rollout, policy_log_probs

        cfg, acc = self.cfg, self.acc
        dev = acc.device
        t0 = _now(dev)
        # 1. rollout
        with unsharded_root(self.actor):
            rollout = generate_rollout(
                self.unwrapped_actor, self.processing_class, records, cfg.max_new_tokens, cfg.temperature, cfg.top_p,
                cfg.record_log_probs,
            )
        t1 = _now(dev)
        # 2. scoring (no grad): reference, frozen R and C (shared lower layers once), old values
        with torch.no_grad():
            old_lp = (
                rollout.log_probs
                if rollout.log_probs is not None
                else policy_log_probs(self.unwrapped_actor, rollout)[0]
            )
            ref_lp, r_out, c_out = self._scoring(rollout)
            rc, cc = self.acc.unwrap_model(self.reward_critic), self.acc.unwrap_model(self.cost_critic)
            old_rv = rc(r_out.critic_input, r_out.hidden)[..., 0]  # [B, T]
            old_cv = cc(c_out.critic_input, c_out.hidden)  # [B, T, K]
        t2 = _now(dev)
        mask = rollout.response_mask
        reward = r_out.end_scores[:, 0]
        costs, valid = self._episode_costs(c_out.end_scores, records)
        # 3. multiplier(s) from the episodes of every process
        gather = acc.gather if acc.num_processes > 1 else None
        lambdas = self.lagrange.observe(costs, valid, gather=gather)
        # 4. shaped streams, GAE, combined advantage
        # score scaling: the advantages read scaled scores (J_C and lambda the raw ones), and the critics, whose heads
        # start as the score models and so speak raw units, are read in the same scaled units (x 1.0 when off)
        sc = torch.ones(1 + costs.size(-1), device=reward.device)
        if self.score_scale is not None:
            self.score_scale.observe(
                torch.cat([reward[:, None], costs], -1),
                torch.cat([torch.ones_like(valid[:, :1]), valid], -1),
                gather=gather,
            )
            sc = self.score_scale.tensor(reward.device)
        s_reward, s_costs = reward / sc[0], costs / sc[1:]
        old_rv, old_cv = old_rv / sc[0], old_cv / sc[1:]
        r_stream = L.kl_penalised_scores(s_reward, old_lp, ref_lp, mask, cfg.kl_coef, -1.0, cfg.clip_range_score)
        adv_r, ret_r = L.gae(r_stream, old_rv, mask, cfg.gamma, cfg.gae_lambda)
        adv_c, ret_c = [], []
        for k in range(len(lambdas)):
            c_stream = L.kl_penalised_scores(
                s_costs[:, k], old_lp, ref_lp, mask, cfg.kl_coef, +1.0, cfg.clip_range_score
            )
            a, g = L.gae(c_stream, old_cv[..., k], mask, cfg.gamma, cfg.gae_lambda)
            adv_c.append(a)
            ret_c.append(g)
        advantages = L.combined_advantage(adv_r, adv_c, lambdas, applies=valid, normalize=cfg.advantage_normalization)
        ret_c_t, adv_c_t = torch.stack(ret_c, -1), torch.stack(adv_c, -1)
        # 5. actor
        B = len(records)
        mb = B // cfg.mini_batches
        actor_losses, clip_fracs, entropies, ptx_losses = [], [], [], []
        use_ptx = bool(self.ptx_examples) and cfg.ptx_coeff > 0
        joint_ptx = use_ptx and cfg.ptx_mode == "joint"
        r_vloss, c_vloss = [], []
        t_actor = t_critic = 0.0
        g = torch.Generator().manual_seed(cfg.seed * 7919 + self.step)
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(B, generator=g) if cfg.mini_batches > 1 else torch.arange(B)
            for s in range(cfg.mini_batches):
                idx = order[s * mb : (s + 1) * mb].to(mask.device)
                sub = rollout.select(idx)
                ta = _now(dev)
                new_lp, ent = policy_log_probs(self.actor, sub, with_entropy=True)
                loss, clip_frac = L.ppo_actor_loss(
                    new_lp, old_lp[idx], advantages[idx], sub.response_mask, cfg.clip_range_ratio
                )
                if joint_ptx:
                    ptx_l = self._ptx_loss(self.step * cfg.ppo_epochs * cfg.mini_batches + len(actor_losses))
                    ptx_losses.append(ptx_l.item())
                    loss = loss + cfg.ptx_coeff * ptx_l
                optimizer_step(acc, self.actor, self.actor_opt, loss, cfg.max_grad_norm)
                actor_losses.append(loss.item())
                clip_fracs.append(clip_frac.item())
                entropies.append(L.masked_mean(ent, sub.response_mask).item())
                tc = _now(dev)
                # 6. critics
                r_sub, c_sub = r_out.critic_input.select(idx), c_out.critic_input.select(idx)
                rv = self.reward_critic(r_sub, None if r_out.hidden is None else r_out.hidden[idx])[..., 0] / sc[0]
                rl = L.value_loss(rv, old_rv[idx], ret_r[idx], sub.response_mask, cfg.clip_range_value)
                optimizer_step(acc, self.reward_critic, self.reward_critic_opt, rl, 0.0)
                cv = self.cost_critic(c_sub, None if c_out.hidden is None else c_out.hidden[idx]) / sc[1:]
                # a constraint's critic learns from the episodes that constraint applies to
                cl = sum(
                    L.value_loss(
                        cv[..., k], old_cv[idx][..., k], ret_c_t[idx][..., k],
                        sub.response_mask * valid[idx, k, None].to(sub.response_mask.dtype), cfg.clip_range_value,
                    )
                    for k in range(cv.size(-1))
                )
                optimizer_step(acc, self.cost_critic, self.cost_critic_opt, cl, 0.0)
                r_vloss.append(rl.item())
                c_vloss.append(cl.item())
                td = _now(dev)
                t_actor += tc - ta
                t_critic += td - tc
        # 7. PTX
        ptx = sum(ptx_losses) / len(ptx_losses) if joint_ptx else (self._ptx_step() if use_ptx else None)
        self.step += 1

        # metrics: episode statistics over all processes
        kl_seq = ((old_lp - ref_lp) * mask).sum(-1)
        safe = (c_out.end_scores[:, 0] <= self.cost_threshold_safe).float()
        ep = torch.stack([reward, c_out.end_scores[:, 0], kl_seq, mask.sum(-1), safe], -1)
        if acc.num_processes > 1:
            ep = acc.gather(ep.contiguous())
        ep_mean = ep.mean(0).tolist()
        m: dict[str, float] = {
            "step": self.step,
            "reward": ep_mean[0],
            "cost": ep_mean[1],
            "kl": ep_mean[2],
            "response_length": ep_mean[3],
            "safe_share": ep_mean[4],
            "entropy": sum(entropies) / len(entropies),
            "clip_frac": sum(clip_fracs) / len(clip_fracs),
            "actor_loss": sum(actor_losses) / len(actor_losses),
            "reward_value_loss": sum(r_vloss) / len(r_vloss),
            "cost_value_loss": sum(c_vloss) / len(c_vloss),
            "advantage_mean": L.masked_mean(advantages, mask).item(),
            "cost_advantage_mean": L.masked_mean(adv_c_t.mean(-1), mask).item(),
            "time/generation": t1 - t0,
            "time/scoring": t2 - t1,
            "time/actor": t_actor,
            "time/critic": t_critic,
        }
        m.update(self.lagrange.metrics())
        if self.score_scale is not None:
            scales = self.score_scale.scales()
            m["score_scale/reward"] = scales[0]
            m.update({f"score_scale/{n}": v for n, v in zip(cfg.names, scales[1:])})
        if ptx is not None:
            m["ptx_loss"] = ptx
        m["time/step"] = _now(dev) - t0
        return m

    def _ptx_step(self) -> float:
        """ptx_mode separate: one optimiser step on ptx_coeff x the supervised loss; returns the unweighted loss."""
        cfg = self.cfg
        loss = cfg.ptx_coeff * self._ptx_loss(self.step)
        optimizer_step(self.acc, self.actor, self.actor_opt, loss, cfg.max_grad_norm)
        return loss.item() / cfg.ptx_coeff

    def _ptx_loss(self, batch_index: int) -> torch.Tensor:
        """Supervised LM loss (response tokens only) of the ``batch_index``-th PTX batch (rows taken in a cycle, so a
        resumed run reads the same rows)."""
        from safealign.losses import sft_loss
        from safealign.models.chat_format import render_messages
        from safealign.models.conversation import build_messages
        from safealign.train.rollout import tokenizer_of

        cfg = self.cfg
        tok = tokenizer_of(self.processing_class)
        n = len(self.ptx_examples)
        rows = [self.ptx_examples[(batch_index * cfg.ptx_batch_size + i) % n] for i in range(cfg.ptx_batch_size)]
        ids, labels = [], []
        for row in rows:
            system = row.get("system")
            prompt = render_messages(self.processing_class, build_messages(row["prompt"], None, system), True)
            full = render_messages(self.processing_class, build_messages(row["prompt"], row["response"], system))
            p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            f_ids = tok(full, add_special_tokens=False)["input_ids"]
            ids.append(f_ids)
            labels.append([-100] * len(p_ids) + f_ids[len(p_ids) :])
        L_max = max(len(x) for x in ids)
        pad = tok.pad_token_id
        dev = self.acc.device
        input_ids = torch.tensor([x + [pad] * (L_max - len(x)) for x in ids], device=dev)
        attn = torch.tensor([[1] * len(x) + [0] * (L_max - len(x)) for x in ids], device=dev)
        lab = torch.tensor([y + [-100] * (L_max - len(y)) for y in labels], device=dev)
        logits = self.actor(input_ids=input_ids, attention_mask=attn, use_cache=False).logits
        return sft_loss(logits, lab)

    # ------------------------------------------------------------------------------------------------ loop
    def train(self) -> Path:
        cfg, acc = self.cfg, self.acc
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        if cfg.resume:
            self.load_checkpoint(self.out / CHECKPOINT)
        elif acc.is_main_process and (self.out / METRICS).exists():
            (self.out / METRICS).unlink()
        acc.wait_for_everyone()
        bar = None
        if cfg.progress and acc.is_main_process:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc="ppo-lag", unit="step", dynamic_ncols=True)
        last: dict[str, float] = {}
        while self.step < cfg.steps:
            last = self.rl_step(self._batch(self.step))
            self._log(last)
            if bar is not None:
                lam = last.get("lambda", sum(v for k, v in last.items() if k.startswith("lambda/")))
                bar.set_postfix(
                    reward=f"{last['reward']:.2f}", cost=f"{last['cost']:.2f}", lam=f"{lam:.3g}",
                    safe=f"{last['safe_share']:.2f}",
                )
                bar.update(1)
            if cfg.save_every and self.step % cfg.save_every == 0 and self.step < cfg.steps:
                self.save_checkpoint(self.out / CHECKPOINT)
        if bar is not None:
            bar.close()
        self.save_checkpoint(self.out / CHECKPOINT)
        self.save_final()
        if self._writer is not None:
            self._writer.close()
        return self.out

    def _log(self, m: dict[str, float]) -> None:
        if not self.acc.is_main_process:
            return
        with open(self.out / METRICS, "a", encoding="utf-8") as f:
            f.write(json.dumps(m) + "\n")
        if self.cfg.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self.out / "tb"))
            for k, v in m.items():
                if k != "step":
                    self._writer.add_scalar(k, v, self.step)
            self._writer.flush()

    # ------------------------------------------------------------------------------------------ checkpoints
    def _module_state(self, module: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.acc.unwrap_model(module).state_dict().items()}

    def _actor_trainable_state(self) -> dict[str, torch.Tensor]:
        model = self.unwrapped_actor
        return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}

    def _weights_to_save(self) -> Optional[dict[str, dict[str, torch.Tensor]]]:
        """{"actor": trainable actor weights, "reward_critic": ..., "cost_critic": ...} (full, CPU tensors) on the
        main process, None on the others. EVERY process must call it: with sharded parameters (DeepSpeed ZeRO-3,
        FSDP) ``named_parameters()`` holds only this rank's shard, so the weights are gathered with
        ``accelerator.get_state_dict``, a collective. Otherwise the main process reads its own replica."""
        acc = self.acc
        if not sharded_parameters(acc):
            if not acc.is_main_process:
                return None
            return {
                "actor": self._actor_trainable_state(),
                "reward_critic": self._module_state(self.reward_critic),
                "cost_critic": self._module_state(self.cost_critic),
            }
        trainable = {clean_param_name(n) for n, p in self.unwrapped_actor.named_parameters() if p.requires_grad}
        full = {name: full_state_dict(acc, getattr(self, name)) for name in ("actor", "reward_critic", "cost_critic")}
        if not acc.is_main_process:
            return None
        full["actor"] = {k: v for k, v in full["actor"].items() if k in trainable}
        return full  # type: ignore[return-value]

    def _model_optimizer_pairs(self) -> dict[str, tuple[Any, Any]]:
        return {
            "actor": (self.actor, self.actor_opt),
            "reward_critic": (self.reward_critic, self.reward_critic_opt),
            "cost_critic": (self.cost_critic, self.cost_critic_opt),
        }

    def _trained_models(self) -> dict[str, Any]:
        return {name: model for name, (model, _) in self._model_optimizer_pairs().items()}

    def _optimizer_states(self) -> Optional[dict[str, Any]]:
        """{"actor": optimiser state, "reward_critic": ..., "cost_critic": ...} on the main process, None on the
        others. EVERY process must call it: under FSDP each holds the states of its parameter shards only, and the
        full states are gathered (a collective), keyed by parameter name."""
        states = {
            name: gathered_optimizer_state(self.acc, model, opt)
            for name, (model, opt) in self._model_optimizer_pairs().items()
        }
        return states if self.acc.is_main_process else None

    def save_checkpoint(self, path: Path) -> None:
        """Actor (trainable weights), critics, optimisers, multiplier state + cost window, RNG (per process), step."""
        acc = self.acc
        rng_tmp = path.parent / f".rng-rank{acc.process_index}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(rng_state(), rng_tmp)
        weights = self._weights_to_save()  # every process (a collective under ZeRO-3 / FSDP)
        engines = path.parent / f".deepspeed-{path.name}"
        optimizers = None
        if is_deepspeed(acc):  # optimiser states stay partitioned: each process writes its own (a collective)
            if acc.is_main_process and engines.exists():
                shutil.rmtree(engines)
            acc.wait_for_everyone()
            save_engine_states(self._trained_models(), engines)
        else:
            optimizers = self._optimizer_states()  # every process (gathered under FSDP)
        acc.wait_for_everyone()
        if acc.is_main_process:
            assert weights is not None
            with atomic_dir(path) as tmp:
                torch.save(weights["actor"], tmp / "actor_trainable.pt")
                torch.save(weights["reward_critic"], tmp / "reward_critic.pt")
                torch.save(weights["cost_critic"], tmp / "cost_critic.pt")
                if optimizers is not None:
                    torch.save(optimizers, tmp / "optimizers.pt")
                else:
                    os.replace(engines, tmp / DEEPSPEED_DIR)
                atomic_write_json(tmp / "lagrange.json", self.lagrange.state_dict())
                if self.score_scale is not None:
                    atomic_write_json(tmp / "score_scale.json", self.score_scale.state_dict())
                for r in range(acc.num_processes):
                    os.replace(path.parent / f".rng-rank{r}.pt", tmp / f"rng-rank{r}.pt")
                atomic_write_json(
                    tmp / "trainer_state.json",
                    {"step": self.step, "num_processes": acc.num_processes, "config": self.cfg.to_dict()},
                )
        acc.wait_for_everyone()

    def load_checkpoint(self, path: Path) -> None:
        if not (path / "trainer_state.json").exists():
            raise ConfigError(f"--resume: no checkpoint at {path}")
        state = json.loads((path / "trainer_state.json").read_text())
        if state["num_processes"] != self.acc.num_processes:
            raise ConfigError(
                f"checkpoint was written by {state['num_processes']} process(es), this run has {self.acc.num_processes}"
            )
        if check_checkpoint_kind(
            path, self.acc
        ):  # each engine restores its weights and this process's optimiser partition
            load_engine_states(self._trained_models(), path / DEEPSPEED_DIR)
        else:
            # every tensor is loaded to the CPU and copied into place (an accelerator's device may be "cpu:0", which
            # torch.load cannot map to; optimiser states follow their parameters' device when loaded)
            trainable = torch.load(path / "actor_trainable.pt", map_location="cpu")
            critics = {
                name: torch.load(path / f"{name}.pt", map_location="cpu") for name in ("reward_critic", "cost_critic")
            }
            opts = torch.load(path / "optimizers.pt", map_location="cpu", weights_only=False)
            pairs = self._model_optimizer_pairs()
            # under FSDP each process takes its shard of the full tensors saved
            copy_full_state(self.unwrapped_actor, trainable, every_key=False)
            for name in critics:
                copy_full_state(self.acc.unwrap_model(pairs[name][0]), critics[name], every_key=True)
            for name, (model, opt) in pairs.items():
                load_optimizer_state(self.acc, model, opt, opts[name])
        self.lagrange.load_state_dict(json.loads((path / "lagrange.json").read_text()))
        if self.score_scale is not None:
            if not (path / "score_scale.json").exists():
                raise ConfigError(f"--resume: {path} was written without score_scaling: running")
            self.score_scale.load_state_dict(json.loads((path / "score_scale.json").read_text()))
        set_rng_state(torch.load(path / f"rng-rank{self.acc.process_index}.pt", weights_only=False))
        self.step = int(state["step"])
        if self.acc.is_main_process and (self.out / METRICS).exists():  # drop metrics logged after the checkpoint
            keep = [r for r in read_jsonl(self.out / METRICS) if r["step"] <= self.step]
            atomic_write_text(self.out / METRICS, "".join(json.dumps(r) + "\n" for r in keep))

    def save_final(self) -> None:
        """output_dir/actor (LoRA adapter or full weights + tokenizer/processor), critics, summary.json.
        Every process calls it (gathering sharded weights is a collective); the main process writes."""
        sharded = sharded_parameters(self.acc)
        actor_full = full_state_dict(self.acc, self.actor) if sharded else None
        critics = (
            {name: full_state_dict(self.acc, getattr(self, name)) for name in ("reward_critic", "cost_critic")}
            if sharded
            else None
        )
        if not self.acc.is_main_process:
            return
        model = self.unwrapped_actor
        with atomic_dir(self.out / "actor") as tmp:
            model.save_pretrained(tmp, **({"state_dict": actor_full} if sharded else {}))
            self.processing_class.save_pretrained(tmp)
        for name in ("reward_critic", "cost_critic"):
            sd = critics[name] if critics is not None else self._module_state(getattr(self, name))
            atomic_torch_save(sd, self.out / f"{name}.pt")
        atomic_write_json(
            self.out / "summary.json",
            {
                "steps": self.step,
                "lambda": dict(zip(self.lagrange.names, self.lagrange.values)),
                "actor": str(self.out / "actor"),
            },
        )


# ------------------------------------------------------------------------------------------------ helpers


def _load_actor(name: str, chat_template: str = "auto") -> tuple[Any, Any]:
    from safealign.models.chat_templates import use_chat_template
    from safealign.models.loading import default_dtype, load_causal_lm, load_tokenizer, resolve_model

    path = resolve_model(name)
    cfg_file = Path(path) / "config.json"
    if cfg_file.exists() and "vision_config" in json.loads(cfg_file.read_text()):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        model = AutoModelForImageTextToText.from_pretrained(path, dtype=default_dtype())
        return model, use_chat_template(AutoProcessor.from_pretrained(path), chat_template)
    return load_causal_lm(name), load_tokenizer(name, padding_side="left", chat_template=chat_template)


def _now(device: torch.device) -> float:
    """perf_counter after the device's queued work: GPU kernels run asynchronously, so a phase's time is only its own
    once the device has caught up."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def run_ppo_lag(cfg: PPOLagConfig) -> Path:
    """Train from a config; returns the output folder (actor/, metrics.jsonl, tb/, checkpoint/, summary.json)."""
    return PPOLagTrainer(cfg).train()


__all__ = ["PPOLagConfig", "PPOLagTrainer", "run_ppo_lag", "load_prompts"]
