"""The multiplier(s): direction of the update, window, delay, cap, fixed baselines, per-category, 2 processes."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from safealign.errors import ConfigError
from safealign.testing import free_port
from safealign.train.lagrange import LagrangeMultipliers


def test_lambda_rises_while_violated_and_falls_after():
    lm = LagrangeMultipliers(thresholds=0.0, lambda_init=1.0, lr=0.1, window=4)
    trace = [lm.observe(torch.full((4,), 1.0))[0] for _ in range(5)]  # J_C = 1 > d = 0
    assert all(b > a for a, b in zip([1.0] + trace, trace))
    down = [lm.observe(torch.full((4,), -1.0))[0] for _ in range(5)]  # the window now holds only safe episodes
    assert all(b < a for a, b in zip([trace[-1]] + down, down))


def test_window_mean_and_step_by_hand():
    lm = LagrangeMultipliers(thresholds=0.5, lambda_init=2.0, lr=0.1, window=2)
    lm.observe(torch.tensor([1.0, 3.0]))
    # J_C = 2 ; log l = log 2 + .1 * 2 * (2 - .5)
    assert lm.values[0] == pytest.approx(math.exp(math.log(2.0) + 0.3))
    lm.observe(torch.tensor([5.0]))  # window [3, 5] -> J_C = 4
    assert lm.mean_costs() == [4.0]
    lam1 = math.exp(math.log(2.0) + 0.3)
    assert lm.values[0] == pytest.approx(math.exp(math.log(lam1) + 0.1 * lam1 * 3.5))
    assert lm.metrics() == {"lambda": pytest.approx(lm.values[0]), "J_C": 4.0}


def test_delay_cap_and_fixed():
    lm = LagrangeMultipliers(lambda_init=1.0, lr=1.0, delay=2, lambda_max=3.0)
    assert lm.observe(torch.tensor([5.0]))[0] == 1.0
    assert lm.observe(torch.tensor([5.0]))[0] == 1.0  # still within the delay
    assert lm.observe(torch.tensor([5.0]))[0] == pytest.approx(3.0)  # moved, capped
    zero = LagrangeMultipliers(lambda_init=0.0, fixed=True)  # reward-only PPO
    shaping = LagrangeMultipliers(lambda_init=2.5, fixed=True)  # fixed-lambda shaping
    for _ in range(3):
        zero.observe(torch.tensor([9.0]))
        shaping.observe(torch.tensor([9.0]))
    assert zero.values == [0.0] and shaping.values == [2.5]
    with pytest.raises(ConfigError):
        LagrangeMultipliers(lambda_init=0.0)  # a learned multiplier cannot start at 0 (log)


def test_per_category_multipliers_use_only_their_episodes():
    lm = LagrangeMultipliers(names=["violence", "fraud"], thresholds=[0.0, -0.5], lambda_init=1.0, lr=0.1)
    costs = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [2.0, 2.0]])
    valid = torch.tensor([[True, False], [False, True], [True, False]])
    lam = lm.observe(costs, valid)
    assert lm.mean_costs() == [1.5, -1.0]
    assert lam[0] == pytest.approx(math.exp(0.1 * 1.5)) and lam[1] == pytest.approx(math.exp(0.1 * -0.5))
    assert set(lm.metrics()) == {"lambda/violence", "lambda/fraud", "J_C/violence", "J_C/fraud"}
    with pytest.raises(ConfigError):
        LagrangeMultipliers(names=["a", "b"], thresholds=[0.0, 1.0, 2.0])


def test_state_dict_roundtrip_through_json():
    lm = LagrangeMultipliers(names=["a", "b"], lambda_init=[1.0, 2.0], window=3)
    lm.observe(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    state = json.loads(json.dumps(lm.state_dict()))
    other = LagrangeMultipliers(names=["a", "b"], lambda_init=[1.0, 2.0], window=3)
    other.load_state_dict(state)
    assert other.values == lm.values and other.mean_costs() == lm.mean_costs() and other.steps == 1
    assert other.observe(torch.tensor([[3.0, 3.0]])) == lm.observe(torch.tensor([[3.0, 3.0]]))




def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)

    def gather(t: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(parts, t)
        return torch.cat(parts)

    lm = LagrangeMultipliers(lambda_init=1.0, lr=0.5, window=6)
    trace = []
    for step in range(4):
        # each rank sees different episodes: rank 0 unsafe, rank 1 safe
        costs = torch.tensor([1.0 + step, 2.0]) if rank == 0 else torch.tensor([-3.0, -0.5 * step])
        trace.append(lm.observe(costs, gather=gather)[0])
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(trace, f)
    dist.destroy_process_group()


def test_two_processes_hold_the_same_lambda(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0 == r1
    # and equal to one process that sees every episode (J_C is the mean over all processes' episodes)
    ref = LagrangeMultipliers(lambda_init=1.0, lr=0.5, window=6)
    expect = [ref.observe(torch.tensor([1.0 + s, 2.0, -3.0, -0.5 * s]))[0] for s in range(4)]
    assert r0 == pytest.approx(expect)
