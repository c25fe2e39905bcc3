"""The DPO baseline of the alignment benchmark: the warm start's data as preference pairs, trained with TRL's DPO
from the base model (the same prompts and targets as the supervised warm start, a different objective).

- harmful prompt: the helpful refusal (chosen) over the base policy's own sampled answer (rejected; prompts the
  policy already refused give no pair);
- benign prompt: the policy's best of n (chosen) over a refusal (rejected), so DPO is taught not to over-refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safealign.recipes.safe_rlhf_config import SafeRLHFConfig


def preference_rows(warm_rows: list[dict[str, Any]], sampled: dict[str, str]) -> list[dict[str, Any]]:
    """TRL conversational preference rows from warm-start rows and the policy's answers to the harmful prompts."""
    from safealign.judges.refusal import is_refusal
    from safealign.train.round_data import BENIGN_REFUSALS

    out = []
    for k, r in enumerate(warm_rows):
        if r["kind"] == "refusal":
            rejected = sampled.get(r["prompt"])
            if not rejected or is_refusal(rejected):
                continue
        else:
            rejected = BENIGN_REFUSALS[k % len(BENIGN_REFUSALS)]
        prompt = ([{"role": "system", "content": r["system"]}] if r.get("system") else []) + [
            {"role": "user", "content": r["prompt"]}
        ]
        out.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": r["response"]}],
                    "rejected": [{"role": "assistant", "content": rejected}]})
    return out


def dpo_baseline(cfg: SafeRLHFConfig, out: Path, steps: int = 40, beta: float = 0.1,
                 learning_rate: float = 5e-5) -> dict[str, Any]:
    """Train DPO on the warm-start rows of ``cfg.output_dir`` (run the recipe's warm start first) and evaluate it
    on the recipe's held-out prompts; returns {"rounds": [base, dpo], "policies": {"dpo": folder}}."""
    from safealign.data.records import PromptRecord
    from safealign.errors import ConfigError
    from safealign.recipes.policy import PolicySampler, evaluate_policy
    from safealign.recipes.safe_rlhf import SafeRLHFRun
    from safealign.train.trl_runner import TRLTrainConfig, preference_trainer_classes, train_rows, trainer_kwargs

    warm_file = Path(cfg.output_dir) / "round0" / "warm_rows.jsonl"
    if not warm_file.exists():
        raise ConfigError(f"no warm-start rows at {warm_file}: run the recipe's warm start first")
    warm = [json.loads(line) for line in warm_file.read_text().splitlines() if line.strip()]
    out = Path(out).resolve()
    sampled_file = out / "sampled_harmful.json"
    if sampled_file.exists():
        sampled = json.loads(sampled_file.read_text())
    else:
        harmful = [PromptRecord(r["prompt"], system=r.get("system"), label="harmful") for r in warm
                   if r["kind"] == "refusal"]
        sampler = PolicySampler(
            cfg.model, cfg.batch_size, cfg.sample_tokens, cfg.sample_temperature, cfg.seed, cfg.chat_template
        )
        sampled = dict(zip([p.prompt for p in harmful], sampler(harmful)))
        out.mkdir(parents=True, exist_ok=True)
        sampled_file.write_text(json.dumps(sampled))
    rows = preference_rows(warm, sampled)
    tcfg = TRLTrainConfig(model=cfg.model, output_dir=str(out / "policy"), max_steps=steps, batch_size=8,
                          max_length=cfg.sft_max_length, seed=cfg.seed, logging_steps=5, lr_scheduler="cosine",
                          chat_template=cfg.chat_template)
    config_cls, trainer_cls = preference_trainer_classes("dpo")
    if not (out / "policy" / "config.json").exists():
        train_rows(tcfg, "dpo", rows, trainer_cls, lambda: config_cls(
            **trainer_kwargs(tcfg, learning_rate), beta=beta, max_length=cfg.sft_max_length))
    run = SafeRLHFRun(cfg)
    summary = evaluate_policy(str(out / "policy"), run.eval_prompts(), cfg.reward_model, run.guard, cfg.eval_tokens,
                              cfg.batch_size, out / "eval", chat_template=cfg.chat_template)
    ind = summary.get("independent") or {}
    row = {"round": "dpo", "J_C": None, "lambda": None, "harmful_handled_safely": ind.get("harmful_handled_safely"),
           "harmful_refused": ind.get("harmful_refused"), "benign_over_refused": ind.get("benign_over_refused"),
           "lookalike_over_refused": ind.get("lookalike_over_refused"), "benign_reward": summary.get(
               "mean_reward_benign"), "n_harmful": summary.get("n_harmful"), "n_benign": summary.get("n_benign")}
    return {"rounds": [row], "policies": {"dpo": str(out / "policy")}, "pairs": len(rows)}
