"""The Lagrange multiplier(s) of PPO-Lagrangian (Safe RLHF / Safe RLHF-V: the learned multiplier of the min-max
objective).

lambda_k = exp(log_lambda_k); each ``log_lambda_k`` takes one SGD step per RL step on the multiplier loss
``-(J_C,k - d_k) * lambda_k`` (see :func:`safealign.losses.lagrange_step`), where ``J_C,k`` is the mean end-cost
over a sliding window of the most recent episodes of constraint k. Options: an update delay (no update before
``delay`` steps), a cap ``lambda_max``, and a fixed multiplier (baselines: reward-only PPO with lambda = 0 and
fixed-lambda reward shaping).

One constraint (``names == ["cost"]``) is the paper's case. Several constraints (beyond the papers) give one
multiplier per harm category or severity level, each with its own threshold; an episode enters constraint k's
window only where ``valid[:, k]`` is true (e.g. the prompt belongs to category k).

Multi-process runs: pass a ``gather`` function (``accelerator.gather``); every process then adds the episodes of
ALL processes to its window, so ``J_C`` is the mean over all processes' episodes and every process computes the
same multiplier from the same numbers.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Callable, Optional, Sequence

import torch

from safealign.errors import ConfigError
from safealign.losses import lagrange_step
from safealign.train.common import gather_episodes


class LagrangeMultipliers:
    def __init__(
        self,
        names: Sequence[str] = ("cost",),
        thresholds: Sequence[float] | float = 0.0,
        lambda_init: Sequence[float] | float = 1.0,
        lr: float = 0.1,
        window: int = 128,
        delay: int = 0,
        lambda_max: Optional[float] = None,
        fixed: bool = False,
    ):
        self.names = list(names)
        k = len(self.names)
        if k == 0:
            raise ConfigError("at least one constraint is needed")
        self.thresholds = _per_constraint(thresholds, k, "cost thresholds")
        inits = _per_constraint(lambda_init, k, "lambda_init")
        if any(v < 0 for v in inits):
            raise ConfigError("lambda_init must be >= 0")
        if not fixed and any(v <= 0 for v in inits):
            raise ConfigError(
                "a learned multiplier needs lambda_init > 0 (lambda = exp(log_lambda)); use fixed_lambda for 0"
            )
        if window < 1:
            raise ConfigError("lambda window must be >= 1")
        self.lr, self.delay, self.lambda_max, self.fixed = float(lr), int(delay), lambda_max, bool(fixed)
        self.log_lambdas = [math.log(v) if v > 0 else -math.inf for v in inits]
        self.windows: list[deque[float]] = [deque(maxlen=int(window)) for _ in range(k)]
        self.window = int(window)
        self.steps = 0  # number of observe() calls

    # ------------------------------------------------------------------------------------------------- reading
    @property
    def values(self) -> list[float]:
        return [math.exp(v) if v != -math.inf else 0.0 for v in self.log_lambdas]

    def tensor(self, device: Any = None) -> torch.Tensor:
        return torch.tensor(self.values, dtype=torch.float32, device=device)

    def mean_costs(self) -> list[Optional[float]]:
        """J_C,k over each window (None while a window is empty)."""
        return [sum(w) / len(w) if len(w) else None for w in self.windows]

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        single = len(self.names) == 1
        for name, lam, jc in zip(self.names, self.values, self.mean_costs()):
            out["lambda" if single else f"lambda/{name}"] = lam
            if jc is not None:
                out["J_C" if single else f"J_C/{name}"] = jc
        return out

    # ------------------------------------------------------------------------------------------------ updating
    def observe(
        self,
        costs: torch.Tensor,
        valid: Optional[torch.Tensor] = None,
        gather: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    ) -> list[float]:
        """Add a step's episode costs and take one multiplier step per constraint.

        costs: [N] (one constraint) or [N, K]; valid: [N, K] bool (episode counts for constraint k), default all.
        gather: concatenates a tensor across processes (``accelerator.gather``), so every process sees every episode.
        Returns the new multipliers.
        """
        costs = costs.detach().float()
        if costs.dim() == 1:
            costs = costs.unsqueeze(-1)
        if costs.size(-1) != len(self.names):
            raise ValueError(f"{costs.size(-1)} cost columns for {len(self.names)} constraints")
        valid = torch.ones_like(costs, dtype=torch.bool) if valid is None else valid.reshape(costs.shape).bool()
        costs, valid = gather_episodes(costs, valid, gather)
        for k, win in enumerate(self.windows):
            win.extend(costs[valid[:, k], k].tolist())
        if not self.fixed and self.steps >= self.delay:
            for k, jc in enumerate(self.mean_costs()):
                if jc is not None:
                    self.log_lambdas[k] = lagrange_step(
                        self.log_lambdas[k], jc, self.thresholds[k], self.lr, self.lambda_max
                    )
        self.steps += 1
        return self.values

    # --------------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "log_lambdas": [None if v == -math.inf else v for v in self.log_lambdas],
            "windows": [list(w) for w in self.windows],
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["names"]) != self.names:
            raise ConfigError(f"checkpoint constraints {state['names']} differ from the config's {self.names}")
        self.log_lambdas = [-math.inf if v is None else float(v) for v in state["log_lambdas"]]
        for w, vals in zip(self.windows, state["windows"]):
            w.clear()
            w.extend(float(v) for v in vals)
        self.steps = int(state["steps"])


def _per_constraint(value: Sequence[float] | float, k: int, what: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * k
    vals = [float(v) for v in value]
    if len(vals) == 1:
        return vals * k
    if len(vals) != k:
        raise ConfigError(f"{len(vals)} {what} for {k} constraints")
    return vals
