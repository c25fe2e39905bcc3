"""Running scale of the reward and cost streams (``score_scaling: running`` in the PPO-Lagrangian config).

The reward and cost models put their scores on whatever scale their training gave them; a cost model with three times
the spread of the reward model gives harmful episodes three times the say of benign ones in the combined advantage,
and makes the same KL coefficient a weaker anchor on the cost stream than on the reward stream. With running scaling
each stream's end score is divided by the standard deviation of that stream's end scores over every episode seen so
far (all processes), before the KL penalty is added. Only the advantages see scaled scores: J_C, the multiplier
update, the safe share and the logs keep the raw costs, so the threshold d keeps its meaning.

Each column (the reward, then one per constraint) keeps a count, a mean and a sum of squared deviations, merged
batch by batch with the parallel-variance formula (Chan et al.): for a batch of n_b values with mean m_b and squared
deviations s_b added to (n_a, m_a, s_a),
    n = n_a + n_b,  m = m_a + (m_b - m_a) n_b / n,  s = s_a + s_b + (m_b - m_a)^2 n_a n_b / n,
and the scale is sqrt(s / (n - 1)) (1 until a column has two values that differ). In multi-process runs every
process merges the gathered batch of all processes, so all hold the same scale.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from safealign.train.common import gather_episodes

_NO_SPREAD = 1e-8  # below this standard deviation a column carries no scale information and is left as it is


def merge_moments(count: float, mean: float, m2: float, values: torch.Tensor) -> tuple[float, float, float]:
    """(count, mean, sum of squared deviations) after adding ``values`` (1-D)."""
    nb = values.numel()
    if nb == 0:
        return count, mean, m2
    vb = values.double()
    mb = vb.mean().item()
    sb = ((vb - mb) ** 2).sum().item()
    n = count + nb
    delta = mb - mean
    return n, mean + delta * nb / n, m2 + sb + delta * delta * count * nb / n


class RunningScale:
    """Per-column running standard deviation of end scores; see the module docstring."""

    def __init__(self, columns: int):
        self.count = [0.0] * columns
        self.mean = [0.0] * columns
        self.m2 = [0.0] * columns

    def observe(
        self,
        scores: torch.Tensor,
        valid: Optional[torch.Tensor] = None,
        gather: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    ) -> None:
        """Add a step's end scores [N, C]; ``valid`` [N, C] bool says which episodes count for which column."""
        scores = scores.detach().float()
        valid = torch.ones_like(scores, dtype=torch.bool) if valid is None else valid.bool()
        scores, valid = gather_episodes(scores, valid, gather)
        for k in range(len(self.count)):
            self.count[k], self.mean[k], self.m2[k] = merge_moments(
                self.count[k], self.mean[k], self.m2[k], scores[valid[:, k], k]
            )

    def scales(self) -> list[float]:
        out = []
        for n, s in zip(self.count, self.m2):
            sd = math.sqrt(max(s, 0.0) / (n - 1)) if n >= 2 else 0.0
            out.append(sd if sd > _NO_SPREAD else 1.0)
        return out

    def tensor(self, device: Any = None) -> torch.Tensor:
        return torch.tensor(self.scales(), dtype=torch.float32, device=device)

    def state_dict(self) -> dict[str, Any]:
        return {"count": list(self.count), "mean": list(self.mean), "m2": list(self.m2)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["count"]) != len(self.count):
            raise ValueError(f"score scaling state has {len(state['count'])} columns, this run {len(self.count)}")
        self.count = [float(v) for v in state["count"]]
        self.mean = [float(v) for v in state["mean"]]
        self.m2 = [float(v) for v in state["m2"]]
