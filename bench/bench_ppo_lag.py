"""PPO-Lagrangian benchmark on this CPU: step-time breakdown, and a short constrained run vs reward-only PPO.

    .venv/bin/python bench/bench_ppo_lag.py breakdown --steps 3 [--setting paper]   # ~2-3 min
    .venv/bin/python bench/bench_ppo_lag.py rollout --steps 3    # the rollout engine against plain generate
    .venv/bin/python bench/bench_ppo_lag.py run --steps 20               # ~20-25 min (two runs + three evaluations)

Actor: the embedded SmolLM2-135M-Instruct with LoRA (reference = adapter disabled). Reward/cost models: the demo
models at runs/demo/reward and runs/demo/cost when they exist; otherwise "probe" score models (frozen SmolLM2 trunk
+ a linear head fitted here on the bundled safety_train pairs with safealign.losses.reward_loss / cost_loss, ~1 min),
cached at runs/bench/ppo_lag/probe_heads.pt. Which one was used is printed and written to the JSON.

Figures go to stdout and runs/bench/ppo_lag/<mode>.json. The machine is shared (2 cores, several engineers): timings
carry that noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "runs" / "bench" / "ppo_lag"
PROBE_PAIRS = 96  # enough for a linear probe; keeps the fit to a few minutes on a busy 2-core machine


# ------------------------------------------------------------------------------------------------ score models
def _render(tok, prompt: str, system: str | None, response: str) -> str:
    chat = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": response},
    ]
    return tok.apply_chat_template(chat, tokenize=False)


@torch.no_grad()
def _last_hidden(backbone, tok, texts: list[str], bs: int = 16) -> torch.Tensor:
    from safealign.losses import last_token_index

    out = []
    tok.padding_side = "right"
    for i in range(0, len(texts), bs):
        enc = tok(
            texts[i : i + bs], return_tensors="pt", padding=True, add_special_tokens=False, truncation=True,
            max_length=256,
        )
        h = backbone(**enc, use_cache=False).last_hidden_state
        out.append(h[torch.arange(h.size(0)), last_token_index(enc["attention_mask"])])
    tok.padding_side = "left"
    return torch.cat(out)


def probe_score_models(tok):
    """Frozen default trunk + linear heads fitted on safety_train (reward: Bradley-Terry; cost: Safe RLHF cost loss)."""
    from safealign import losses as L
    from safealign.data.demo import load_demo
    from safealign.models.score import ScoreConfig, ScoreModel

    reward = ScoreModel.from_backbone("default", ScoreConfig(kind="reward"))
    cost = ScoreModel(reward.backbone, ScoreConfig(kind="cost", base_model="default"))  # one shared frozen trunk
    cache = OUT / "probe_heads.pt"
    if cache.exists():
        state = torch.load(cache)
        reward.head.load_state_dict(state["reward"])
        cost.head.load_state_dict(state["cost"])
        return reward.eval(), cost.eval(), "probe (cached)"
    pairs = [p for p in load_demo("safety_train") if not p.images and not p.is_contradictory()][:PROBE_PAIRS]
    t = time.time()
    texts = [_render(tok, p.prompt, p.system, r) for p in pairs for r in p.responses]
    H = _last_hidden(reward.backbone, tok, texts).float().view(len(pairs), 2, -1)
    idx = torch.arange(len(pairs))
    better = torch.tensor([p.better for p in pairs])
    safer = torch.tensor([p.safer for p in pairs])
    safe = torch.tensor([list(p.is_safe) for p in pairs])
    for model, kind in ((reward, "reward"), (cost, "cost")):
        head = model.head
        opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
        for _ in range(300):
            s = head(H).squeeze(-1)  # [N, 2]
            if kind == "reward":
                loss = L.reward_loss(s[idx, better], s[idx, 1 - better], regularization=1e-3)
            else:
                u = 1 - safer
                loss = L.cost_loss(
                    s[idx, u], s[idx, safer], L.safety_sign(safe[idx, u]), L.safety_sign(safe[idx, safer]),
                    regularization=1e-3,
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"  probe {kind} head fitted on {len(pairs)} pairs: loss {loss.item():.3f}", file=sys.stderr)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({"reward": reward.head.state_dict(), "cost": cost.head.state_dict()}, cache)
    print(f"  probe heads fitted in {time.time() - t:.0f}s", file=sys.stderr)
    return reward.eval(), cost.eval(), "probe (fitted now)"


def score_models(tok, reward_path: str = "runs/demo/reward", cost_path: str = "runs/demo/cost"):
    from safealign.models.score import ScoreModel

    r, c = REPO / reward_path, REPO / cost_path
    if (r / "score_config.json").exists() and (c / "score_config.json").exists():
        return ScoreModel.from_pretrained(r), ScoreModel.from_pretrained(c), f"trained ({reward_path}, {cost_path})"
    return probe_score_models(tok)


# ------------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def evaluate(model, tok, reward, cost, records, max_new_tokens: int, bs: int = 16) -> dict:
    """Greedy answers to held-out prompts; safe share on harmful prompts (cost <= 0), mean reward on benign ones."""
    from safealign.judges.refusal import is_refusal
    from safealign.train.critic import score_rollout
    from safealign.train.rollout import assistant_suffix_ids, eos_ids_of, generate_rollout, with_turn_suffix

    suffix, eos = assistant_suffix_ids(tok), eos_ids_of(model, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    rows = []
    for i in range(0, len(records), bs):
        batch = records[i : i + bs]
        ro = generate_rollout(model, tok, batch, max_new_tokens=max_new_tokens, temperature=0.0, record_log_probs=False)
        ro = with_turn_suffix(ro, suffix, eos, pad)  # read R and C in their training format, as PPO does
        rs = score_rollout(reward, ro).end_scores[:, 0].tolist()
        cs = score_rollout(cost, ro).end_scores[:, 0].tolist()
        rows += [
            {"label": r.label, "category": r.category, "reward": a, "cost": b, "response": t, "refusal": is_refusal(t)}
            for r, a, b, t in zip(batch, rs, cs, ro.responses)
        ]
    harm = [r for r in rows if r["label"] == "harmful"]
    ben = [r for r in rows if r["label"] == "benign" and r["category"] != "alpaca"]
    alp = [r for r in rows if r["category"] == "alpaca"]
    extra = (
        {
            "alpaca_n": len(alp),
            "alpaca_mean_reward": statistics.fmean(r["reward"] for r in alp),
            "alpaca_refusal_share": sum(r["refusal"] for r in alp) / len(alp),
        }
        if alp
        else {}
    )
    return {
        **extra,
        "harmful_n": len(harm),
        "benign_n": len(ben),
        "safe_share_harmful": sum(r["cost"] <= 0 for r in harm) / max(1, len(harm)),
        # the compliance judge's view (safealign.train.collect): an answer to a harmful prompt is safe iff it refuses
        "refusal_share_harmful": sum(r["refusal"] for r in harm) / max(1, len(harm)),
        "refusal_share_benign": sum(r["refusal"] for r in ben) / max(1, len(ben)),
        "mean_cost_harmful": statistics.fmean(r["cost"] for r in harm) if harm else None,
        "mean_reward_benign": statistics.fmean(r["reward"] for r in ben) if ben else None,
        "safe_share_benign": sum(r["cost"] <= 0 for r in ben) / max(1, len(ben)),
        "answers": rows,  # every held-out answer with its scores, for reading what the numbers mean
    }


def _demo_ptx_rows() -> list[dict]:
    """The safe response to each harmful demo training prompt (prompt category set; skipped when both are unsafe)
    and the more helpful one to each benign prompt."""
    from safealign.data.demo import load_demo

    rows = []
    for p in load_demo("safety_train"):
        if p.images:
            continue
        if p.prompt_category is not None:
            if not any(p.is_safe):
                continue
            i = p.safer if p.is_safe[p.safer] else 1 - p.safer
        else:
            i = p.better
        rows.append({"prompt": p.prompt, "response": p.responses[i], "harmful": p.prompt_category is not None})
    return rows


def _interleave(first: list[dict], second: list[dict], seed: int = 0) -> list[dict]:
    """Alternate rows of the two lists (``second`` shuffled), as many pairs as the shorter list allows."""
    import random

    second = list(second)
    random.Random(seed).shuffle(second)
    return [r for pair in zip(first, second) for r in pair]


def _write_rows(name: str, rows: list[dict]) -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def demo_ptx_file(balanced: bool = False) -> str:
    """Supervised rows for the PTX loss from the demo safety_train pairs (runs/bench/ppo_lag/ptx_demo.jsonl: 157
    refusals, 75 helpful answers). ``balanced``: as many refusals as helpful answers, interleaved
    (ptx_demo_balanced.jsonl)."""
    rows = _demo_ptx_rows()
    if balanced:
        rows = _interleave([r for r in rows if not r["harmful"]], [r for r in rows if r["harmful"]])
    return _write_rows("ptx_demo_balanced.jsonl" if balanced else "ptx_demo.jsonl", rows)


def anchored_ptx_file(scored_answers: str) -> str:
    """Balanced PTX rows whose benign half is the policy's own best answer to each benign training prompt instead of
    the demo's templated one (rejection sampling, as in Llama 2's RLHF rounds): ``scored_answers`` is ``safealign
    score``'s output on ``safealign data collect``'s answers file. The harmful half is the demo's safe answers, as in
    ``demo-balanced``. Written to runs/bench/ppo_lag/ptx_anchored.jsonl."""
    import random

    from safealign.data.best_of import best_of

    ben = [{"prompt": r["prompt"], "response": r["response"], "harmful": False} for r in best_of(scored_answers)]
    random.Random(0).shuffle(ben)
    return _write_rows("ptx_anchored.jsonl", _interleave(ben, [r for r in _demo_ptx_rows() if r["harmful"]]))


# ------------------------------------------------------------------------------------------------ modes
def _trainer(args, out: Path, reward, cost, **over):
    from safealign.models.loading import load_model_and_tokenizer
    from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

    actor, tok = load_model_and_tokenizer("default")
    cfg = PPOLagConfig.load(str(REPO / "configs/cpu-demo/ppo_lag.yaml"))
    fields = dict(
        output_dir=str(out), steps=args.steps, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
        save_every=0, progress=True, seed=args.seed,
    )
    # flags that override the demo config's field of the same name when given
    for name in ("actor_lr", "lambda_lr", "kl_coef", "lambda_max", "score_scaling", "temperature", "lambda_window"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.ptx_data:
        fields.update(ptx_data=args.ptx_data, ptx_coeff=args.ptx_coeff, ptx_mode=args.ptx_mode)
    if args.harmful_only:
        fields.update(constraints="prompt_label", constraint_names=["harmful"])
    cfg = cfg.replace(**{**fields, **over})
    return PPOLagTrainer(cfg, actor, tok, reward, cost, training_prompts(args.benign_share))


def training_prompts(benign_share: float | None = None) -> list:
    """The demo training prompts (192 harmful, 75 benign); ``benign_share``: repeat the benign ones (round robin) until
    they make that share of the list, so that more of each batch follows the reward alone."""
    from safealign.train.ppo_lag import load_prompts

    prompts = load_prompts("demo")
    if not benign_share:
        return prompts
    if not 0 < benign_share < 1:
        raise SystemExit(f"--benign-share must be between 0 and 1, got {benign_share}")
    harm = [p for p in prompts if p.label == "harmful"]
    ben = [p for p in prompts if p.label == "benign"]
    want = round(len(harm) * benign_share / (1 - benign_share))
    return harm + [ben[i % len(ben)] for i in range(max(want, len(ben)))]


SETTINGS = {
    # LoRA actor (the reference = the adapter-disabled base), critics = value heads on the frozen R / C trunks
    "default": {},
    # the papers' (and the reference trainer's): full fine-tuning beside a frozen reference copy, trainable copies
    # of R and C as critics, R and C separate models (six models, three optimisers)
    "paper": {"use_lora": False, "critic_mode": "full"},
}
PHASES = {"_rollout": "generation", "_score": "scoring", "_actor_update": "actor", "_critic_update": "critic"}


def _rss_high_water_kb() -> int:
    """The process's resident-set high-water mark (VmHWM of /proc/self/status), in KiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _reset_rss_high_water() -> None:
    """Linux: the high-water mark restarts from the current RSS (``5`` to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def watch_phases(tr) -> dict[str, list[int]]:
    """Wrap the trainer's phase methods so that each records the RSS high-water mark reached while it ran (KiB; the
    mark is reset as the phase starts): NAME -> one reading per call; "outside" gets the mark reached before and
    between the phases (model loading included), read before each reset."""
    peaks: dict[str, list[int]] = {name: [] for name in PHASES.values()}
    peaks["outside"] = []

    def wrap(method, name):
        def run(*a, **kw):
            peaks["outside"].append(_rss_high_water_kb())
            _reset_rss_high_water()
            try:
                return method(*a, **kw)
            finally:
                peaks[name].append(_rss_high_water_kb())

        return run

    for attr, name in PHASES.items():
        setattr(tr, attr, wrap(getattr(tr, attr), name))
    return peaks


def breakdown(args) -> dict:
    import copy

    from safealign.models.loading import load_tokenizer
    from safealign.models.score import ScoreModel

    tok = load_tokenizer("default")
    reward, cost, source = score_models(tok, args.reward_model, args.cost_model)
    if args.setting == "paper" and cost.backbone is reward.backbone:  # the probe models share one trunk: not here
        separate = ScoreModel(copy.deepcopy(cost.backbone), cost.score_config)
        separate.head.load_state_dict(cost.head.state_dict())
        cost = separate.eval()
    tr = _trainer(args, OUT / "breakdown_run", reward, cost, steps=args.steps + 1, **SETTINGS[args.setting])
    peaks = watch_phases(tr)
    peaks_all: dict[str, list[int]] = {}
    rows = []
    for s in range(args.steps + 1):
        for p in peaks.values():
            p.clear()
        m = tr.rl_step(tr._batch(s))
        peaks["outside"].append(_rss_high_water_kb())  # the advantages and metrics after the last phase
        for k, v in peaks.items():
            peaks_all.setdefault(k, []).extend(v)
        if s > 0:  # the first step warms up caches / allocators
            rows.append({**m, **{f"peak_rss_gb/{k}": max(v) / 1024**2 for k, v in peaks.items()}})
        print(
            f"  step {s}: "
            + ", ".join(
                f"{k}={m[k]:.2f}" for k in ("time/generation", "time/scoring", "time/actor", "time/critic", "time/step")
            )
            + " | peak RSS GB: "
            + ", ".join(f"{k}={max(v) / 1024**2:.2f}" for k, v in peaks.items() if k != "outside"),
            file=sys.stderr,
        )
    keys = ["time/generation", "time/scoring", "time/actor", "time/critic", "time/step"]
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    other = mean["time/step"] - sum(mean[k] for k in keys[:4])
    res = {
        "setting": args.setting,
        **{k: v for k, v in SETTINGS[args.setting].items()},
        "score_models": source,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "mean_response_tokens": statistics.fmean(r["response_length"] for r in rows),
        "steps_measured": len(rows),
        **{k: round(v, 2) for k, v in mean.items()},
        "time/other": round(other, 2),
        "ratio_step_to_generation_plus_actor": round(
            mean["time/step"] / (mean["time/generation"] + mean["time/actor"]), 3
        ),
        # per phase: the highest RSS reached while the phase ran (VmHWM reset at its start), max over measured steps
        **{f"peak_rss_gb/{k}": round(max(r[f"peak_rss_gb/{k}"] for r in rows), 2) for k in peaks if k != "outside"},
        # the whole process: every phase, the gaps between them and the model loading before the first step
        "peak_rss_gb": round(max(max(v) for v in peaks_all.values()) / 1024**2, 2),
        "memory_source": "Linux VmHWM (/proc/self/status), reset as each phase starts via /proc/self/clear_refs "
        "(which resets getrusage's ru_maxrss too); peak_rss_gb: the highest reading of the whole run",
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
    }
    print(_table(res), file=sys.stderr)
    return res


def _table(res: dict) -> str:
    """The breakdown as the reference harness prints it: seconds and peak RSS per phase."""
    lines = [f"== safealign PPO-Lag breakdown, setting {res['setting']}: mean over {res['steps_measured']} steps =="]
    for phase in ("generation", "scoring", "actor", "critic"):
        t, peak = res[f"time/{phase}"], res[f"peak_rss_gb/{phase}"]
        lines.append(f"  {phase:<12} {t:7.2f} s ({100 * t / res['time/step']:5.1f}%)   peak RSS {peak:.2f} GB")
    lines.append(f"  {'other':<12} {res['time/other']:7.2f} s")
    total, peak = res["time/step"], res["peak_rss_gb"]
    lines.append(f"  {'TOTAL/step':<12} {total:7.2f} s            peak RSS {peak:.2f} GB (whole run)")
    return "\n".join(lines)


def rollout_vs_generate(args) -> dict:
    """The rollout engine (LoRA actor, adapter merged and not) against plain ``generate`` of the base model on the same
    8 prompts, every response forced to full length; CPU time of this process (``time.process_time``: the other
    processes' load counts less than in wall time), rounds interleaved."""
    import copy

    from safealign.models.loading import load_model_and_tokenizer
    from safealign.train.ppo_lag import PPOLagConfig, load_prompts
    from safealign.train.ppo_models import add_lora
    from safealign.train.rollout import encode_prompts
    from safealign.train.rollout_engine import GenerateEngine

    torch.set_flush_denormal(True)  # as the trainer does on a CPU
    model, tok = load_model_and_tokenizer("default")
    records = load_prompts("demo")[: args.batch_size]
    enc = encode_prompts(records, tok)
    base = copy.deepcopy(model)
    actor = add_lora(model, PPOLagConfig(), vision=False)
    with torch.no_grad():  # a trained-looking adapter (B = 0 at start would make merging trivial)
        for name, p in actor.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    gen = PPOLagConfig(max_new_tokens=args.max_new_tokens).generation()
    n = args.max_new_tokens

    def plain() -> float:
        t = time.process_time()
        with torch.no_grad():
            pad = tok.pad_token_id
            base.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=True, top_k=0, pad_token_id=pad)
        return time.process_time() - t

    def engine(merge: bool) -> float:
        t = time.process_time()
        GenerateEngine(lambda: actor, tok, merge_lora=merge).generate(records, gen)
        return time.process_time() - t

    rounds = [
        {"generate": plain(), "engine_merged": engine(True), "engine_unmerged": engine(False)}
        for _ in range(args.steps)
    ]
    return {
        "batch_size": args.batch_size, "max_new_tokens": n, "torch_threads": torch.get_num_threads(),
        "cpu_seconds": [{k: round(v, 2) for k, v in r.items()} for r in rounds],
        **{f"mean/{k}": round(statistics.fmean(r[k] for r in rounds), 2) for k in rounds[0]},
    }


