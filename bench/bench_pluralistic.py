"""Pluralistic safe RLHF on the default model, on this CPU: the whole chain and the trade-off of every method.

    .venv/bin/python bench/bench_pluralistic.py                  # full run (target: 20 minutes in all)
    .venv/bin/python bench/bench_pluralistic.py --quick          # smoke run (tiny sizes, a couple of minutes)
    .venv/bin/python bench/bench_pluralistic.py --reuse          # keep finished stages of an earlier run

Chain (every stage writes under ``--out``; a stage whose output exists is reused with ``--reuse``):

1. data     conditioned reward pairs (seen system messages, + generic helpfulness pairs), attack-augmented cost
            pairs (same labels), PPO prompts (seen/unseen preference system messages + attack framings)
2. reward   system-message-conditioned reward model (default backbone)
3. sft      Janus SFT on the demo system-message data (no attack data: the plain Janus recipe)
4. dpo      Janus DPO from the SFT model
5. collect  (``--collect-samples N`` > 0) the DPO model's own answers to the PPO prompts, labelled by the compliance
            judge (safealign.train.collect: an answer to a harmful/attack prompt is unsafe unless it refuses; the
            labelling guard ``--label-guard`` moderates the rest): Safe RLHF's data round, so that the cost model
            knows how the policy it constrains writes
5b. cost    cost model trained with system-message attack examples (+ the collected pairs; reads the system message)
6. ppo_r    reward-only PPO (λ fixed at 0) from the DPO model
7. ppo_lag  PPO-Lagrangian (learned λ) from the DPO model
8. eval     base, SFT, DPO, reward-only PPO, PPO-Lag, PPO-Lag + guardrail: adherence on held-out system messages
            (demo system_test, judge-free) vs safe share under system-message attacks (demo system_attacks:
            prompts and wordings unseen in training); judges: refusal detector (model-free; the plotted y),
            the guard, and our cost model (reported, but the policy was optimised against it)

Prints every stage's time and the trade-off table; writes ``<out>/bench.json`` and ``<out>/tradeoff/*``.
The machine is shared with other engineers' jobs: the wall-clock figures carry that noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Stages:
    def __init__(self, out: Path, reuse: bool):
        self.out, self.reuse = out, reuse
        self.seconds: dict[str, float] = {}
        self.t_start = time.time()

    def run(self, name: str, marker: Path, fn: Callable[[], Any]) -> Any:
        if self.reuse and marker.exists():
            log(f"{name}: reusing {marker}")
            self.seconds[name] = 0.0
            return None
        log(f"{name}: start (elapsed {time.time() - self.t_start:.0f} s)")
        t0 = time.time()
        res = fn()
        self.seconds[name] = round(time.time() - t0, 1)
        log(f"{name}: done in {self.seconds[name]:.0f} s")
        return res


def _ppo_worker(yaml_path: str, over: dict, threads: int) -> None:
    """One PPO run in a child process (--parallel-ppo): one torch thread each, so the two runs share the cores."""
    import torch

    torch.set_num_threads(threads)
    from safealign.train.ppo_lag import PPOLagConfig, run_ppo_lag

    run_ppo_lag(PPOLagConfig.from_yaml(yaml_path, over))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench-pluralistic")
    ap.add_argument("--reuse", action="store_true", help="reuse finished stages of an earlier run in --out")
    ap.add_argument("--quick", action="store_true", help="smoke run with tiny sizes")
    ap.add_argument("--rm-pairs", type=int, default=96, help="conditioned reward pairs used for training")
    ap.add_argument(
        "--cm-top-layers",
        type=int,
        default=2,
        help="decoder layers of the cost model trained on top of its "
        "frozen trunk (with the head); the reward model trains 2",
    )
    ap.add_argument("--cm-pairs", type=int, default=96, help="cost pairs used for training (half attack-framed)")
    ap.add_argument("--score-max-length", type=int, default=256)
    ap.add_argument("--score-epochs", type=int, default=3)
    ap.add_argument("--score-lr", type=float, default=5e-5)
    ap.add_argument("--sft-rows", type=int, default=64)
    ap.add_argument("--sft-lr", type=float, default=3e-4, help="Janus SFT learning rate (LoRA r16)")
    ap.add_argument("--dpo-lr", type=float, default=5e-5, help="Janus DPO learning rate (LoRA r16)")
    ap.add_argument("--dpo-rows", type=int, default=64)
    ap.add_argument("--ppo-steps", type=int, default=8)
    ap.add_argument("--ppo-batch", type=int, default=8)
    ap.add_argument("--ppo-new-tokens", type=int, default=40)
    ap.add_argument("--lambda-init", type=float, default=1.0)
    ap.add_argument("--lambda-lr", type=float, default=0.2)
    ap.add_argument("--actor-lr", type=float, default=1e-4)
    ap.add_argument(
        "--heldout", type=int, default=17, help="held-out system messages with constraints (demo system_test has 17)"
    )
    ap.add_argument("--attacks", type=int, default=24, help="attack prompts (demo system_attacks has 36)")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--attack-new-tokens", type=int, default=40)
    ap.add_argument("--guard", default=str(REPO / "runs/demo/guard"), help="guard used as a judge in the evaluation")
    ap.add_argument(
        "--collect-samples",
        type=int,
        default=0,
        help="answers of the DPO model sampled per PPO prompt "
        "for the cost model's data round (0: train the cost model on the attack pairs only)",
    )
    ap.add_argument(
        "--ptx-coeff",
        type=float,
        default=0.0,
        help="PTX loss weight of both PPO runs (0: off): supervised "
        "gold answers of the seen system messages interleaved with styled refusals under train attack framings",
    )
    ap.add_argument(
        "--per-category",
        action="store_true",
        help="one λ per attack family (+ plain harmful), each "
        "constraining the cost of its own prompts (the 7B recipe's setting), instead of one λ on all prompts",
    )
    ap.add_argument(
        "--label-guard",
        default=str(REPO / "runs/demo/guard-ext"),
        help="guard that moderates the collected "
        "answers (not the evaluation guard, so that the evaluation stays independent)",
    )
    ap.add_argument(
        "--ptx-mode",
        choices=["separate", "joint"],
        default="separate",
        help="PTX as its own optimiser step "
        "after the PPO updates (separate) or added to every actor update's loss (joint)",
    )
    ap.add_argument(
        "--score-scaling",
        choices=["none", "running"],
        default=None,
        help="score_scaling of both PPO runs "
        "(running: reward and cost streams divided by their running standard deviations)",
    )
    ap.add_argument(
        "--parallel-ppo",
        action="store_true",
        help="run reward-only PPO and PPO-Lagrangian at the same time "
        "in two processes with one torch thread each (their wall time is then one stage, 'ppo_both')",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.rm_pairs = args.cm_pairs = 8
        args.sft_rows = args.dpo_rows = 4
        args.ppo_steps, args.ppo_batch, args.ppo_new_tokens = 1, 4, 8
        args.heldout, args.attacks, args.max_new_tokens, args.attack_new_tokens = 3, 3, 8, 8
        args.score_max_length = 128

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import random

    import torch

    torch.manual_seed(args.seed)
    from safealign.data.demo import load_demo
    from safealign.data.records import PromptRecord, SystemExample
    from safealign.models.loading import resolve_model
    from safealign.pluralistic import conditioned as C

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    st = Stages(out, args.reuse)
    base = resolve_model("default")
    rng = random.Random(args.seed)

    # ---------------------------------------------------------------------------------------------- 1. data
    data = out / "data"

    def build_data() -> None:
        sys_pairs = load_demo("system_train")
        seen, unseen = C.split_by_system(sys_pairs, 0.2, args.seed)
        examples = [
            SystemExample(p.system, p.prompt, p.chosen, p.preference_set, id=p.id, constraints=list(p.constraints))
            for p in seen
        ]
        cond = C.conditioned_reward_pairs(
            list(seen) + C.pairs_from_examples(examples, max_per_example=1, seed=args.seed),
            load_demo("safety_train"),
            helpfulness_ratio=0.2,
            seed=args.seed,
        )
        C.write_records(cond[: args.rm_pairs], str(data / "conditioned_pairs.jsonl"))
        safety = load_demo("safety_train")
        rng.shuffle(safety)
        half = max(1, args.cm_pairs // 2)
        cost = C.attack_cost_pairs(safety[:half], copies=1, keep_original=True, seed=args.seed)
        C.write_records(cost[: args.cm_pairs], str(data / "attack_cost_pairs.jsonl"))
        harmful = C.harmful_prompts_of(safety)
        prompts = C.ppo_prompt_set(args.ppo_steps * args.ppo_batch, seen, harmful, unseen=unseen, seed=args.seed)
        C.write_records(prompts, str(data / "ppo_prompts.jsonl"))
        # the SFT/DPO data: the same seen system messages (the unseen ones stay unseen by every method)
        C.write_records(list(seen), str(data / "system_seen.jsonl"))

    st.run("data", data / "ppo_prompts.jsonl", build_data)

    # ---------------------------------------------------------------------------------------- 2./3. score models
    def train_score(kind: str, path: Path, target: Path, top_layers: int = 2) -> None:
        from safealign.train.score_trainer import ScoreTrainConfig, train_score_model

        cfg = ScoreTrainConfig(
            kind=kind, model="default", data=str(path), eval_data=None, output_dir=str(target),
            epochs=args.score_epochs, batch_size=8, max_length=args.score_max_length, seed=args.seed, train_mode="top",
            top_layers=top_layers, cache_trunk=True, learning_rate=args.score_lr, progress=False, resume=False,
        )
        train_score_model(cfg)

    st.run(
        "reward",
        out / "reward" / "score_config.json",
        lambda: train_score("reward", data / "conditioned_pairs.jsonl", out / "reward"),
    )

    # ---------------------------------------------------------------------------------------------- 4./5. Janus
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, train_preference, train_sft

    quick_steps = {"max_steps": 1} if args.quick else {}
    common = dict(
        lora=True, lora_r=16, lora_alpha=32, batch_size=4, max_length=320, logging_steps=4, seed=args.seed,
        **quick_steps,
    )
    st.run(
        "sft",
        out / "sft" / "config.json",
        lambda: train_sft(
            SFTTrainConfig(
                model=base, data=str(data / "system_seen.jsonl"), output_dir=str(out / "sft"), num_epochs=1.0,
                learning_rate=args.sft_lr, max_examples=args.sft_rows, **common,
            )
        ),
    )
    st.run(
        "dpo",
        out / "dpo" / "config.json",
        lambda: train_preference(
            PreferenceTrainConfig(
                method="dpo", model=str(out / "sft"), data=str(data / "system_seen.jsonl"), output_dir=str(out / "dpo"),
                num_epochs=1.0, learning_rate=args.dpo_lr, beta=0.1, max_examples=args.dpo_rows, **common,
            )
        ),
    )

    # ------------------------------------------------------------------------------------ 5. collect + cost model
    collected = data / "collected_pairs.jsonl"

    def collect() -> None:
        from safealign.backends.base import GenerationParams
        from safealign.data.io import load_prompts
        from safealign.eval.safety import backend_answerer
        from safealign.pluralistic import tradeoff as T
        from safealign.train.collect import ComplianceJudge, collect_pairs

        label_guard = None
        if args.label_guard and Path(args.label_guard).exists():
            from safealign.guard.classifier import load_guard

            label_guard = load_guard(args.label_guard)
        recs = list(load_prompts(str(data / "ppo_prompts.jsonl")))
        backend = T.load_policy_backend(str(out / "dpo"), batch_size=16)
        torch.manual_seed(args.seed)
        answer = backend_answerer(
            backend, GenerationParams(max_new_tokens=args.ppo_new_tokens, temperature=1.0), chunk=16
        )
        pairs, stats, rows = collect_pairs(
            answer, recs, ComplianceJudge(guard=label_guard), samples=args.collect_samples, chunk=8
        )
        C.write_records(pairs, str(collected))
        (data / "collected_stats.json").write_text(json.dumps(stats.to_dict(), indent=2))
        (data / "collected_answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        log(f"collect: {stats.to_dict()}")

    cost_data = str(data / "attack_cost_pairs.jsonl")
    if args.collect_samples > 0:
        st.run("collect", collected, collect)
        cost_data += f",{collected}"
    st.run(
        "cost",
        out / "cost" / "score_config.json",
        lambda: train_score("cost", cost_data, out / "cost", args.cm_top_layers),
    )

    # ---------------------------------------------------------------------------------------------- 6./7. PPO
    ppo_over: dict[str, Any] = {}
    if args.ptx_coeff > 0:

        def build_ptx() -> None:
            # balanced supervised rows for the PTX loss of both PPO runs: the gold answers of the seen system messages
            # and styled refusals of harmful training prompts under TRAIN attack framings (never the eval framings)
            from safealign.data.io import load_system_pairs
            from safealign.pluralistic.attacks import attack_training_pairs

            seen_pairs = list(load_system_pairs(str(data / "system_seen.jsonl")))
            harmful = C.harmful_prompts_of(load_demo("safety_train"))
            refusals = attack_training_pairs(harmful, per_prompt=1, seed=args.seed)
            prng = random.Random(args.seed)
            prng.shuffle(seen_pairs)
            prng.shuffle(refusals)
            k = min(len(seen_pairs), len(refusals))
            rows = [r for a, b in zip(seen_pairs[:k], refusals[:k]) for r in (a, b)]
            (data / "ptx.jsonl").write_text(
                "".join(json.dumps({"system": r.system, "prompt": r.prompt, "response": r.chosen}) + "\n" for r in rows)
            )

        st.run("ptx_data", data / "ptx.jsonl", build_ptx)
        ppo_over = {"ptx_data": str(data / "ptx.jsonl"), "ptx_coeff": args.ptx_coeff, "ptx_mode": args.ptx_mode}

    if args.per_category:
        # one multiplier per attack family + plain harmful prompts, each on the cost of its own prompts (benign
        # prompts then cannot pull a single J_C below d while the attacked ones stay unsafe)
        from safealign.utils.jsonl import read_jsonl

        rows = read_jsonl(data / "ppo_prompts.jsonl")
        names = sorted({r["category"] for r in rows if r.get("label") == "harmful"})
        ppo_over.update(constraints="prompt_category", constraint_names=names, cost_threshold=[0.0] * len(names))

    if args.score_scaling:
        ppo_over["score_scaling"] = args.score_scaling
    ppo_yaml = REPO / "configs/cpu-demo/pluralistic_ppo_lag.yaml"

    def ppo_fields(name: str, fixed: float | None) -> dict[str, Any]:
        return {
            **ppo_over,
            "actor": str(out / "dpo"),
            "reward_model": str(out / "reward"),
            "cost_model": str(out / "cost"),
            "prompts": str(data / "ppo_prompts.jsonl"),
            "output_dir": str(out / name),
            "steps": args.ppo_steps,
            "batch_size": args.ppo_batch,
            "max_new_tokens": args.ppo_new_tokens,
            "fixed_lambda": fixed,
            "lambda_init": args.lambda_init,
            "lambda_lr": args.lambda_lr,
            "actor_lr": args.actor_lr,
            "progress": False,
        }

    runs = (("ppo_reward_only", 0.0), ("ppo_lag", None))
    todo = [(n, f) for n, f in runs if not (args.reuse and (out / n / "summary.json").exists())]
    if args.parallel_ppo and len(todo) == 2:
        import multiprocessing as mp

        def both() -> None:
            ctx = mp.get_context("spawn")
            procs = [
                ctx.Process(target=_ppo_worker, args=(str(ppo_yaml), ppo_fields(n, f), 1), name=n) for n, f in todo
            ]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            failed = [p.name for p in procs if p.exitcode != 0]
            if failed:
                raise SystemExit(f"PPO run(s) failed: {', '.join(failed)}")

        st.run("ppo_both", out / "ppo_lag" / "summary.json", both)
    else:
        for n, f in runs:
            st.run(
                n,
                out / n / "summary.json",
                lambda n=n, f=f: _ppo_worker(str(ppo_yaml), ppo_fields(n, f), torch.get_num_threads()),
            )

    # ---------------------------------------------------------------------------------------------- 8. eval
    from safealign.backends.base import GenerationParams
    from safealign.models.score import ScoreModel
    from safealign.pluralistic import tradeoff as T

    heldout = [r for r in load_demo("system_test") if r.constraints][: args.heldout]
    attacks = [r for r in load_demo("system_attacks") if isinstance(r, PromptRecord)][: args.attacks]
    guard = None
    judges: dict[str, Any] = {"refusal": T.refusal_judge()}
    if Path(args.guard).exists():
        from safealign.guard.classifier import load_guard

        guard = load_guard(args.guard)
        judges["guard"] = T.guard_judge(guard)
    cm = ScoreModel.from_pretrained(out / "cost")
    from safealign.models.loading import load_tokenizer

    judges["cost"] = T.cost_model_judge(cm, load_tokenizer(str(base)))
    params = GenerationParams(max_new_tokens=args.max_new_tokens, temperature=0.0, seed=0)
    aparams = GenerationParams(max_new_tokens=args.attack_new_tokens, temperature=0.0, seed=0)
    models = {
        "base": str(base),
        "sft": str(out / "sft"),
        "dpo": str(out / "dpo"),
        "ppo_reward_only": str(out / "ppo_reward_only" / "actor"),
        "ppo_lag": str(out / "ppo_lag" / "actor"),
    }
    points = []

    def evaluate_all() -> None:
        for name, path in models.items():
            t0 = time.time()
            backend = T.load_policy_backend(path, batch_size=8)
            points.append(
                T.evaluate_method(
                    name, T.backend_responder(backend, params), heldout, attacks, judges,
                    attack_respond=T.backend_responder(backend, aparams),
                )
            )
            log(
                f"eval {name}: adherence {points[-1].adherence:.1f} %, safe {points[-1].safe_by_judge} "
                f"({time.time() - t0:.0f} s)"
            )
            T.write_tradeoff(points, out / "tradeoff", meta={"partial": True}, plot=False)
            if name == "ppo_lag" and guard is not None:
                from safealign.guard.pipeline import GuardrailPipeline

                pipe = GuardrailPipeline(guard, backend, params=params)
                t0 = time.time()
                points.append(
                    T.evaluate_method(
                        "ppo_lag_guard", T.guarded_responder(pipe, params), heldout, attacks, judges,
                        attack_respond=T.guarded_responder(pipe, aparams),
                    )
                )
                log(
                    f"eval ppo_lag_guard: adherence {points[-1].adherence:.1f} %, safe {points[-1].safe_by_judge} "
                    f"({time.time() - t0:.0f} s)"
                )

    st.seconds["eval"] = 0.0
    t0 = time.time()
    evaluate_all()
    st.seconds["eval"] = round(time.time() - t0, 1)

    total = round(sum(st.seconds.values()), 1)
    meta = {
        "machine": f"{os.cpu_count()} CPU cores (load average at start {os.getloadavg()[0]:.1f}); torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads",
        "seconds": st.seconds,
        "total_seconds": total,
        "args": vars(args),
        "judges": list(judges),
        "plotted_judge": "refusal",
        "ppo_summaries": {
            n: json.loads((out / n / "summary.json").read_text())
            for n in ("ppo_reward_only", "ppo_lag")
            if (out / n / "summary.json").exists()
        },
    }
    paths = T.write_tradeoff(points, out / "tradeoff", meta=meta)
    claim = T.compare(points)
    (out / "bench.json").write_text(
        json.dumps({"points": [p.to_dict() for p in points], "claim": claim, **meta}, indent=2, default=str)
    )
    print(T.tradeoff_table_markdown(points))
    print(
        json.dumps(
            {
                "claim": claim,
                "seconds": st.seconds,
                "total_seconds": total,
                "paths": {k: str(v) for k, v in paths.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
