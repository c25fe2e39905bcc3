"""What moves the default model, on held-out prompts, by judges that were not optimised. Prints a table.

    .venv/bin/python bench/bench_safe_rlhf.py --shared-data ../shared/data --out runs/bench/safe_rlhf \
        --seeds 0,1,2 --threads 2                     # every method; the recipe rows with three seeds
    .venv/bin/python bench/bench_safe_rlhf.py --methods base,recipe --seeds 0 --rounds 1     # a subset

Methods, on the same training prompts (train splits only) and the same round-0 reward model, cost model and guard:

- ``base``: the default model;
- ``supervised``: the recipe's warm start alone (harmful -> a helpful refusal, benign -> best of n by reward);
- ``reward_ppo``: PPO with lambda fixed at 0 (reward only) from the base model, the recipe's PPO budget per round;
- ``dpo``: DPO from the base model on the warm start's pairs: harmful prompt -> (helpful refusal > the policy's own
  sampled answer), benign prompt -> (best of n > worst of n);
- ``recipe``: the full recipe (warm start, then ``--rounds`` rounds of sample -> label -> retrain R and C ->
  PPO-Lagrangian); its round 0 is the ``supervised`` row of the same seed, so both come from one run.

Held-out evaluation (greedy): the shared sets' held-out harmful and benign prompts and the look-alike set's held-out
pairs and no-trigger prompts. Figures: harmful handled safely (refusal detector AND guard agree), refusal rate on
harmful, over-refusal on benign and on look-alike prompts, mean reward on held-out benign prompts by the round-0
reward model (which PPO does not optimise after round 0, but whose data R_k keeps), and Janus adherence (judge-free)
on held-out system messages. The guard labels the recipe's training answers: where it judges, it is not independent
of the recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
METHODS = ("base", "supervised", "reward_ppo", "dpo", "recipe")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def shared_artefacts(out: Path, guard: str | None, epochs: dict[str, int]) -> dict[str, str]:
    """The round-0 guard, reward and cost models every method shares (trained once, reused)."""
    from safealign.data.io import write_jsonl
    from safealign.train.round_data import lookalike_score_pairs

    paths = {"guard": guard or str(out / "guard"), "reward": str(out / "reward0"), "cost": str(out / "cost0")}
    if not Path(paths["guard"]).exists():
        log("training the guard (seed + demo data)")
        subprocess.run([sys.executable, "-m", "safealign", "train", "guard", "--data", "seed,demo", "--output-dir",
                        paths["guard"]], check=True, cwd=REPO)
    pairs = out / "lookalike_train_pairs.jsonl"
    if not pairs.exists():
        write_jsonl(pairs, lookalike_score_pairs("train"))
    for kind in ("reward", "cost"):
        if not (Path(paths[kind]) / "score_config.json").exists():
            log(f"training the round-0 {kind} model")
            subprocess.run([sys.executable, "-m", "safealign", "train", kind, "--config",
                            str(REPO / f"configs/cpu-demo/{kind}.yaml"), "--data", f"demo:safety_train,{pairs}",
                            "--eval-data", "demo:safety_test", "--output-dir", paths[kind], "--trunk-cache",
                            str(out / "trunk_cache_top2.pt"), "--epochs", str(epochs[kind]), "--no-progress"],
                           check=True, cwd=REPO)
    return paths


def recipe_config(args: argparse.Namespace, out: Path, seed: int, art: dict[str, str], rounds: int, **kw: Any) -> Any:
    from safealign.recipes.safe_rlhf_config import SafeRLHFConfig

    return SafeRLHFConfig(
        output_dir=str(out), shared_data=args.shared_data, guard=art["guard"], reward_model=art["reward"],
        cost_model=art["cost"], seed=seed, rounds=rounds, warm_harmful=args.warm_harmful,
        warm_benign=args.warm_benign, best_of=args.best_of, sample_tokens=args.sample_tokens,
        sft_epochs=args.sft_epochs, round_harmful=args.round_prompts, round_benign=args.round_prompts, samples=2,
        ppo_steps=args.ppo_steps, ppo_tokens=args.ppo_tokens, eval_harmful=args.eval_harmful,
        eval_benign=args.eval_benign, eval_lookalike=args.eval_lookalike, eval_tokens=args.eval_tokens,
        trunk_cache=str(out.parent / "trunk_cache_top2.pt"),
        progress=False, **kw,
    )


def run_recipe(args: argparse.Namespace, out: Path, seed: int, art: dict[str, str], first: bool) -> dict[str, Any]:
    from safealign.recipes.safe_rlhf import SafeRLHFRun

    t0 = time.time()
    res = SafeRLHFRun(recipe_config(args, out / f"recipe_s{seed}", seed, art, args.rounds, eval_base=first),
                      progress=lambda w, d, t: None).run()
    return {"rounds": res["rounds"], "policies": res["policies"], "seconds": round(time.time() - t0, 1)}


def run_reward_ppo(args: argparse.Namespace, out: Path, seed: int, art: dict[str, str]) -> dict[str, Any]:
    """Reward-only PPO from the base model: the recipe with no warm start and lambda fixed at 0."""
    from safealign.recipes.safe_rlhf import SafeRLHFRun

    t0 = time.time()
    res = SafeRLHFRun(recipe_config(args, out / f"reward_ppo_s{seed}", seed, art, args.rounds, warm_start=False,
                                    fixed_lambda=0.0, eval_base=False), progress=lambda w, d, t: None).run()
    return {"rounds": res["rounds"], "policies": res["policies"], "seconds": round(time.time() - t0, 1)}


def run_dpo(args: argparse.Namespace, out: Path, seed: int, art: dict[str, str]) -> dict[str, Any]:
    """DPO from the base model on preference pairs built from the supervised recipe's own data (same prompts)."""
    from safealign.recipes.dpo_baseline import dpo_baseline

    t0 = time.time()
    cfg = recipe_config(args, out / f"recipe_s{seed}", seed, art, 0)
    res = dpo_baseline(cfg, out / f"dpo_s{seed}", steps=args.dpo_steps)
    return res | {"seconds": round(time.time() - t0, 1)}