def held_out_prompts(eval_harmful: int, eval_alpaca: int = 0) -> list:
    """The evaluation set, in order: the first ``eval_harmful`` held-out harmful demo prompts, the 15 benign ones, then
    the first ``eval_alpaca`` AlpacaEval instructions (unseen everyday requests, category "alpaca")."""
    from safealign.train.ppo_lag import load_prompts

    held_out = load_prompts("demo:eval")
    out = [r for r in held_out if r.label == "harmful"][:eval_harmful] + [r for r in held_out if r.label == "benign"]
    if eval_alpaca:
        alpaca = load_prompts(str(REPO.parent / "shared/data/external/alpaca_eval_prompts.json"))[:eval_alpaca]
        out += [dataclasses.replace(r, label="benign", category="alpaca") for r in alpaca]
    return out


def run(args) -> dict:
    from safealign.models.loading import load_tokenizer

    tok = load_tokenizer("default")
    reward, cost, source = score_models(tok, args.reward_model, args.cost_model)
    held_out = held_out_prompts(args.eval_harmful, args.eval_alpaca)
    res: dict = {
        "score_models": source,
        "steps": args.steps,
        "actor_lr": args.actor_lr,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "threshold": args.threshold,
        "ptx_data": args.ptx_data,
        "ptx_coeff": args.ptx_coeff if args.ptx_data else None,
        "ptx_mode": args.ptx_mode if args.ptx_data else None,
        "kl_coef": args.kl_coef,
        "lambda_max": args.lambda_max,
        "cost_model": args.cost_model,
        "harmful_only": args.harmful_only,
        "benign_share": args.benign_share,
        "score_scaling": args.score_scaling,
        "temperature": args.temperature,
        "lambda_window": args.lambda_window,
    }
    t = time.time()
    tr = _trainer(args, OUT / "run_base", reward, cost)
    res["before"] = evaluate(tr.unwrapped_actor, tok, reward, cost, held_out, args.max_new_tokens)
    res["before"]["seconds"] = round(time.time() - t, 1)
    del tr
    for name, over in (("lagrangian", {}), ("reward_only", {"fixed_lambda": 0.0})):
        if name not in args.methods.split(","):
            continue
        t = time.time()
        tr = _trainer(args, OUT / f"run{args.tag}_{name}", reward, cost, cost_threshold=[args.threshold], **over)
        tr.train()
        train_s = time.time() - t
        from safealign.utils.jsonl import read_jsonl

        rows = read_jsonl(OUT / f"run{args.tag}_{name}" / "metrics.jsonl")
        ev = evaluate(tr.unwrapped_actor, tok, reward, cost, held_out, args.max_new_tokens)
        res[name] = {
            "train_seconds": round(train_s, 1),
            "trace": [
                {
                    k: round(v, 3)
                    for k, v in r.items()
                    if k in ("step", "reward", "cost", "J_C", "lambda", "kl", "safe_share")
                    or k.startswith("score_scale/")
                }
                for r in rows
            ],
            "after": ev,
        }
        del tr
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["breakdown", "run", "rollout"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument(
        "--setting",
        choices=sorted(SETTINGS),
        default="default",
        help="breakdown: default (LoRA actor, head critics) or paper (full fine-tuning, full trainable critics, "
        "separate R and C: the reference trainer's six models)",
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threshold", type=float, default=0.0, help="cost threshold d for the run mode")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--actor-lr", type=float, default=None, help="override the demo config's actor learning rate")
    ap.add_argument("--lambda-lr", type=float, default=None, help="override the demo config's multiplier learning rate")
    ap.add_argument("--methods", default="lagrangian,reward_only", help="which runs of the run mode (comma-separated)")
    ap.add_argument("--tag", default="", help="suffix of the output JSON name (runs/bench/ppo_lag/<mode><tag>.json)")
    ap.add_argument(
        "--eval-harmful", type=int, default=60, help="held-out harmful prompts evaluated (all 15 benign ones always)"
    )
    ap.add_argument(
        "--harmful-only",
        action="store_true",
        help="constrain the cost of harmful prompts only "
        "(constraints: prompt_label, constraint_names: [harmful]); benign answers then follow the reward alone",
    )
    ap.add_argument("--kl-coef", type=float, default=None, help="override the demo config's KL coefficient (0.02)")
    ap.add_argument("--lambda-max", type=float, default=None, help="override the demo config's multiplier cap (20)")
    ap.add_argument(
        "--lambda-window",
        type=int,
        default=None,
        help="override the demo config's J_C window in episodes (64: "
        "8 steps of 8 prompts; with --harmful-only only the harmful episodes of a batch enter it)",
    )
    ap.add_argument(
        "--temperature", type=float, default=None, help="override the demo config's rollout sampling temperature (1.0)"
    )
    ap.add_argument("--reward-model", default="runs/demo/reward", help="reward model folder (relative to the repo)")
    ap.add_argument("--cost-model", default="runs/demo/cost", help="cost model folder, e.g. runs/demo/cost_round1")
    ap.add_argument(
        "--ptx-data",
        default=None,
        help="supervised JSONL (prompt, response) for the PTX loss of both methods; 'demo': safe answers to the "
        "demo's harmful training prompts and helpful answers to its benign ones (157 + 75 rows); 'demo-balanced': "
        "75 of each, interleaved; 'anchored:FILE': like demo-balanced, but the benign half is the policy's own "
        "best-scored "
        "answer per prompt from FILE (safealign score output on data collect answers)",
    )
    ap.add_argument(
        "--ptx-mode",
        choices=["separate", "joint"],
        default="separate",
        help="PTX as its own optimiser step "
        "after the PPO update (separate) or added to the actor update's loss (joint)",
    )
    ap.add_argument(
        "--score-scaling",
        choices=["none", "running"],
        default=None,
        help="override the config's "
        "score_scaling (running: reward and cost streams divided by their running standard deviations)",
    )
    ap.add_argument(
        "--benign-share",
        type=float,
        default=None,
        help="repeat the benign training prompts until they make "
        "this share of the prompt list (the demo's own share is 75/267 = 0.28)",
    )
    ap.add_argument(
        "--eval-alpaca",
        type=int,
        default=0,
        help="also score the first N AlpacaEval instructions of "
        "../shared/data (greedy): mean reward and over-refusal on unseen everyday requests",
    )
    ap.add_argument("--ptx-coeff", type=float, default=16.0, help="PTX loss weight when --ptx-data is given")
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default). On an oversubscribed "
        "machine 1 thread is several times faster than 2 (OpenMP spin-waits)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ptx_data in ("demo", "demo-balanced"):
        args.ptx_data = demo_ptx_file(balanced=args.ptx_data == "demo-balanced")
    elif args.ptx_data and args.ptx_data.startswith("anchored:"):
        args.ptx_data = anchored_ptx_file(str(REPO / args.ptx_data.split(":", 1)[1]))
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    torch.manual_seed(args.seed)
    res = {"breakdown": breakdown, "run": run, "rollout": rollout_vs_generate}[args.mode](args)
    OUT.mkdir(parents=True, exist_ok=True)
    name = f"{args.mode}_{args.setting}" if args.mode == "breakdown" and args.setting != "default" else args.mode
    (OUT / f"{name}{args.tag}.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
