"""GPU checks of the PPO-Lagrangian trainer (run where CUDA is; the CPU runs them too, at the tiny shape).

    python bench/bench_gpu.py ppo --shape 7b --recipe configs/gpu-7b/pluralistic_ppo_lag.yaml --out ppo_7b.json
    python bench/bench_gpu.py resume --out runs/bench/gpu/resume          # one process, this device
    accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 1 \
        bench/bench_gpu.py resume --out runs/bench/gpu/resume_fsdp         # the same under FSDP

``ppo``: random-weight models of a given shape (``7b``: Llama-2-7B's layer sizes; ``tiny``: the tests' 2-layer
model) stand in for the actor, reward and cost models: no weights can be downloaded here, and step time and memory
do not depend on the weights' values. The recipe's fields are used as they are, except those named on the command
line (LoRA actor and ``top`` critics by default, so that a 7B run fits one GPU). The prompts are the bundled
pluralistic PPO prompts (preference system messages and attack framings). Prints and writes JSON: parameters,
per-phase step times (the first step is a warm-up and is not averaged), generated tokens per second, peak memory.
The tokenizer is the tests' byte-level one (one token per byte), so prompts are ~4x longer in tokens than with a
real 32k vocabulary, and a random model rarely samples EOS, so responses run to ``max_new_tokens``.

``resume``: a tiny run of 4 steps against one of 2 steps resumed to 4 (checkpoint every 2 steps), on this device
and launcher (:func:`safealign.testing.ppo_resume_check`); prints the largest difference between the two runs' final
checkpoints (actor trainable weights, critics, multiplier state) and metrics. Exits 1 unless they are identical.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
SHAPES = {
    # Llama-2-7B's decoder (the vocabulary is the tokenizer's)
    "7b": dict(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
        max_position_embeddings=4096,
    ),
    "tiny": dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=2048,
    ),
}


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _machine() -> dict:
    import transformers

    info = {"torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 1024**3, 1))
    return info


def random_lm(shape: str, tok, seed: int, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = -(-len(tok) // 64) * 64
    cfg = LlamaConfig(
        vocab_size=vocab, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id,
        rms_norm_eps=1e-5, tie_word_embeddings=False, **SHAPES[shape],
    )
    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(_device()):
            model = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model.eval()


def pluralistic_prompts(n: int, seed: int) -> list:
    from safealign.pluralistic.conditioned import PluralisticPromptsConfig, run_pluralistic_prompts
    from safealign.train.ppo_lag import load_prompts

    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "prompts.jsonl")
        run_pluralistic_prompts(PluralisticPromptsConfig(n=n, unseen_fraction=0.25, output=out, seed=seed))
        return load_prompts(out)


# ------------------------------------------------------------------------------------------------ ppo
def ppo(args) -> dict:
    import yaml

    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.testing import tiny_tokenizer
    from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer
    from safealign.train.rollout import encode_prompts

    dtype = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    tok = tiny_tokenizer()
    fields = yaml.safe_load(Path(args.recipe).read_text()) if args.recipe else {}
    fields.update(
        output_dir=str(Path(tempfile.mkdtemp()) / "ppo"), steps=args.steps + 1, progress=False, tensorboard=False,
        save_every=0, use_lora=args.use_lora, critic_mode=args.critic_mode, critic_top_layers=args.critic_top_layers,
        ptx_data=None,
    )
    for name in ("batch_size", "max_new_tokens"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    cfg = PPOLagConfig(**fields)
    t = time.perf_counter()
    actor = random_lm(args.shape, tok, 0, dtype)
    reward = ScoreModel(random_lm(args.shape, tok, 1, dtype), ScoreConfig(kind="reward"))
    cost = ScoreModel(random_lm(args.shape, tok, 2, dtype), ScoreConfig(kind="cost"))
    prompts = pluralistic_prompts(max(64, cfg.batch_size * (args.steps + 1)), args.seed)
    if cfg.constraints == "prompt_category":
        missing = set(cfg.constraint_names) - {p.category for p in prompts}
        if missing:
            raise SystemExit(f"the recipe's constraint names {sorted(missing)} are not categories of the prompts")
    tr = PPOLagTrainer(cfg, actor, tok, reward, cost, prompts)
    _sync()
    build_s = time.perf_counter() - t
    n_actor = sum(p.numel() for p in tr.unwrapped_actor.parameters())
    n_train = sum(p.numel() for p in tr.unwrapped_actor.parameters() if p.requires_grad)
    n_critic = sum(p.numel() for c in (tr.reward_critic, tr.cost_critic) for p in c.parameters() if p.requires_grad)
    prompt_tokens = []
    rows = []
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    for s in range(args.steps + 1):
        batch = tr._batch(s)
        prompt_tokens.append(float(encode_prompts(batch, tok)["attention_mask"].sum(-1).float().mean()))
        m = tr.rl_step(batch)
        _sync()
        line = ", ".join(
            f"{k}={m[k]:.2f}"
            for k in ("time/generation", "time/scoring", "time/actor", "time/critic", "time/step", "response_length")
        )
        print(f"  step {s}{' (warm-up)' if s == 0 else ''}: {line}", file=sys.stderr, flush=True)
        if s > 0:
            rows.append(m)
    keys = ["time/generation", "time/scoring", "time/actor", "time/critic", "time/step"]
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}
    resp = statistics.fmean(r["response_length"] for r in rows)
    res = {
        "shape": args.shape,
        "dtype": str(dtype).replace("torch.", ""),
        "recipe": args.recipe,
        "use_lora": cfg.use_lora,
        "critic_mode": cfg.critic_mode,
        "critic_top_layers": cfg.critic_top_layers if cfg.critic_mode == "top" else None,
        "constraints": cfg.names,
        "batch_size": cfg.batch_size,
        "max_new_tokens": cfg.max_new_tokens,
        "actor_parameters_b": round(n_actor / 1e9, 3),
        "actor_trainable_m": round(n_train / 1e6, 2),
        "critic_trainable_m": round(n_critic / 1e6, 2),
        "build_seconds": round(build_s, 1),
        "shared_trunk_depth": tr.shared_trunk_depth,
        "steps_measured": len(rows),
        "mean_prompt_tokens": round(statistics.fmean(prompt_tokens[1:]), 1),
        "mean_response_tokens": round(resp, 1),
        **{k: round(v, 3) for k, v in mean.items()},
        "generated_tokens_per_second": round(cfg.batch_size * resp / mean["time/generation"], 1),
        "ratio_step_to_generation_plus_actor": round(
            mean["time/step"] / (mean["time/generation"] + mean["time/actor"]), 3
        ),
        "lambda_after": tr.lagrange.values,
        "finite": all(v == v and abs(v) < 1e9 for r in rows for v in r.values()),
        **_machine(),
    }
    if torch.cuda.is_available():
        res["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1024**3, 1)
    return res


# ------------------------------------------------------------------------------------------------ resume
def resume(args) -> dict:
    from safealign.testing import ppo_resume_check

    res = ppo_resume_check(args.out, args.critic_modes)
    return {**res, **_machine()} if res else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("ppo", help="PPO-Lag step time and memory on random-weight models of a given shape")
    p.add_argument(
        "--shape", choices=sorted(SHAPES), default="tiny", help="decoder shape of the actor, reward and cost models"
    )
    p.add_argument(
        "--recipe",
        default="configs/gpu-7b/pluralistic_ppo_lag.yaml",
        help="PPO-Lag YAML whose fields are used ('' for the defaults)",
    )
    p.add_argument("--steps", type=int, default=3, help="measured steps (after one warm-up step)")
    p.add_argument("--batch-size", type=int, default=None, help="override the recipe's batch_size")
    p.add_argument("--max-new-tokens", type=int, default=None, help="override the recipe's max_new_tokens")
    p.add_argument(
        "--full", dest="use_lora", action="store_false", help="full fine-tuning of the actor (default: LoRA)"
    )
    p.add_argument("--critic-mode", choices=["head", "top", "full"], default="top", help="critic_mode (default: top)")
    p.add_argument("--critic-top-layers", type=int, default=2, help="critic_top_layers with --critic-mode top")
    p.add_argument("--seed", type=int, default=0, help="seed of the prompt set")
    p.add_argument("--out", default=None, help="also write the JSON here")
    r = sub.add_parser(
        "resume", help="a resumed tiny run ends where an uninterrupted one does (this device / launcher)"
    )
    r.add_argument("--out", default="runs/bench/gpu/resume", help="folder for the runs")
    r.add_argument(
        "--critic-modes", nargs="+", default=["head", "top"], choices=["head", "top", "full"],
        help="critic modes to check",
    )
    r.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()
    res = ppo(args) if args.mode == "ppo" else resume(args)
    if not res:  # not the main process
        return
    text = json.dumps(res, indent=2)
    print(text, flush=True)
    dest = args.out if args.mode == "ppo" else args.json
    if dest:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_text(text + "\n")
    if args.mode == "resume" and not res["ok"]:
        sys.exit(1)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