def adherence(policy: str, n: int) -> float:
    from safealign.backends.base import GenerationParams
    from safealign.data.demo import load_demo
    from safealign.eval.safety import load_policy_backend
    from safealign.janus.adherence import evaluate_adherence

    recs = [r for r in load_demo("system_test") if getattr(r, "constraints", None)][:n]
    report, _ = evaluate_adherence(load_policy_backend(policy, 8), recs, GenerationParams(max_new_tokens=64,
                                                                                          temperature=0.0, seed=0))
    return float(report["overall"]) / 100.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--out", default="runs/bench/safe_rlhf")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0,1,2", help="seeds of the recipe (and its supervised round 0)")
    ap.add_argument("--baseline-seeds", default="0", help="seeds of reward_ppo and dpo")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--guard", default=None, help="a trained guard folder (default: train today's guard)")
    ap.add_argument("--warm-harmful", type=int, default=96)
    ap.add_argument("--warm-benign", type=int, default=64)
    ap.add_argument("--best-of", type=int, default=2)
    ap.add_argument("--sample-tokens", type=int, default=64)
    ap.add_argument("--sft-epochs", type=float, default=2.0)
    ap.add_argument("--round-prompts", type=int, default=24)
    ap.add_argument("--ppo-steps", type=int, default=12)
    ap.add_argument("--ppo-tokens", type=int, default=40)
    ap.add_argument("--dpo-steps", type=int, default=40)
    ap.add_argument("--eval-harmful", type=int, default=40)
    ap.add_argument("--eval-benign", type=int, default=24)
    ap.add_argument("--eval-lookalike", type=int, default=20)
    ap.add_argument("--eval-tokens", type=int, default=64)
    ap.add_argument("--adherence-items", type=int, default=12)
    ap.add_argument("--r0-epochs", type=int, default=2, help="epochs of the round-0 reward model")
    ap.add_argument("--c0-epochs", type=int, default=3, help="epochs of the round-0 cost model")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    t_start = time.time()
    art = shared_artefacts(out, args.guard, {"reward": args.r0_epochs, "cost": args.c0_epochs})
    results: dict[str, Any] = {}
    rfile = out / "results.json"
    if rfile.exists():
        results = json.loads(rfile.read_text())

    def save() -> None:
        rfile.write_text(json.dumps(results, indent=1))

    if "recipe" in methods or "supervised" in methods or "base" in methods:
        for seed in seeds:
            key = f"recipe_s{seed}"
            if key not in results:
                log(f"recipe, seed {seed}, {args.rounds} round(s)")
                results[key] = run_recipe(args, out, seed, art, first=seed == seeds[0])
                save()
    for seed in [int(s) for s in args.baseline_seeds.split(",")]:
        for name, fn in (("reward_ppo", run_reward_ppo), ("dpo", run_dpo)):
            key = f"{name}_s{seed}"
            if name in methods and key not in results:
                log(f"{name}, seed {seed}")
                results[key] = fn(args, out, seed, art)
                save()
    if args.adherence_items:
        for key, res in results.items():
            pols = res.get("policies") or {}
            if "adherence" not in res and pols:
                last = pols[sorted(pols)[-1]]
                log(f"Janus adherence: {key}")
                res["adherence"] = adherence(last, args.adherence_items)
                if key == f"recipe_s{seeds[0]}" and "base_adherence" not in results:
                    results["base_adherence"] = adherence("default", args.adherence_items)
                save()
    results["meta"] = {
        "command": " ".join([Path(sys.executable).name] + sys.argv), "seconds": round(time.time() - t_start, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}", "threads": args.threads,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=REPO).stdout.strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    save()
    print_table(results)


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def print_table(results: dict[str, Any]) -> None:
    """One row per (method, round): the held-out figures; means ± spread over seeds where there are several."""
    import statistics

    rows: dict[str, list[dict[str, Any]]] = {}
    for key, res in results.items():
        if not isinstance(res, dict) or "rounds" not in res:
            continue
        method = key.rsplit("_s", 1)[0]
        for r in res["rounds"]:
            name = {"base": "base", "round0": "supervised only"}.get(r["round"], f"{method} {r['round']}")
            if method == "reward_ppo" and r["round"] == "base":
                continue
            if method == "recipe" and r["round"].startswith("round") and r["round"] != "round0":
                name = f"full recipe, {r['round'][5:]} round(s)"
            if method == "reward_ppo":
                name = f"reward-only PPO, {r['round'][5:]} round(s)"
            if method == "dpo":
                name = "DPO"
            rows.setdefault(name, []).append(r | {"adherence": res.get("adherence") if r["round"] != "base" else
                                                  results.get("base_adherence")})
    cols = [("harmful_handled_safely", "harmful handled safely %"), ("harmful_refused", "refuses harmful %"),
            ("benign_over_refused", "over-refuses benign %"), ("lookalike_over_refused", "over-refuses look-alike %"),
            ("benign_reward", "benign reward"), ("J_C", "J_C"), ("lambda", "λ"), ("adherence", "Janus adherence %")]
    print("| method | seeds | " + " | ".join(t for _, t in cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name, rs in rows.items():
        cells = []
        for k, _ in cols:
            vals = [r.get(k) for r in rs if r.get(k) is not None]
            if not vals:
                cells.append("–")
                continue
            pct = k not in ("benign_reward", "J_C", "lambda")
            m = statistics.fmean(vals)
            txt = f"{100 * m:.1f}" if pct else f"{m:+.2f}"
            if len(vals) > 1:
                sd = statistics.pstdev(vals)
                txt += f" ± {100 * sd:.1f}" if pct else f" ± {sd:.2f}"
            cells.append(txt)
        print(f"| {name} | {len(rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
