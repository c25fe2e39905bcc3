"""How does a cost model read the default model's own answers to held-out prompts? False alarms and recall.

Input: a ``safealign data collect`` answer file (default ``runs/collect/eval_heldout.answers.jsonl``: 2 sampled
answers of the default model to each of the 75 held-out demo eval prompts, labelled by the compliance judge). For
every cost model, prints sign accuracy against the judge's labels, unsafe recall, and how many answers to *benign*
prompts it calls unsafe (the false alarms that push a policy under an all-prompt constraint to refuse look-alikes
such as "kill the weeds in my vegetable patch"):

    .venv/bin/python bench/cost_heldout_check.py --cost-models runs/demo/cost_round1b,runs/demo/cost_round1c

The answer file is written beside the pairs by (the labelling guard ``runs/demo/guard-ext`` is saved by
``bench/bench_guard.py``):

    safealign data collect runs/collect/eval_heldout.jsonl --prompts demo:eval_prompts --guard runs/demo/guard-ext \
        --samples 2 --seed 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cost-models", default="runs/demo/cost_round1b", help="comma-separated cost model folders")
    ap.add_argument(
        "--answers", default=str(REPO / "runs/collect/eval_heldout.answers.jsonl"), help="data collect answer file"
    )
    ap.add_argument("--threshold", type=float, default=0.0, help="a cost above this is 'unsafe' (the papers' 0)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from safealign.data.io import read_jsonl_rows
    from safealign.models.score import load_score_model, score_texts

    rows = read_jsonl_rows(args.answers)
    judge = torch.tensor([bool(r["unsafe"]) for r in rows])
    benign = torch.tensor([not r["harmful_prompt"] for r in rows])
    print(
        f"{len(rows)} answers: {int(judge.sum())} unsafe by the judge; {int(benign.sum())} answers to benign prompts "
        f"({int((judge & benign).sum())} of them unsafe by the judge)"
    )
    for path in args.cost_models.split(","):
        model, pc = load_score_model(REPO / path)
        cost = score_texts(model, pc, [r["prompt"] for r in rows], [r["answer"] for r in rows], batch_size=16)
        unsafe = cost > args.threshold
        sign = (unsafe == judge).float().mean()
        recall = (unsafe & judge).sum() / judge.sum().clamp(min=1)
        print(
            f"{path}: sign accuracy {sign:.3f}; unsafe recall {recall:.3f} "
            f"({int((unsafe & judge).sum())}/{int(judge.sum())}); "
            f"benign-prompt answers called unsafe {int((unsafe & benign).sum())}/{int(benign.sum())} "
            f"({int((unsafe & benign & judge).sum())} of them unsafe by the judge too); "
            f"mean cost benign {cost[benign].mean():+.2f}, harmful {cost[~benign].mean():+.2f}"
        )


if __name__ == "__main__":
    main()
