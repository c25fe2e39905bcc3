"""Running scale of the reward/cost streams (score_scaling: running): moments by hand, masks, processes, trainer."""

from __future__ import annotations

import math

import pytest
import torch

from safealign.train.score_scaling import RunningScale, merge_moments


def test_merge_moments_by_hand():
    # [1, 3]: n 2, mean 2, squared deviations 1 + 1 = 2
    n, m, s = merge_moments(0, 0.0, 0.0, torch.tensor([1.0, 3.0]))
    assert (n, m, s) == (2, 2.0, 2.0)
    # + [5]: n 3, mean 2 + 3 * 1/3 = 3, s = 2 + 0 + 3^2 * 2 * 1/3 = 8  (= (1-3)^2 + (3-3)^2 + (5-3)^2)
    n, m, s = merge_moments(n, m, s, torch.tensor([5.0]))
    assert (n, m) == (3, 3.0) and s == pytest.approx(8.0)
    assert merge_moments(n, m, s, torch.tensor([])) == (n, m, s)


def test_scales_per_column_with_a_mask():
    rs = RunningScale(2)
    assert rs.scales() == [1.0, 1.0]  # nothing seen yet
    scores = torch.tensor([[1.0, 10.0], [3.0, 0.0], [5.0, 20.0]])
    valid = torch.tensor([[True, True], [True, False], [True, True]])
    rs.observe(scores[:2], valid[:2])
    assert rs.scales() == [pytest.approx(math.sqrt(2.0)), 1.0]  # column 1 has one valid value so far
    rs.observe(scores[2:], valid[2:])
    # column 0: 1, 3, 5 -> sample sd 2; column 1: 10, 20 (the masked 0 never counts) -> sd sqrt(50)
    assert rs.scales() == [pytest.approx(2.0), pytest.approx(math.sqrt(50.0))]
    assert rs.mean == [pytest.approx(3.0), pytest.approx(15.0)]


def test_constant_column_is_left_unscaled():
    rs = RunningScale(1)
    rs.observe(torch.full((4, 1), 5.0))
    assert rs.scales() == [1.0]


def test_gathered_batches_give_every_process_the_same_scale():
    a, b = torch.tensor([[1.0], [2.0]]), torch.tensor([[4.0], [9.0]])
    gather = lambda t: torch.cat([a, b]) if t.dtype == torch.float32 else torch.ones(4, 1, dtype=torch.uint8)  # noqa: E731
    r0, r1, single = RunningScale(1), RunningScale(1), RunningScale(1)
    r0.observe(a, gather=gather)
    r1.observe(b, gather=gather)
    single.observe(torch.cat([a, b]))
    assert r0.state_dict() == r1.state_dict() == single.state_dict()


def test_state_round_trip():
    rs = RunningScale(2)
    rs.observe(torch.tensor([[1.0, 2.0], [4.0, 8.0], [0.5, 1.0]]))
    other = RunningScale(2)
    other.load_state_dict(rs.state_dict())
    assert other.scales() == rs.scales()
    with pytest.raises(ValueError):
        RunningScale(3).load_state_dict(rs.state_dict())
