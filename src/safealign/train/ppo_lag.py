"""PPO-Lagrangian (Safe RLHF / Safe RLHF-V) for text and vision-language policies. Orchestration only: every
formula comes from :mod:`safealign.losses` (the PPO-Lagrangian of the Safe RLHF / Safe RLHF-V papers).

One RL step (:meth:`PPOLagTrainer.rl_step`) runs four phases:
  1. rollout: through the rollout engine (:mod:`safealign.train.rollout_engine`; built in: batched KV-cached sampling
     with the LoRA adapter merged), per-token log-probs of the unwarped policy                 (time/generation)
  2. score: reference log-probs (LoRA adapter disabled: no second copy), frozen R and C (one batched trunk forward
     each, the same pixel values; with share_frozen_trunk the lower layers that the reference, R and C hold
     bit-identically run once for the three), old critic values; R and C read each episode in their training
     format (:mod:`safealign.train.ppo_scoring`)                                                 (time/scoring)
  3. advantages: episode costs -> sliding window -> J_C -> lambda step (all processes' episodes); KL-shaped reward /
     cost streams, GAE per stream, A = (A_R - sum_k lambda_k A_C,k) / (1 + sum_k lambda_k) (with constraints on
     prompt labels/categories: only the constraints that apply to an episode; with score_scaling running, the end
     scores and critic values in stream units: see score_scaling.py) (:mod:`safealign.train.ppo_step`)
  4. update: per minibatch the actor's clipped surrogate over response tokens (time/actor) and the critics' clipped
     value losses (time/critic); then the optional PTX step on supervised data (x ptx_coeff; with ptx_mode joint the
     PTX loss joins every actor update instead)
Baselines by configuration: ``fixed_lambda: 0`` = reward-only PPO, ``fixed_lambda: x`` = fixed-lambda shaping.

The trainer stands on the trainers' spine (:mod:`safealign.train.spine`): accelerator, seed, the one checkpoint
format (the actor's trainable tensors, both critics, their optimisers, the multipliers and score scales, every
process's random state) and the metrics log.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from safealign.data.records import PromptRecord
from safealign.errors import ConfigError
from safealign.train.checkpoint import STATE_FILE, Part, read_json_state, trainable_tensors, whole_tensors
from safealign.train.ppo_config import PPOLagConfig
from safealign.train.ppo_models import load_actor, trainable_actor
from safealign.train.ppo_prompts import check_constraint_names, load_prompts, prompt_batch
from safealign.train.ppo_scoring import FrozenScoring, is_vision, reads_images
from safealign.train.ppo_step import Advantages, Scored, UpdateStats, advantages, now, ptx_loss
from safealign.train.rollout_engine import GenerateEngine, RolloutEngine
from safealign.train.sharding import (
    full_state_dict,
    is_deepspeed,
    optimizer_step,
    prepare_pair,
    reshard,
    sharded_parameters,
    unsharded_root,
    whole_model_loading,
)
from safealign.train.spine import TrainerSpine
from safealign.ui import console
from safealign.utils.atomic import atomic_dir, atomic_torch_save, atomic_write_json, atomic_write_text
from safealign.utils.jsonl import read_json_rows

CHECKPOINT = "checkpoint"
METRICS = "metrics.jsonl"


class PPOLagTrainer(TrainerSpine):
    """Build with a config (models/data loaded from its paths) or pass models directly (tests, notebooks).

    actor: a causal LM / LLaVA-style model (LoRA is added when ``cfg.use_lora``); processing_class: its tokenizer
    or processor; reward_model / cost_model: :class:`~safealign.models.score.ScoreModel` (frozen here);
    rollout_engine: what samples the rollouts (default: :class:`~safealign.train.rollout_engine.GenerateEngine`).
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
        rollout_engine: Optional[RolloutEngine] = None,
    ):
        cfg.validate()
        self.cfg = cfg
        # mixed precision from the launcher; a DeepSpeed launch stays DeepSpeed on CPU processes too
        super().__init__(cfg.output_dir, cfg.seed, accelerator, mixed_precision=None, flush_denormal=True)
        device = self.acc.device

        # ---- models: loaded whole on every process (under ZeRO-3 transformers would load them partitioned, and the
        # reference copy and the frozen R and C never go through DeepSpeed); prepare() shards the trained ones
        from safealign.models.score import load_score_model

        with whole_model_loading():
            if actor is None:
                actor, processing_class = load_actor(cfg.actor, cfg.chat_template)
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
        self.vision = is_vision(actor)
        # R and C were trained on conversations ending with the template's end-of-turn suffix: rollouts are scored so
        from safealign.models.chat_format import tokenizer_of
        from safealign.train.rollout import assistant_suffix_ids, eos_ids_of

        tok = tokenizer_of(processing_class)
        suffix_ids = assistant_suffix_ids(processing_class)
        self.eos_ids = eos_ids_of(actor, tok)
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (self.eos_ids[0] if self.eos_ids else 0)
        actor.to(device)
        actor, self.ref_model = trainable_actor(actor, cfg, self.vision)

        self._build_critics()
        self._checkpoint_activations(actor)
        self._prepare_trained(actor)
        with_image = self._load_data(prompts, ptx_examples)
        self._check_compatibility(processing_class, reward_processing_class, cost_processing_class, with_image)
        self.step = 0
        # the frozen models' read-out; the shared frozen trunk is found once
        self.scoring = FrozenScoring(
            self.reward_model, self.cost_model, self._reference, suffix_ids, self.eos_ids, self.pad_id, device,
            processing_class, self.reward_processing_class, self.cost_processing_class,
        )
        self._find_shared_trunk()
        # every rollout goes through this engine (built in: generate on the actor itself, a LoRA adapter merged)
        self.rollout_engine: RolloutEngine = rollout_engine or GenerateEngine(
            lambda: self.unwrapped_actor, processing_class, cfg.record_log_probs,
            merge_lora=not sharded_parameters(self.acc), gathered=lambda: unsharded_root(self.actor),
        )

    # ------------------------------------------------------------------------------------------------ setup
    def _build_critics(self) -> None:
        """The reward and cost critics (from the frozen R and C, as ``critic_mode`` says), the multipliers and the
        running score scales."""
        from safealign.train.critic import Critic
        from safealign.train.lagrange import LagrangeMultipliers
        from safealign.train.score_scaling import RunningScale

        cfg, device, names = self.cfg, self.acc.device, self.cfg.names
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
        self.score_scale = RunningScale(1 + len(names)) if cfg.score_scaling == "running" else None

    def _checkpoint_activations(self, actor: Any) -> None:
        """Gradient checkpointing as ``cfg.gradient_checkpointing`` says: auto for the fully trained models only."""
        from safealign.train.ppo_models import gradient_checkpointing

        mode = self.cfg.gradient_checkpointing
        if mode == "on" or (mode == "auto" and not self.cfg.use_lora):
            gradient_checkpointing(actor)
        if mode != "off":
            for critic in (self.reward_critic, self.cost_critic):
                if critic.mode == "full":
                    gradient_checkpointing(critic.model.backbone)

    def _prepare_trained(self, actor: Any) -> None:
        """The optimisers of the actor and both critics, each pair through ``accelerator.prepare`` (one model per
        call: FSDP2 and DeepSpeed wrap a single model per call)."""
        cfg, device = self.cfg, self.acc.device
        betas = (cfg.adam_beta1, cfg.adam_beta2)
        # the fused kernel: one pass per tensor (the default foreach AdamW makes parameter-sized temporaries and is
        # several times slower on a CPU); DeepSpeed and FSDP wrap their own optimisers, which keep the default
        fused = not (is_deepspeed(self.acc) or sharded_parameters(self.acc))

        def adamw(params: Any, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:  # torch's default decay
            trainable = [p for p in params if p.requires_grad]
            return torch.optim.AdamW(trainable, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)

        self.actor_opt = adamw(actor.parameters(), cfg.actor_lr, cfg.weight_decay)
        self.reward_critic_opt = adamw(self.reward_critic.parameters(), cfg.critic_lr)  # the critics: torch's default
        self.cost_critic_opt = adamw(self.cost_critic.parameters(), cfg.critic_lr)
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

    def _load_data(
        self, prompts: Optional[Sequence[PromptRecord]], ptx_examples: Optional[Sequence[dict[str, str]]]
    ) -> bool:
        """The training prompts (all with an image or none; named constraints must occur) and the PTX rows; returns
        whether the prompts carry images."""
        cfg = self.cfg
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
        check_constraint_names(cfg, self.prompts)
        self.ptx_examples = (
            list(ptx_examples) if ptx_examples is not None else (read_json_rows(cfg.ptx_data) if cfg.ptx_data else [])
        )
        return with_image > 0

    def _find_shared_trunk(self) -> None:
        """How many lower layers the reference, R and C run once (:meth:`FrozenScoring.find_shared_trunk`), said in
        one line."""
        t_find = time.perf_counter()
        _, why = self.scoring.find_shared_trunk(
            self._critics(), self.cfg.share_frozen_trunk, self.vision, sharded_parameters(self.acc),
            str(getattr(self.acc, "mixed_precision", "no")) != "no",
        )
        if self.main:
            console.print(f"ppo-lag: shared frozen trunk: {why} ({time.perf_counter() - t_find:.2f} s)", soft_wrap=True)

    def _check_compatibility(self, processing_class: Any, reward_pc: Any, cost_pc: Any, images: bool) -> None:
        """Every chat template probed (:func:`safealign.models.compat.check_models`): R and C share the actor's token
        ids, or read the episodes re-tokenized through text (their own tokenizer and template; kept in
        ``reward_processing_class`` / ``cost_processing_class``, None when they read the actor's ids); text-only R/C
        never see image prompts."""
        from safealign.models.compat import check_models

        given = {"the reward model": (self.reward_model, reward_pc), "the cost model": (self.cost_model, cost_pc)}
        readings = check_models(
            processing_class, {name: (pc or processing_class, reads_images(m)) for name, (m, pc) in given.items()},
            images=images, policy_name="the actor",
        )
        self.reward_processing_class, self.cost_processing_class = (
            pc if readings[name].mode == "text" else None for name, (_, pc) in given.items()
        )
        if self.main:
            for r in readings.values():
                console.print(f"ppo-lag: {r.name}: {r.why}", soft_wrap=True)

    @property
    def unwrapped_actor(self) -> Any:
        return self.acc.unwrap_model(self.actor)

    def _critics(self) -> tuple[Any, Any]:
        return self.acc.unwrap_model(self.reward_critic), self.acc.unwrap_model(self.cost_critic)

    @contextmanager
    def _reference(self) -> Any:
        """The reference policy: the frozen copy (full fine-tuning) or the actor with its LoRA adapter disabled."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        model = self.unwrapped_actor
        with model.disable_adapter():
            yield model

    @property
    def shared_trunk_depth(self) -> int:
        """Lower layers run once for the reference, R and C (0: three full forwards)."""
        return self.scoring.depth

    @property
    def score_suffix_ids(self) -> list[int]:
        """The chat template's end-of-turn suffix appended to each episode before R and C read it."""
        return self.scoring.suffix_ids

    @score_suffix_ids.setter
    def score_suffix_ids(self, ids: Sequence[int]) -> None:
        self.scoring.suffix_ids = list(ids)

    def _scoring(self, rollout: Any, depth: Optional[int] = None) -> tuple[torch.Tensor, Any, Any]:
        """(reference log-probs, R read-out, C read-out) of a rollout (:meth:`FrozenScoring.score`)."""
        return self.scoring.score(rollout, self._critics(), depth)

    def _batch(self, step: int) -> list[PromptRecord]:
        """Prompts of this process at ``step``: a per-epoch seeded permutation, so a resumed run sees the same order."""
        return prompt_batch(
            self.prompts, step, self.cfg.seed, self.cfg.batch_size, self.acc.process_index, self.acc.num_processes
        )

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
        """One RL step: rollout, score, advantages, update; returns the step's metrics."""
        dev = self.acc.device
        t0 = now(dev)
        rollout = self._rollout(records)
        t1 = now(dev)
        scored = self._score(rollout, records)
        t2 = now(dev)
        adv = self._advantages(scored)
        stats = self._update(rollout, scored, adv)
        self.step += 1
        m = self._metrics(scored, adv, stats, {"time/generation": t1 - t0, "time/scoring": t2 - t1})
        m["time/step"] = now(dev) - t0
        return m

    def _rollout(self, records: Sequence[PromptRecord]) -> Any:
        """1. One sampled response per prompt from the rollout engine, with the acting policy's log-probs (unwarped
        logits) where the engine records them."""
        return self.rollout_engine.generate(records, self.cfg.generation())

    def _score(self, rollout: Any, records: Sequence[PromptRecord]) -> Scored:
        """2. (no grad) The old policy's log-probs (unless recorded at generation), the reference, frozen R and C
        (shared lower layers once), the critics' old values, and each constraint's episode costs."""
        from safealign.train.rollout import policy_log_probs

        with torch.no_grad():
            old_lp = (
                rollout.log_probs
                if rollout.log_probs is not None
                else policy_log_probs(self.unwrapped_actor, rollout)[0]
            )
            ref_lp, r_out, c_out = self._scoring(rollout)
        live = None
        if self._critic_forward_once():
            # the update's only minibatch reads the values of these very weights: one forward serves both, its graph
            # kept (small: checkpointed layers keep only their inputs) for the critics' backward
            live = (
                self.reward_critic(r_out.critic_input, r_out.hidden),
                self.cost_critic(c_out.critic_input, c_out.hidden),
            )
            old_rv, old_cv = live[0].detach()[..., 0], live[1].detach()
        else:
            with torch.no_grad():
                rc, cc = self._critics()
                old_rv = rc(r_out.critic_input, r_out.hidden)[..., 0]  # [B, T]
                old_cv = cc(c_out.critic_input, c_out.hidden)  # [B, T, K]
        costs, valid = self._episode_costs(c_out.end_scores, records)
        return Scored(
            old_lp=old_lp, ref_lp=ref_lp, r_out=r_out, c_out=c_out, old_rv=old_rv, old_cv=old_cv,
            reward=r_out.end_scores[:, 0], costs=costs, valid=valid, mask=rollout.response_mask, live_values=live,
        )

    def _critic_forward_once(self) -> bool:
        """Whether the scoring phase's critic forward also serves their update: full critics with checkpointed layers
        (their graph is small), one minibatch of one epoch (the update reads the same weights on the same episodes),
        no DeepSpeed (its engines pair each forward with the next backward)."""
        cfg = self.cfg
        return (
            cfg.mini_batches == 1 and cfg.ppo_epochs == 1 and not is_deepspeed(self.acc)
            and all(c.mode == "full" and c.model.backbone.is_activation_checkpointing for c in self._critics())
        )

    def _advantages(self, s: Scored) -> Advantages:
        """3. The multipliers step on every process's episode costs; the running score scales (when on) observe the
        end scores; then the shaped streams, GAE and the combined advantage (:func:`safealign.train.ppo_step.
        advantages`)."""
        gather = self.acc.gather if self.acc.num_processes > 1 else None
        lambdas = self.lagrange.observe(s.costs, s.valid, gather=gather)
        scales = torch.ones(1 + s.costs.size(-1), device=s.reward.device)  # x 1.0 when score scaling is off
        if self.score_scale is not None:
            self.score_scale.observe(
                torch.cat([s.reward[:, None], s.costs], -1),
                torch.cat([torch.ones_like(s.valid[:, :1]), s.valid], -1),
                gather=gather,
            )
            scales = self.score_scale.tensor(s.reward.device)
        return advantages(s, lambdas, scales, self.cfg)

    def _update(self, rollout: Any, s: Scored, a: Advantages) -> UpdateStats:
        """4. ``ppo_epochs`` passes of ``mini_batches`` minibatches (a seeded order per step): the actor's clipped
        surrogate (+ the weighted PTX loss in joint mode), then the critics' clipped value losses; then the PTX step
        of separate mode."""
        cfg = self.cfg
        B = s.mask.size(0)
        mb = B // cfg.mini_batches
        stats = UpdateStats()
        use_ptx = bool(self.ptx_examples) and cfg.ptx_coeff > 0
        joint_ptx = use_ptx and cfg.ptx_mode == "joint"
        g = torch.Generator().manual_seed(cfg.seed * 7919 + self.step)
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(B, generator=g) if cfg.mini_batches > 1 else torch.arange(B)
            for k in range(cfg.mini_batches):
                idx = order[k * mb : (k + 1) * mb].to(s.mask.device)
                sub = rollout.select(idx)
                ta = now(self.acc.device)
                self._actor_update(sub, idx, s, a, stats, joint_ptx)
                tc = now(self.acc.device)
                self._critic_update(sub, idx, s, a, stats)
                td = now(self.acc.device)
                stats.t_actor += tc - ta
                stats.t_critic += td - tc
        if joint_ptx:
            stats.ptx = sum(stats.ptx_losses) / len(stats.ptx_losses)
        elif use_ptx:
            stats.ptx = self._ptx_step()
        self.rollout_engine.sync_weights(self.unwrapped_actor)
        return stats

    def _actor_update(
        self, sub: Any, idx: torch.Tensor, s: Scored, a: Advantages, stats: UpdateStats, joint_ptx: bool
    ) -> None:
        """One optimiser step of the actor on a minibatch: the clipped surrogate over response tokens."""
        from safealign import losses as L
        from safealign.train.rollout import policy_log_probs

        cfg = self.cfg
        new_lp, ent = policy_log_probs(self.actor, sub, with_entropy=True)
        loss, clip_frac = L.ppo_actor_loss(
            new_lp, s.old_lp[idx], a.advantages[idx], sub.response_mask, cfg.clip_range_ratio
        )
        if joint_ptx:
            ptx_l = self._ptx_loss(self.step * cfg.ppo_epochs * cfg.mini_batches + len(stats.actor_losses))
            stats.ptx_losses.append(ptx_l.item())
            loss = loss + cfg.ptx_coeff * ptx_l
        optimizer_step(self.acc, self.actor, self.actor_opt, loss, cfg.max_grad_norm)
        stats.actor_losses.append(loss.item())
        stats.clip_fracs.append(clip_frac.item())
        stats.entropies.append(L.masked_mean(ent, sub.response_mask).item())

    def _critic_update(self, sub: Any, idx: torch.Tensor, s: Scored, a: Advantages, stats: UpdateStats) -> None:
        """One optimiser step of each critic on a minibatch: clipped value losses in the scaled units; a constraint's
        critic learns from the episodes that constraint applies to."""
        from safealign import losses as L

        cfg, sc = self.cfg, a.scales
        r_sub, c_sub = s.r_out.critic_input.select(idx), s.c_out.critic_input.select(idx)
        r_hidden = None if s.r_out.hidden is None else s.r_out.hidden[idx]
        live = s.live_values  # the whole batch (one minibatch): the scoring phase's forwards
        rv = (live[0] if live else self.reward_critic(r_sub, r_hidden))[..., 0] / sc[0]
        rl = L.value_loss(rv, a.old_rv[idx], a.ret_r[idx], sub.response_mask, cfg.clip_range_value)
        optimizer_step(self.acc, self.reward_critic, self.reward_critic_opt, rl, 0.0)
        c_hidden = None if s.c_out.hidden is None else s.c_out.hidden[idx]
        cv = (live[1] if live else self.cost_critic(c_sub, c_hidden)) / sc[1:]
        cl = sum(
            L.value_loss(
                cv[..., k], a.old_cv[idx][..., k], a.ret_c[idx][..., k],
                sub.response_mask * s.valid[idx, k, None].to(sub.response_mask.dtype), cfg.clip_range_value,
            )
            for k in range(cv.size(-1))
        )
        optimizer_step(self.acc, self.cost_critic, self.cost_critic_opt, cl, 0.0)
        stats.reward_value_losses.append(rl.item())
        stats.cost_value_losses.append(cl.item())

    def _metrics(self, s: Scored, a: Advantages, stats: UpdateStats, times: dict[str, float]) -> dict[str, float]:
        """Episode statistics over all processes, the update's losses, the multipliers and score scales."""
        from safealign import losses as L

        acc, mask = self.acc, s.mask
        kl_seq = ((s.old_lp - s.ref_lp) * mask).sum(-1)
        safe = (s.c_out.end_scores[:, 0] <= self.cost_threshold_safe).float()
        ep = torch.stack([s.reward, s.c_out.end_scores[:, 0], kl_seq, mask.sum(-1), safe], -1)
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
            **stats.means(),
            "advantage_mean": L.masked_mean(a.advantages, mask).item(),
            "cost_advantage_mean": L.masked_mean(a.adv_c.mean(-1), mask).item(),
            **times,
            "time/actor": stats.t_actor,
            "time/critic": stats.t_critic,
        }
        m.update(self.lagrange.metrics())
        if self.score_scale is not None:
            scales = self.score_scale.scales()
            m["score_scale/reward"] = scales[0]
            m.update({f"score_scale/{n}": v for n, v in zip(self.cfg.names, scales[1:])})
        if stats.ptx is not None:
            m["ptx_loss"] = stats.ptx
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
        cfg = self.cfg
        n = len(self.ptx_examples)
        rows = [self.ptx_examples[(batch_index * cfg.ptx_batch_size + i) % n] for i in range(cfg.ptx_batch_size)]
        return ptx_loss(self.actor, self.processing_class, rows, self.acc.device)

    # ------------------------------------------------------------------------------------------------ loop
    def train(self) -> Path:
        cfg, acc = self.cfg, self.acc
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        if cfg.resume:
            self.load_checkpoint(self.out / CHECKPOINT)
        log = self.metric_logger(
            resume_step=self.step if cfg.resume else None, timestamps=False, tensorboard=cfg.tensorboard
        )
        acc.wait_for_everyone()
        bar = None
        if cfg.progress and acc.is_main_process:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc="ppo-lag", unit="step", dynamic_ncols=True)
        while self.step < cfg.steps:
            last = self.rl_step(self._batch(self.step))
            log.log(last)
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
        log.close()
        return self.out

    # ------------------------------------------------------------------------------------------ checkpoints
    def checkpoint_parts(self) -> dict[str, Part]:
        """The actor's trainable tensors (a LoRA adapter, or everything but a frozen vision tower) and the whole
        critics, each with its optimiser."""
        return {
            "actor": Part(self.actor, self.actor_opt, trainable_only=True),
            "reward_critic": Part(self.reward_critic, self.reward_critic_opt),
            "cost_critic": Part(self.cost_critic, self.cost_critic_opt),
        }

    def _module_state(self, module: Any) -> dict[str, torch.Tensor]:
        return whole_tensors(self.acc.unwrap_model(module))

    def _actor_trainable_state(self) -> dict[str, torch.Tensor]:
        return trainable_tensors(self.unwrapped_actor)

    def save_checkpoint(self, path: Path) -> None:
        """Every process: actor (trainable weights), critics, optimisers, multiplier state + cost window, score
        scales, RNG (per process), step (:mod:`safealign.train.checkpoint`)."""
        json_states = {"lagrange": self.lagrange.state_dict()}
        if self.score_scale is not None:
            json_states["score_scale"] = self.score_scale.state_dict()
        self.write_checkpoint(path, {"step": self.step, "config": self.cfg.to_dict()}, json_states=json_states)

    def load_checkpoint(self, path: Path) -> None:
        """Every process: restore what :meth:`save_checkpoint` wrote (the same number of processes)."""
        if not (path / STATE_FILE).exists():
            raise ConfigError(f"--resume: no checkpoint at {path}")
        state = self.read_checkpoint(path, same_processes=True)
        self.lagrange.load_state_dict(read_json_state(path, "lagrange"))
        if self.score_scale is not None:
            scales = read_json_state(path, "score_scale")
            if scales is None:
                raise ConfigError(f"--resume: {path} was written without score_scaling: running")
            self.score_scale.load_state_dict(scales)
        self.step = int(state["step"])

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


def run_ppo_lag(cfg: PPOLagConfig) -> Path:
    """Train from a config; returns the output folder (actor/, metrics.jsonl, tb/, checkpoint/, summary.json)."""
    return PPOLagTrainer(cfg).train()


__all__ = ["PPOLagConfig", "PPOLagTrainer", "run_ppo_lag", "load_prompts"]
