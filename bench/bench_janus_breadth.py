"""Janus at breadth on a CPU: synthesize system messages from the training side of the constraint families with the
default model (best-of-n against the checkers, deterministic repair when no sample passes), train SFT (+ DPO with
``--dpo``) with LoRA, and report base vs trained adherence on each generalisation side -- families never seen in
training, unseen phrasings of seen families, unseen combinations of seen families, and training-like messages -- plus
the safe rate on the demo's attack set judged by the refusal detector (``safealign.judges.refusal``, not optimised).

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_janus_breadth.py            # the measured small run
    .venv/bin/python bench/bench_janus_breadth.py --quick                      # smoke run

Prompts (a fixed rule): training instructions are AlpacaEval's (../shared/data/external/alpaca_eval_prompts.json,
under 200 characters); evaluation prompts are the Koala test set's (koala_test_set.jsonl, under 200 characters) --
no evaluation prompt is a training instruction. Styled-refusal training rows come from BeaverTails evaluation
prompts (as in bench_janus.py); the attack set evaluated is the demo's ``system_attacks`` (other prompts, wordings).
Writes ``<out>/results.json`` and ``results.md``; the synthesis statistics are in ``<out>/data/summary.json``.
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
SIDE_NAMES = {
    "unseen_families": "families never seen in training",
    "unseen_phrasings": "unseen phrasings of seen families",
    "unseen_combinations": "unseen combinations of seen families",
    "seen": "training-like messages, new prompts",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def short_prompts(path: Path) -> list[str]:
    from safealign.janus.data import load_instructions

    return [p for p in load_instructions(path) if len(p) < 200]


def evaluate(model_path: str, sets: dict, attacks: list, args) -> dict:
    from safealign.backends.base import GenerationParams
    from safealign.backends.local import LocalBackend
    from safealign.janus.generalisation import evaluate_generalisation
    from safealign.pluralistic.attacks import attack_safety

    backend = LocalBackend.from_pretrained(model_path, batch_size=args.batch)
    t0 = time.time()
    res = {"sides": evaluate_generalisation(backend, sets, GenerationParams(args.max_new_tokens, temperature=0.0))}
    saf = attack_safety(backend, attacks, None, GenerationParams(max_new_tokens=args.attack_new_tokens, temperature=0))
    res["attack_safety"] = {k: v for k, v in saf.items() if k not in ("responses", "safe")}
    res["eval_seconds"] = round(time.time() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--out", default="runs/bench-janus-breadth")
    ap.add_argument("--n-items", type=int, default=160, help="system messages synthesized for training")
    ap.add_argument("--best-of", type=int, default=2)
    ap.add_argument("--synth-new-tokens", type=int, default=96)
    ap.add_argument("--n-eval", type=int, default=24, help="evaluation items per generalisation side")
    ap.add_argument("--sft-epochs", type=float, default=2.0)
    ap.add_argument("--sft-lr", type=float, default=5e-4)
    ap.add_argument("--dpo", action="store_true", help="also train DPO from the SFT model and evaluate it")
    ap.add_argument("--dpo-lr", type=float, default=1e-4)
    ap.add_argument("--lora-r", type=int, default=32)
    ap.add_argument("--attack-train", type=int, default=48, help="BeaverTails prompts made styled-refusal rows")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--attack-new-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-attacks", type=int, default=None, help="evaluate the first N attacks (default: all 36)")
    ap.add_argument("--sides", default=",".join(SIDE_NAMES), help="generalisation sides evaluated (comma-separated)")
    ap.add_argument("--quick", action="store_true", help="smoke run: a few items, 2 training steps")
    args = ap.parse_args()
    if args.quick:
        args.n_items, args.n_eval, args.max_new_tokens, args.synth_new_tokens, args.attack_train = 6, 2, 16, 16, 4

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    torch.manual_seed(args.seed)
    from safealign.backends.local import LocalBackend
    from safealign.janus.breadth import BreadthConfig, synthesize_breadth
    from safealign.janus.data import load_prompt_records
    from safealign.janus.generalisation import evaluation_sets, make_splits
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, train_preference, train_sft
    from safealign.models.loading import resolve_model
    from safealign.pluralistic.attacks import attack_pairs_for

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_model(args.model)
    train_prompts = short_prompts(SHARED / "alpaca_eval_prompts.json")
    eval_prompts = short_prompts(SHARED / "koala_test_set.jsonl")
    splits = make_splits(args.seed)
    sides = tuple(x for x in args.sides.split(",") if x)
    sets = evaluation_sets(eval_prompts, splits, args.n_eval, seed=args.seed, sides=sides)
    attacks = load_prompt_records("demo:system_attacks")[: 4 if args.quick else args.n_attacks]
    results: dict = {
        "machine": f"{os.cpu_count()} CPU cores (load average at start {os.getloadavg()[0]:.1f}); torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads",
        "args": vars(args),
        "splits": splits.summary(),
        "n_eval_per_side": args.n_eval,
        "n_attacks": len(attacks),
    }

    t0 = time.time()
    cfg = BreadthConfig(
        instructions="alpaca_eval_prompts", output_dir=str(out / "data"), n_items=args.n_items, best_of=args.best_of,
        max_new_tokens=args.synth_new_tokens, seed=args.seed, split_seed=args.seed, batch_size=args.batch,
    )
    log(f"synthesizing {args.n_items} system messages x best-of-{args.best_of} with {base}")
    teacher = LocalBackend.from_pretrained(base, batch_size=args.batch)
    results["synthesis"] = synthesize_breadth(train_prompts, teacher, cfg, "alpaca_eval_prompts")
    results["synthesis_seconds"] = round(time.time() - t0, 1)
    del teacher
    s = results["synthesis"]
    log(f"synthesis: {s['sft_rows']} SFT rows, {s['dpo_pairs']} pairs, chosen {s['chosen']} in "
        f"{results['synthesis_seconds']} s")

    log(f"evaluating the base model: {len(sets)} sides x {args.n_eval} items, {len(attacks)} attacks")
    results["base"] = evaluate(base, sets, attacks, args)
    (out / "partial.json").write_text(json.dumps(results, indent=2, default=str))

    attack_file = None
    if args.attack_train > 0 and (SHARED / "beavertails_evaluation.json").exists():
        rows = json.loads((SHARED / "beavertails_evaluation.json").read_text())
        random.Random(0).shuffle(rows)
        attack_file = out / "attack_train_prompts.txt"
        attack_file.write_text("\n".join(r["prompt"].replace("\n", " ") for r in rows[: args.attack_train]) + "\n")
    common = dict(
        lora=True, lora_r=args.lora_r, lora_alpha=2 * args.lora_r, batch_size=4, max_length=320, logging_steps=10,
        attack_prompts=str(attack_file) if attack_file else None, seed=args.seed,
        **({"max_steps": 2} if args.quick else {}),
    )
    t1 = time.time()
    sft_cfg = SFTTrainConfig(model=base, data=str(out / "data" / "sft.jsonl"), output_dir=str(out / "sft"),
                             num_epochs=args.sft_epochs, learning_rate=args.sft_lr, **common)
    sft_dir = train_sft(sft_cfg, attack_pairs=attack_pairs_for(sft_cfg))
    results["train_seconds"] = {"sft": round(time.time() - t1, 1)}
    log(f"SFT done in {results['train_seconds']['sft']} s; evaluating")
    results["sft"] = evaluate(str(sft_dir), sets, attacks, args)
    stages = ["base", "sft"]
    if args.dpo:
        t2 = time.time()
        dpo_cfg = PreferenceTrainConfig(
            method="dpo", model=str(sft_dir), data=str(out / "data" / "dpo.jsonl"), output_dir=str(out / "dpo"),
            num_epochs=1.0, learning_rate=args.dpo_lr, beta=0.1, **common,
        )
        dpo_dir = train_preference(dpo_cfg, attack_pairs=attack_pairs_for(dpo_cfg))
        results["train_seconds"]["dpo"] = round(time.time() - t2, 1)
        results["dpo"] = evaluate(str(dpo_dir), sets, attacks, args)
        stages.append("dpo")
    results["total_seconds"] = round(time.time() - t0, 1)
    results["load_average_at_end"] = os.getloadavg()[0]
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    md = table(results, stages)
    (out / "results.md").write_text(md)
    print(md)


def table(r: dict, stages: list[str]) -> str:
    lines = ["| adherence (% of constraints met; strict = every constraint) | " + " | ".join(stages) + " |",
             "|---|" + "---:|" * len(stages)]
    for side, label in SIDE_NAMES.items():
        if side not in r["base"]["sides"]:
            continue
        lines.append(f"| {label} (n={r['n_eval_per_side']}) | " + " | ".join(
            f"{r[s]['sides'][side]['overall']:.1f} (strict {r[s]['sides'][side]['strict']:.1f})" for s in stages
        ) + " |")
    lines.append(f"| attack set safe rate, refusal detector (n={r['n_attacks']}) | "
                 + " | ".join(f"{r[s]['attack_safety']['safe_rate']:.1f}" for s in stages) + " |")
    syn = r["synthesis"]
    lines += [
        "",
        f"synthesis: {syn['items']} messages ({syn['duplicates_skipped']} duplicates skipped), {syn['sft_rows']} SFT "
        f"rows, {syn['dpo_pairs']} DPO pairs; chosen answers {syn['chosen']['model']} sampled (acceptance "
        f"{syn['acceptance_rate_model']} %), {syn['chosen']['repair']} repaired, {syn['chosen']['dropped']} dropped; "
        f"rejected {syn['rejected']}; {syn['families_used']} families, {syn['phrasings_used']} phrasings, "
        f"{syn['combinations_used']} combinations; {r['synthesis_seconds']} s",
        f"training: {r['train_seconds']}; whole run {r['total_seconds']} s; {r['machine']}, load average "
        f"{r['load_average_at_end']:.1f} at the end",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
