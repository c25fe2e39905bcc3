"""``safealign train safe-rlhf``: the Safe RLHF recipe as one resumable command.

    round 0   scores   R0 and C0 on the bundled pairs + the look-alike train pairs (unless given)
              warm     the supervised warm start (:mod:`safealign.train.warm_start`): harmful -> a helpful refusal,
                       benign -> the policy's own best of n by R0, checked by the guard and the refusal detector
              eval     held-out figures of the warm-started policy
    round k   sample   the current policy answers fresh training prompts; the guard/compliance judge labels every
                       answer (:class:`safealign.train.collect.ComplianceJudge`) -> cost pairs + reward pairs
              scores   R_k and C_k retrained on the round-0 data plus the pairs of rounds 1..k
              ppo      PPO-Lagrangian from the current policy against R_k and C_k; the LoRA actor merged -> policy
              eval     held-out figures (refusal, over-refusal, benign reward) + J_C and lambda of the PPO run

**The constraint.** J_C is the mean cost of answers to HARMFUL prompts only (``constraints: prompt_label``,
``constraint_names: [harmful]``): a benign episode carries no cost stream and follows the reward alone, so refusing a
benign prompt cannot lower J_C. Under the papers' all-prompt J_C a cost model that scores a benign refusal below a
benign answer lets the policy meet the constraint by refusing benign prompts (measured: bench/results/
ppo-lagrangian.md, rounds 3-4). The reward model is also taught that a refusal of a benign prompt is less helpful
than an answer (look-alike pairs and the policy's own over-refusals, :func:`safealign.data.refusal_pairs.
refusal_pairs`), so the reward side does not pay for benign refusals either.

Every stage writes its output atomically and is recorded in ``state.json``; a rerun skips finished stages, and the
unfinished one resumes itself (SFT from its checkpoint, PPO with ``resume``). ``rounds.json`` holds the per-round
table. The guard is both the annotator and a judge: figures where it judges say so.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from safealign.data.records import PromptRecord
from safealign.recipes.safe_rlhf_config import SafeRLHFConfig
from safealign.utils.atomic import atomic_write_json, atomic_write_text

Progress = Callable[[str, int, int], None]  # (what, done, total)
STATE = "state.json"
ROUNDS = "rounds.json"


class SafeRLHFRun:
    """One run folder of the recipe; ``run()`` does what is left of it."""

    def __init__(self, cfg: SafeRLHFConfig, progress: Optional[Progress] = None):
        cfg.validate()
        self.cfg = cfg
        self.out = Path(cfg.output_dir).resolve()
        self.progress = progress
        self.state: dict[str, Any] = {"done": {}}
        if cfg.resume and (self.out / STATE).exists():
            self.state = json.loads((self.out / STATE).read_text())
        self._guard: Any = None
        self._eval_prompts: Optional[list[PromptRecord]] = None

    # ------------------------------------------------------------------------------------------ bookkeeping
    def _tick(self, what: str, done: int = 0, total: int = 1) -> None:
        if self.progress is not None:
            self.progress(what, done, total)

    def _stage(self, name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run ``fn`` unless ``name`` is recorded as done; record its result and seconds."""
        if name in self.state["done"]:
            return self.state["done"][name]
        self._tick(name)
        t0 = time.perf_counter()
        result = fn()
        result["seconds"] = round(time.perf_counter() - t0, 1)
        self.state["done"][name] = result
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / STATE, self.state)
        return result

    def path(self, *parts: str) -> Path:
        return self.out.joinpath(*parts)

    @property
    def guard(self) -> Any:
        if self._guard is None:
            from safealign.guard.classifier import load_guard

            self._guard = load_guard(self.cfg.guard)
        return self._guard

    # ------------------------------------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        from safealign.errors import ConfigError

        if not Path(cfg.guard).exists():
            raise ConfigError(f"guard not found: {cfg.guard} (train one with `safealign train guard`)")
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        scores0 = self._stage("round0/scores", self.round0_scores)
        reward0, cost0 = scores0["reward"], scores0["cost"]
        if cfg.eval_rounds and cfg.eval_base:
            self._stage("eval/base", lambda: self.evaluate(cfg.model, "base", reward0))
        policy = cfg.model
        policies = {}
        if cfg.warm_start:
            policy = policies["round0"] = self._stage("round0/warm", lambda: self.warm_start(reward0))["policy"]
            if cfg.eval_rounds:
                self._stage("round0/eval", lambda: self.evaluate(policy, "round0", reward0))
        reward, cost = reward0, cost0
        for k in range(1, cfg.rounds + 1):
            start = policy
            self._stage(f"round{k}/sample", lambda: self.sample(k, start))
            sc = self._stage(f"round{k}/scores", lambda: self.retrain_scores(k, reward, cost))
            reward, cost = sc["reward"], sc["cost"]
            policy = policies[f"round{k}"] = self._stage(f"round{k}/ppo", lambda: self.ppo(k, start, reward, cost))[
                "policy"]
            if cfg.eval_rounds:
                self._stage(f"round{k}/eval", lambda: self.evaluate(policy, f"round{k}", reward0))
        table = self.round_table()
        atomic_write_json(self.out / ROUNDS, table)
        summary = {"policy": policy, "policies": policies, "reward_model": reward, "cost_model": cost,
                   "reward_model_eval": reward0, "rounds": table}
        atomic_write_json(self.out / "summary.json", summary)
        return summary

    # ------------------------------------------------------------------------------------------ stages
    def round0_scores(self) -> dict[str, Any]:
        """R0 and C0: given, or trained on the bundled pairs + the look-alike train pairs (also the replay data of
        every later round)."""
        from safealign.data.io import write_jsonl
        from safealign.train.round_data import lookalike_score_pairs

        cfg = self.cfg
        base = self.path("round0", "lookalike_pairs.jsonl")
        base.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(base, lookalike_score_pairs("train"))
        out = {}
        for kind in ("reward", "cost"):
            given = getattr(cfg, f"{kind}_model")
            out[kind] = str(Path(given).resolve()) if given else self._train_score(kind, 0, None, None)
        return out

    def _score_config(self, kind: str, k: int, epochs: int) -> Any:
        from safealign.train.score_config import ScoreTrainConfig

        cfg = self.cfg
        return ScoreTrainConfig(
            kind=kind, model=cfg.model, data=f"demo:safety_train,{self.path('round0', 'lookalike_pairs.jsonl')}",
            eval_data=None, output_dir=str(self.path(f"round{k}", kind)), train_mode="top", top_layers=2,
            cache_trunk=True, trunk_cache=cfg.trunk_cache or str(self.path("trunk_cache_top2.pt")), epochs=epochs,
            batch_size=16, learning_rate=3e-4 if kind == "cost" else 1e-4, lr_scheduler="cosine", warmup_ratio=0.03,
            regularization=1e-3, severity_weighted=kind == "cost", unsafe_cost_threshold=0.0,
            max_length=cfg.score_max_length, mixed_precision="no", seed=cfg.seed, save_every=0, resume=True,
            skip_invalid=True, progress=False, chat_template=cfg.chat_template,
        )

    def _train_score(self, kind: str, k: int, start: Optional[str], pairs: Optional[list[Any]]) -> str:
        """Round 0: a fresh score model on the round-0 data. Round k: the previous round's model trained further on
        ``pairs`` (this round's and the earlier rounds' labelled answers, plus a replay of round-0 data)."""
        from safealign.train.score_trainer import train_score_model

        self._tick(f"round{k}: {kind} model")
        if start is None:
            return str(train_score_model(self._score_config(kind, k, 8 if kind == "cost" else 6)))
        from safealign.models.score import load_score_model

        model, proc = load_score_model(start)
        score_cfg = self._score_config(kind, k, self.cfg.score_epochs)
        return str(train_score_model(score_cfg, model=model, processing_class=proc, train_pairs=pairs))

    def retrain_scores(self, k: int, reward: str, cost: str) -> dict[str, Any]:
        """R_k and C_k: R_{k-1} and C_{k-1} trained further on the labelled answers of rounds 1..k plus a seeded
        replay of the round-0 data as large as this round's pairs (at least 32)."""
        import random

        from safealign.data.io import load_safety_pairs
        from safealign.train.score_trainer import load_pairs

        rounds = [load_safety_pairs(self.path(f"round{j}", "cost_pairs.jsonl")) for j in range(1, k + 1)]
        new = [p for r in rounds for p in r]
        base = load_pairs(f"demo:safety_train,{self.path('round0', 'lookalike_pairs.jsonl')}", skip_invalid=True)
        replay = random.Random(self.cfg.seed + k).sample(base, min(len(base), max(len(rounds[-1]), 32)))
        pairs = new + replay
        return {"reward": self._train_score("reward", k, reward, pairs),
                "cost": self._train_score("cost", k, cost, pairs), "pairs": len(new), "replay": len(replay)}

    def warm_start(self, reward_model: str) -> dict[str, Any]:
        from safealign.recipes.policy import PolicySampler, reward_scorer
        from safealign.train.trl_runner import TRLTrainConfig, train_sft_rows
        from safealign.train.warm_start import WarmStartStats, best_of_rows, refusal_rows, sft_rows, training_prompts

        cfg = self.cfg
        harmful, benign = training_prompts(cfg.shared_data, cfg.warm_harmful, cfg.warm_benign, cfg.seed)
        stats = WarmStartStats()
        rows = refusal_rows(harmful, stats)
        sampler = PolicySampler(
            cfg.model, cfg.batch_size, cfg.sample_tokens, cfg.sample_temperature, cfg.seed, cfg.chat_template
        )
        rows += best_of_rows(
            benign, sampler, reward_scorer(reward_model, cfg.batch_size), cfg.best_of, guard=self.guard, stats=stats,
            progress=lambda d, t: self._tick("round0: best of n", d, t),
        )
        sampler.close()
        folder = self.path("round0")
        atomic_write_text(folder / "warm_rows.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        sft_cfg = TRLTrainConfig(
            model=cfg.model, output_dir=str(folder / "policy"), num_epochs=cfg.sft_epochs,
            batch_size=cfg.sft_batch_size, max_length=cfg.sft_max_length, seed=cfg.seed, logging_steps=5,
            lr_scheduler="cosine", warmup_ratio=0.05, save_every=20, chat_template=cfg.chat_template,
        )
        import random

        random.Random(cfg.seed).shuffle(rows)
        self._tick("round0: supervised warm start")
        policy = train_sft_rows(sft_cfg, sft_rows(rows), cfg.sft_learning_rate)
        return {"policy": str(policy), "rows": len(rows), "stats": stats.to_dict()}

    def sample(self, k: int, policy: str) -> dict[str, Any]:
        from safealign.data.io import write_jsonl
        from safealign.data.refusal_pairs import refusal_pairs
        from safealign.recipes.policy import PolicySampler
        from safealign.train.collect import ComplianceJudge, collect_pairs
        from safealign.train.warm_start import training_prompts

        cfg = self.cfg
        harmful, benign = training_prompts(cfg.shared_data, cfg.round_harmful, cfg.round_benign, cfg.seed + k)
        prompts = harmful + benign
        folder = self.path(f"round{k}")
        sampler = PolicySampler(
            policy, cfg.batch_size, cfg.sample_tokens, cfg.sample_temperature, cfg.seed + k, cfg.chat_template
        )
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            self._tick(f"round{k}: sample and label", done[0], len(prompts))

        pairs, stats, rows = collect_pairs(sampler, prompts, ComplianceJudge(self.guard), cfg.samples, progress=tick)
        sampler.close()
        reward_pairs, rstats = refusal_pairs(rows)
        write_jsonl(folder / "cost_pairs.jsonl", pairs + reward_pairs)
        atomic_write_text(folder / "answers.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        ppo_prompts = [{"prompt": p.prompt, "label": p.label, "category": p.category, "id": p.id} for p in prompts]
        atomic_write_text(folder / "ppo_prompts.jsonl", "".join(json.dumps(r) + "\n" for r in ppo_prompts))
        return {"pairs": len(pairs), "refusal_pairs": rstats.pairs, "stats": stats.to_dict()}

    def ppo(self, k: int, policy: str, reward: str, cost: str) -> dict[str, Any]:
        from safealign.recipes.policy import merge_adapter
        from safealign.train.ppo_lag import METRICS, PPOLagConfig, run_ppo_lag
        from safealign.utils.jsonl import read_jsonl

        cfg = self.cfg
        folder = self.path(f"round{k}", "ppo")
        ptx = self.path("round0", "warm_rows.jsonl")
        ppo_cfg = PPOLagConfig(
            actor=policy, reward_model=reward, cost_model=cost,
            prompts=str(self.path(f"round{k}", "ppo_prompts.jsonl")), output_dir=str(folder), seed=cfg.seed + k,
            steps=cfg.ppo_steps, batch_size=cfg.ppo_batch_size,
            max_new_tokens=cfg.ppo_tokens, actor_lr=cfg.actor_lr, critic_lr=1e-3, kl_coef=cfg.kl_coef,
            cost_threshold=[cfg.cost_threshold], lambda_init=cfg.lambda_init, lambda_lr=cfg.lambda_lr,
            lambda_max=cfg.lambda_max, lambda_window=32, constraints="prompt_label", constraint_names=["harmful"],
            fixed_lambda=cfg.fixed_lambda, ptx_data=str(ptx) if cfg.ptx_coeff > 0 and ptx.exists() else None,
            ptx_coeff=cfg.ptx_coeff, ptx_mode="joint", score_scaling="running", save_every=4,
            resume=(folder / "checkpoint" / "trainer_state.json").exists(), tensorboard=False, progress=False,
            chat_template=cfg.chat_template,
        )
        self._tick(f"round{k}: PPO-Lagrangian", 0, cfg.ppo_steps)
        run_ppo_lag(ppo_cfg)
        merged = merge_adapter(folder / "actor", self.path(f"round{k}", "policy"))
        rows = read_jsonl(folder / METRICS)
        last = rows[-1] if rows else {}
        return {"policy": str(merged), "steps": len(rows), "J_C": last.get("J_C/harmful", last.get("J_C")),
                "lambda": last.get("lambda/harmful", last.get("lambda")), "reward": last.get("reward")}

    def evaluate(self, policy: str, name: str, reward_model: str) -> dict[str, Any]:
        from safealign.recipes.policy import evaluate_policy

        cfg = self.cfg
        res = evaluate_policy(
            policy, self.eval_prompts(), reward_model, self.guard, cfg.eval_tokens, cfg.batch_size,
            self.path("eval", name), progress=lambda d, t: self._tick(f"eval {name}", d, t),
            chat_template=cfg.chat_template,
        )
        return {"summary": res}

    def eval_prompts(self) -> list[PromptRecord]:
        if self._eval_prompts is None:
            from safealign.eval.suite import SuiteSize, heldout_suite

            cfg = self.cfg
            size = SuiteSize(real_harmful=cfg.eval_harmful, real_benign=cfg.eval_benign, lookalike=cfg.eval_lookalike,
                             no_trigger=max(0, cfg.eval_lookalike // 2))
            self._eval_prompts = heldout_suite(cfg.shared_data, size, seed=cfg.eval_seed)
        return self._eval_prompts

    # ------------------------------------------------------------------------------------------ the table
    def round_table(self, summaries: Optional[dict[str, dict[str, Any]]] = None) -> list[dict[str, Any]]:
        """One row per policy (base, round 0, rounds 1..N): the independent figures on held-out prompts (from this
        run's evaluations, or ``summaries`` by round name when a caller evaluated them) and the PPO run's J_C and
        lambda (as optimised)."""
        done = self.state["done"]
        out = []
        names = ["base"] if "eval/base" in done or summaries else []
        names += ["round0"] if "round0/warm" in done else []
        names += [f"round{k}" for k in range(1, self.cfg.rounds + 1) if f"round{k}/ppo" in done]
        for name in names:
            ev = done.get("eval/base" if name == "base" else f"{name}/eval") or {}
            s = (summaries or {}).get(name) or ev.get("summary") or {}
            ind = s.get("independent") or {}
            ppo = done.get(f"{name}/ppo") or {}
            out.append({
                "round": name, "J_C": ppo.get("J_C"), "lambda": ppo.get("lambda"),
                "harmful_handled_safely": ind.get("harmful_handled_safely"),
                "harmful_refused": ind.get("harmful_refused"), "benign_over_refused": ind.get("benign_over_refused"),
                "lookalike_over_refused": ind.get("lookalike_over_refused"),
                "benign_reward": s.get("mean_reward_benign"), "n_harmful": s.get("n_harmful"),
                "n_benign": s.get("n_benign"),
            })
        return out


def run_safe_rlhf(cfg: SafeRLHFConfig, progress: Optional[Progress] = None) -> dict[str, Any]:
    """Run (or finish) the recipe in ``cfg.output_dir``; returns its summary (also ``summary.json``)."""
    return SafeRLHFRun(cfg, progress).run()

