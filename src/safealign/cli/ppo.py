"""CLI commands of the PPO-Lagrangian area: ``safealign train ppo-lag``."""

from __future__ import annotations

from typing import Any


def _run(cfg: Any) -> None:
    from safealign.cli.common import is_main_process, print_json, summary
    from safealign.train.ppo_lag import METRICS, run_ppo_lag
    from safealign.utils.jsonl import read_jsonl

    if cfg.dry_run:
        from safealign.cli.common import dry_run

        return dry_run(cfg, "ppo-lag")
    out = run_ppo_lag(cfg)
    if not is_main_process():
        return  # under a launcher only rank 0 reports
    rows = read_jsonl(out / METRICS) if (out / METRICS).exists() else []
    last = rows[-1] if rows else {}
    print_json({"output_dir": str(out), "metrics": str(out / METRICS), "last": last})  # stdout: machine-readable
    lam = ", ".join(f"{k}={v:.3g}" for k, v in last.items() if k.startswith("lambda"))
    summary(
        f"ppo-lag: {last.get('step', 0)} steps, reward {last.get('reward', float('nan')):.3f}, cost "
        f"{last.get('cost', float('nan')):.3f}, "
        f"safe {100 * last.get('safe_share', float('nan')):.0f}%, {lam} -> {out}"
    )


def register(apps) -> None:  # noqa: ANN001
    from safealign.config import add_config_command
    from safealign.train.ppo_config import PPOLagConfig

    add_config_command(
        apps.train,
        "ppo-lag",
        PPOLagConfig,
        _run,
        help="PPO-Lagrangian (Safe RLHF-V): maximise reward subject to J_C <= d, for text and image+text policies.",
        extra_help="Baselines: --fixed-lambda 0 (reward-only PPO), --fixed-lambda X (fixed-lambda shaping). "
        "GPUs: accelerate launch --config_file configs/accelerate/<deepspeed_zero2|deepspeed_zero3|fsdp>.yaml "
        "-m safealign train ppo-lag ... ; several CPU processes: torchrun --nproc_per_node 2 -m safealign train "
        "ppo-lag ...",
    )
