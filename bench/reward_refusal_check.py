"""Does a reward model see over-refusal? Held-out (answer, refusal) pairs from the PPO-Lagrangian benchmark.

For every ``runs/bench/ppo_lag/run_r[12]*.json`` (rounds 1 and 2) evaluated on the standard held-out set (30
harmful + 15 benign demo eval prompts + 60 AlpacaEval instructions), each benign prompt that the base model answered
and a trained policy refused gives one pair: the base model's answer should outscore the refusal. No prompt here is
a training prompt of any reward model. Prints, per reward model, how often the answer wins and the mean scores of
both sides:

    .venv/bin/python bench/reward_refusal_check.py --reward-models runs/demo/reward,runs/demo/reward_round1
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import torch

from bench_ppo_lag import held_out_prompts  # this folder is on sys.path when the script runs

REPO = Path(__file__).resolve().parent.parent


def refusal_pairs(runs_glob: str) -> list[tuple[str, str, str, bool]]:
    """(prompt, base answer, refusal, is AlpacaEval), one per distinct (prompt, refusal)."""
    prompts = held_out_prompts(eval_harmful=30, eval_alpaca=60)  # the set the round-1/2 runs were evaluated on
    out, seen = [], set()
    for f in sorted(glob.glob(runs_glob)):
        d = json.loads(Path(f).read_text())
        before = d.get("before", {}).get("answers", [])
        if len(before) != len(prompts):
            continue  # another held-out set
        for method in ("lagrangian", "reward_only"):
            for i, (x, y) in enumerate(zip(before, d.get(method, {}).get("after", {}).get("answers", []))):
                key = (prompts[i].prompt, y["response"])
                if x["label"] == "benign" and y["refusal"] and not x["refusal"] and key not in seen:
                    seen.add(key)
                    out.append((prompts[i].prompt, x["response"], y["response"], x["category"] == "alpaca"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reward-models", default="runs/demo/reward,runs/demo/reward_round1", help="comma-separated folders"
    )
    ap.add_argument(
        "--runs",
        default=str(REPO / "runs/bench/ppo_lag/run_r[12]*.json"),
        help="bench JSONs to take pairs from (default: the round-1 and round-2 runs)",
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from safealign.models.score import load_score_model, score_texts

    pairs = refusal_pairs(args.runs)
    demo = torch.tensor([not p[3] for p in pairs])
    print(
        f"{len(pairs)} held-out (answer, refusal) pairs: {int(demo.sum())} demo look-alikes, {int((~demo).sum())} "
        "AlpacaEval"
    )
    for path in args.reward_models.split(","):
        model, pc = load_score_model(REPO / path)
        answer = score_texts(model, pc, [p[0] for p in pairs], [p[1] for p in pairs], batch_size=16)
        refusal = score_texts(model, pc, [p[0] for p in pairs], [p[2] for p in pairs], batch_size=16)
        win = (answer > refusal).float()
        print(
            f"{path}: answer > refusal {win.mean():.1%} (demo {win[demo].mean():.1%}, AlpacaEval "
            f"{win[~demo].mean():.1%}); "
            f"mean score answer {answer.mean():+.2f}, refusal {refusal.mean():+.2f}, gap "
            f"{(answer - refusal).mean():+.2f}"
        )


if __name__ == "__main__":
    main()
