"""Pluralistic safe RLHF commands (issue 8): where Safe RLHF-V's reward/cost models meet Janus' system messages.

``safealign data conditioned-pairs``   pairs for a system-message-conditioned reward model
``safealign data attack-pairs``        cost-model pairs with system-message attack framings (same labels)
``safealign data pluralistic-prompts`` PPO prompts: seen/unseen preference system messages + attack framings
``safealign eval tradeoff``            adherence on held-out system messages vs safe share under attacks

Training uses the existing commands on these files (``safealign train reward|cost|ppo-lag``); the recipe is
``configs/cpu-demo/pluralistic_ppo_lag.yaml``. Heavy imports stay inside the runners.
"""

from __future__ import annotations

from typing import Any

from safealign.config import add_config_command
from safealign.pluralistic.conditioned import AttackPairsConfig, ConditionedPairsConfig, PluralisticPromptsConfig
from safealign.pluralistic.tradeoff import TradeoffConfig


def _conditioned_pairs(cfg: ConditionedPairsConfig) -> Any:
    from safealign.cli.common import print_json, summary
    from safealign.pluralistic.conditioned import run_conditioned_pairs

    res = run_conditioned_pairs(cfg)
    print_json(res)
    summary(
        f"{res['pairs']} conditioned reward pairs ({res['system_preference_pairs']} system-message, "
        f"{res['generic_pairs']} generic) -> {res['output']}"
    )
    return res


def _attack_pairs(cfg: AttackPairsConfig) -> Any:
    from safealign.cli.common import print_json, summary
    from safealign.pluralistic.conditioned import run_attack_pairs

    res = run_attack_pairs(cfg)
    print_json(res)
    summary(f"{res['pairs']} cost pairs ({res['attack_framed']} attack-framed, labels unchanged) -> {res['output']}")
    return res


def _prompts(cfg: PluralisticPromptsConfig) -> Any:
    from safealign.cli.common import print_json, summary
    from safealign.pluralistic.conditioned import run_pluralistic_prompts

    res = run_pluralistic_prompts(cfg)
    print_json(res)
    parts = ", ".join(f"{k[2:]} {v}" for k, v in res.items() if k.startswith("n_"))
    summary(f"{res['prompts']} PPO prompts ({parts}) -> {res['output']}")
    return res


def _tradeoff(cfg: TradeoffConfig) -> Any:
    from safealign.cli.common import console, print_json, summary
    from safealign.pluralistic.tradeoff import MethodPoint, run_tradeoff, tradeoff_table_markdown

    res = run_tradeoff(cfg)
    console.print(tradeoff_table_markdown([MethodPoint.from_dict(p) for p in res["points"]]))
    print_json(
        {
            "points": [
                {
                    k: p[k]
                    for k in (
                        "method", "adherence", "strict_adherence", "safe_share", "safe_by_judge", "n_adherence",
                        "n_attack",
                    )
                }
                for p in res["points"]
            ],
            "claim": res.get("claim"),
            "paths": res["paths"],
        }
    )
    summary(
        f"trade-off of {len(res['points'])} method(s) -> {res['paths']['markdown']}, {res['paths'].get('plot', '')}"
    )
    return res


def register(apps) -> None:  # noqa: ANN001
    add_config_command(
        apps.data,
        "conditioned-pairs",
        ConditionedPairsConfig,
        _conditioned_pairs,
        help="Pairs for a system-message-conditioned reward model (chosen = answer for this system message).",
    )
    add_config_command(
        apps.data,
        "attack-pairs",
        AttackPairsConfig,
        _attack_pairs,
        help="Cost-model pairs with system-message attack framings; labels unchanged.",
    )
    add_config_command(
        apps.data,
        "pluralistic-prompts",
        PluralisticPromptsConfig,
        _prompts,
        help="PPO prompts mixing seen/unseen preference system messages and attack framings.",
    )
    add_config_command(
        apps.eval,
        "tradeoff",
        TradeoffConfig,
        _tradeoff,
        help="Adherence on held-out system messages vs safe share under system-message attacks, per method (table + "
             "plot).",
    )
