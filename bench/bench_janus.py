"""Janus on a CPU: SFT then DPO of the default model on the demo system-message data, with the judge-free adherence
score on held-out system messages (per constraint) and the safe rate on the system-message attack set, before and
after training. Prints a JSON blob and a markdown table; writes them to ``<out>/results.json`` / ``results.md``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_janus.py   # the measured recipe: ~7 min training + ~2 min evaluation
    .venv/bin/python bench/bench_janus.py --quick         # smoke run (a few steps, a few items)

Safety judge: a saved guard (``--guard runs/demo/guard``) when one exists, else the refusal detector (a proxy).
Training-time attack data ("styled refusals" under train-split attack framings) is built from harmful prompts of a
public set (BeaverTails evaluation prompts from ../shared/data when present); the attack set evaluated is the demo's
``system_attacks`` (different prompts and wordings).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "external"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def heldout_taxonomy_set(n: int, seed: int) -> list:
    """Unseen system messages built from the taxonomy (with constraints) on unseen prompts (Koala test set)."""
    from safealign.data.records import PromptRecord
    from safealign.janus.data import load_instructions
    from safealign.janus.synthesize import plan_systems
    from safealign.janus.taxonomy import load_taxonomy

    path = SHARED / "koala_test_set.jsonl"
    if n <= 0 or not path.exists():
        return []
    prompts = [p for p in load_instructions(path) if len(p) < 200]
    random.Random(seed).shuffle(prompts)
    tax = load_taxonomy()
    out = []
    for i, p in enumerate(prompts[:n]):
        plan = plan_systems(p, tax, 1, seed=seed + 100)[0]
        rec = PromptRecord(p, plan.system, id=f"tax-{i}")
        rec.constraints = plan.constraints
        out.append(rec)
    return out


def evaluate(model_path: str, test, taxo, attacks, guard, max_new: int, attack_new: int, batch: int) -> dict:
    from safealign.backends.base import GenerationParams
    from safealign.backends.local import LocalBackend
    from safealign.janus.adherence import evaluate_adherence
    from safealign.pluralistic.attacks import attack_safety

    backend = LocalBackend.from_pretrained(model_path, batch_size=batch)
    t0 = time.time()
    rep, rows = evaluate_adherence(backend, test, GenerationParams(max_new_tokens=max_new, temperature=0.0))
    res = {"adherence": rep, "examples": rows[:3]}
    if taxo:
        res["adherence_taxonomy"], _ = evaluate_adherence(
            backend, taxo, GenerationParams(max_new_tokens=max_new, temperature=0.0)
        )
    saf = attack_safety(backend, attacks, guard, GenerationParams(max_new_tokens=attack_new, temperature=0.0))
    res["attack_safety"] = {k: v for k, v in saf.items() if k not in ("responses", "safe")}
    res["attack_examples"] = saf["responses"][:2]
    res["eval_seconds"] = round(time.time() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="runs/bench-janus")
    ap.add_argument("--sft-epochs", type=float, default=1.0)
    ap.add_argument("--dpo-epochs", type=float, default=1.0)
    ap.add_argument("--sft-lr", type=float, default=5e-4)
    ap.add_argument("--dpo-lr", type=float, default=1e-4)
    ap.add_argument(
        "--dpo-max", type=int, default=32, help="DPO pairs used (shuffled mix of demo pairs and attack pairs)"
    )
    ap.add_argument("--lora-r", type=int, default=32)
    ap.add_argument(
        "--attack-train",
        type=int,
        default=48,
        help="harmful prompts (BeaverTails eval) turned into styled-refusal training rows",
    )
    ap.add_argument(
        "--taxonomy-heldout", type=int, default=0,
        help="extra held-out items: taxonomy system messages on Koala prompts",
    )
    ap.add_argument(
        "--guard", default=None, help="saved guard folder (default: runs/demo/guard if present, else refusal proxy)"
    )
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--attack-new-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--sft-eval", action="store_true", help="also evaluate the SFT model (adds a few minutes)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 steps each, 4 items")
    args = ap.parse_args()

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    torch.manual_seed(0)
    from safealign.data.demo import load_demo
    from safealign.janus.data import load_prompt_records
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, train_preference, train_sft
    from safealign.models.loading import resolve_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    guard = args.guard or (str(REPO / "runs/demo/guard") if (REPO / "runs/demo/guard").exists() else None)
    test = [r for r in load_demo("system_test") if r.constraints]
    attacks = load_prompt_records("demo:system_attacks")
    taxo = heldout_taxonomy_set(args.taxonomy_heldout, 0)
    steps = {}
    if args.quick:
        test, attacks, taxo = test[:4], attacks[:4], taxo[:2]
        args.max_new_tokens, args.attack_new_tokens = 24, 16
        steps = {"max_steps": 2}

    attack_file = None
    if args.attack_train > 0 and (SHARED / "beavertails_evaluation.json").exists():
        rows = json.loads((SHARED / "beavertails_evaluation.json").read_text())
        random.Random(0).shuffle(rows)
        attack_file = out / "attack_train_prompts.txt"
        attack_file.write_text("\n".join(r["prompt"].replace("\n", " ") for r in rows[: args.attack_train]) + "\n")

    base = resolve_model(args.model)
    results: dict = {
        "machine": f"{os.cpu_count()} CPU cores (load average at start {os.getloadavg()[0]:.1f}); torch "
                   f"{torch.__version__}, {torch.get_num_threads()} threads",
        "judge": "guard" if guard else "refusal-proxy",
        "n_test": len(test),
        "n_taxonomy_heldout": len(taxo),
        "n_attacks": len(attacks),
    }
    log(
        f"evaluating the base model on {len(test)} held-out system messages (+{len(taxo)} taxonomy) and {len(attacks)} "
        "attacks"
    )
    results["before"] = evaluate(
        base, test, taxo, attacks, guard, args.max_new_tokens, args.attack_new_tokens, args.batch
    )
    (out / "partial.json").write_text(json.dumps(results, indent=2, default=str))
    log(
        f"before: adherence {results['before']['adherence']['overall']}%, safe "
        f"{results['before']['attack_safety']['safe_rate']}%"
    )

    common = dict(
        lora=True, lora_r=args.lora_r, lora_alpha=2 * args.lora_r, batch_size=4, max_length=256, logging_steps=5,
        attack_prompts=str(attack_file) if attack_file else None, seed=0, **steps,
    )
    t0, c0 = time.time(), time.process_time()
    sft_dir = train_sft(
        SFTTrainConfig(
            model=base, data="demo:system_train", output_dir=str(out / "sft"), num_epochs=args.sft_epochs,
            learning_rate=args.sft_lr, **common,
        )
    )
    sft_s, sft_cpu = time.time() - t0, time.process_time() - c0
    log(f"SFT done in {sft_s:.0f} s")
    if args.sft_eval:
        results["after_sft"] = evaluate(
            str(sft_dir), test, taxo, attacks, guard, args.max_new_tokens, args.attack_new_tokens, args.batch
        )
        log(
            f"after SFT: adherence {results['after_sft']['adherence']['overall']}%, safe "
            f"{results['after_sft']['attack_safety']['safe_rate']}%"
        )
    (out / "partial.json").write_text(json.dumps(results, indent=2, default=str))
    t1, c1 = time.time(), time.process_time()
    dpo_dir = train_preference(
        PreferenceTrainConfig(
            method="dpo", model=str(sft_dir), data="demo:system_train", output_dir=str(out / "dpo"),
            num_epochs=args.dpo_epochs, learning_rate=args.dpo_lr, beta=0.1, max_examples=args.dpo_max, **common,
        )
    )
    dpo_s, dpo_cpu = time.time() - t1, time.process_time() - c1
    log(f"DPO done in {dpo_s:.0f} s")
    results["after_dpo"] = evaluate(
        str(dpo_dir), test, taxo, attacks, guard, args.max_new_tokens, args.attack_new_tokens, args.batch
    )
    results["train_seconds"] = {
        "sft": round(sft_s, 1),
        "dpo": round(dpo_s, 1),
        "total": round(sft_s + dpo_s, 1),
        "cpu_seconds_this_process": round(sft_cpu + dpo_cpu, 1),
        "load_average_at_end": os.getloadavg()[0],
    }
    results["train_metrics"] = {
        k: {m: v for m, v in json.loads((d / "metrics.json").read_text()).items() if m != "log_history"}
        for k, d in (("sft", sft_dir), ("dpo", dpo_dir))
    }
    b, a = results["before"], results["after_dpo"]
    results["gain_points"] = round(a["adherence"]["overall"] - b["adherence"]["overall"], 2)
    results["safety_change_points"] = round(a["attack_safety"]["safe_rate"] - b["attack_safety"]["safe_rate"], 2)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    md = table(results)
    (out / "results.md").write_text(md)
    print(
        json.dumps(
            {k: v for k, v in results.items() if k not in ("before", "after_sft", "after_dpo")}, indent=2, default=str
        )
    )
    print(md)


def table(r: dict) -> str:
    stages = (
        [("base", r["before"])]
        + ([("SFT", r["after_sft"])] if "after_sft" in r else [])
        + [("SFT+DPO", r["after_dpo"])]
    )
    types = sorted({t for _, s in stages for t in s["adherence"]["per_constraint"]})
    lines = ["| metric | " + " | ".join(n for n, _ in stages) + " |", "|---|" + "---:|" * len(stages)]
    lines.append(
        "| adherence, all constraints (%) | " + " | ".join(f"{s['adherence']['overall']:.1f}" for _, s in stages) + " |"
    )
    lines.append(
        "| answers meeting every constraint (%) | "
        + " | ".join(f"{s['adherence']['strict']:.1f}" for _, s in stages)
        + " |"
    )
    for t in types:
        n = stages[0][1]["adherence"]["per_constraint"].get(t, {}).get("n", 0)
        lines.append(
            f"| {t} (n={n}) | "
            + " | ".join(
                f"{s['adherence']['per_constraint'].get(t, {}).get('pass_rate', float('nan')):.1f}" for _, s in stages
            )
            + " |"
        )
    if "adherence_taxonomy" in stages[0][1]:
        lines.append(
            "| adherence, unseen taxonomy system messages (%) | "
            + " | ".join(f"{s['adherence_taxonomy']['overall']:.1f}" for _, s in stages)
            + " |"
        )
    lines.append(
        f"| safe rate on attack set ({r['judge']}) (%) | "
        + " | ".join(f"{s['attack_safety']['safe_rate']:.1f}" for _, s in stages)
        + " |"
    )
    lines.append("")
    ts = r["train_seconds"]
    lines.append(
        f"training wall time: SFT {ts['sft']} s + DPO {ts['dpo']} s = {ts['total']} s (CPU time of this process "
        f"{ts['cpu_seconds_this_process']} s, "
        f"load average {ts['load_average_at_end']:.1f} at the end); {r['machine']}"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
