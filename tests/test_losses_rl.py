"""The RL formulas of safealign.losses against numbers computed by hand, and padding never contributing."""

from __future__ import annotations

import math

import pytest
import torch

from safealign import losses as L


def test_masked_mean_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    m = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert L.masked_mean(x, m).item() == pytest.approx(7 / 3)
    assert L.masked_mean(x, m, dim=1).tolist() == pytest.approx([1.5, 4.0])


def test_gather_log_probs_and_entropy_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = (0.25, 0.75)
    assert L.gather_log_probs(logits, torch.tensor([[1]])).item() == pytest.approx(math.log(0.75), abs=1e-6)
    assert L.gather_log_probs(logits, torch.tensor([[0]])).item() == pytest.approx(math.log(0.25), abs=1e-6)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert L.entropy_from_logits(logits).item() == pytest.approx(h, abs=1e-6)


def test_kl_penalised_scores_by_hand():
    lp = torch.tensor([[-1.0, -2.0, -0.5], [-1.0, -1.5, 9.0]])  # 9.0 sits on padding
    ref = torch.tensor([[-1.5, -1.0, -0.5], [-2.0, -1.0, 3.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    # kl = [[0.5, -1, 0], [1, -0.5, pad]]
    r = L.kl_penalised_scores(torch.tensor([2.0, 100.0]), lp, ref, mask, kl_coef=0.1, sign=-1.0, clip_range_score=50.0)
    assert r.tolist()[0] == pytest.approx([-0.05, 0.1, 2.0])
    assert r.tolist()[1] == pytest.approx(
        [-0.1, 0.05 + 50.0, 0.0]
    )  # end score clipped to 50, lands on the last real token
    c = L.kl_penalised_scores(
        torch.tensor([-1.0, -100.0]), lp, ref, mask, kl_coef=0.1, sign=+1.0, clip_range_score=50.0
    )
    assert c.tolist()[0] == pytest.approx([0.05, -0.1, -1.0])
    assert c.tolist()[1] == pytest.approx([0.1, -0.05 - 50.0, 0.0])


def test_gae_by_hand_and_padding():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, -1.0]])
    mask = torch.ones(1, 3)
    adv, ret = L.gae(rewards, values, mask, gamma=0.9, lam=0.5)
    # t2: 2 - (-1) = 3 ; t1: 0 + .9*(-1) - 1 = -1.9, + .45*3 = -0.55 ; t0: 1 + .9*1 - .5 = 1.4, + .45*(-.55) = 1.1525
    assert adv.tolist()[0] == pytest.approx([1.1525, -0.55, 3.0])
    assert ret.tolist()[0] == pytest.approx([1.6525, 0.45, 2.0])
    # the same row padded with garbage: identical on real tokens, zero on padding
    adv_p, ret_p = L.gae(
        torch.tensor([[1.0, 0.0, 2.0, 7.0, -3.0]]), torch.tensor([[0.5, 1.0, -1.0, 5.0, 9.0]]),
        torch.tensor([[1.0, 1, 1, 0, 0]]), 0.9, 0.5,
    )
    assert adv_p[0, :3].tolist() == pytest.approx(adv[0].tolist())
    assert ret_p[0, :3].tolist() == pytest.approx(ret[0].tolist())
    assert adv_p[0, 3:].abs().sum().item() == 0.0 and ret_p[0, 3:].abs().sum().item() == 0.0


def test_combined_advantage_by_hand():
    a_r, a_c = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert L.combined_advantage(a_r, a_c, 3.0).tolist() == pytest.approx([-0.125, 1.25])  # (A_R - 3 A_C) / 4
    assert L.combined_advantage(a_r, a_c, 0.0).tolist() == pytest.approx([1.0, 2.0])  # reward-only PPO
    multi = L.combined_advantage(a_r, [torch.tensor([1.0, 1.0]), torch.tensor([0.0, 2.0])], [1.0, 2.0])
    assert multi.tolist() == pytest.approx([0.0, -0.75])  # ([1,2] - [1,1] - 2*[0,2]) / 4
    lam = torch.tensor([2.0], requires_grad=True)
    assert not L.combined_advantage(a_r, a_c, lam).requires_grad  # lambda is detached
    with pytest.raises(ValueError):
        L.combined_advantage(a_r, [a_c, a_c], [1.0])


def test_combined_advantage_with_constraints_that_apply_to_some_episodes_by_hand():
    """Two constraints (lambda 1 and 3) over three episodes of two tokens: episode 0 is under the first only, episode
    1 under both, episode 2 under none (a benign prompt with a harmful-only constraint)."""
    a_r = torch.tensor([[1.0, 2.0], [4.0, 0.0], [3.0, -1.0]])
    c1 = torch.tensor([[2.0, 2.0], [1.0, 1.0], [9.0, 9.0]])  # episode 2's entries must be ignored
    c2 = torch.tensor([[5.0, 5.0], [0.0, 1.0], [7.0, 7.0]])  # so must episode 0's
    on = torch.tensor([[True, False], [True, True], [False, False]])
    ep = L.combined_advantage(a_r, [c1, c2], [1.0, 3.0], applies=on)
    # ep 0: ([1,2] - 1*[2,2]) / 2;  ep 1: ([4,0] - [1,1] - 3*[0,1]) / 5;  ep 2: [3,-1] / 1
    assert ep.tolist() == [pytest.approx([-0.5, 0.0]), pytest.approx([0.6, -0.8]), pytest.approx([3.0, -1.0])]
    gl = L.combined_advantage(a_r, [c1, c2], [1.0, 3.0], applies=on, normalize="global")
    assert gl.tolist() == [
        pytest.approx([-0.2, 0.0]),
        pytest.approx([0.6, -0.8]),
        pytest.approx([0.6, -0.2]),
    ]  # all / 5
    everywhere = torch.ones(3, 2, dtype=torch.bool)  # every constraint on every episode: the paper's formula, both ways
    for norm in ("episode", "global"):
        torch.testing.assert_close(
            L.combined_advantage(a_r, [c1, c2], [1.0, 3.0], applies=everywhere, normalize=norm),
            L.combined_advantage(a_r, [c1, c2], [1.0, 3.0]),
        )
    with pytest.raises(ValueError):
        L.combined_advantage(a_r, [c1, c2], [1.0, 3.0], applies=on[:, :1])
    with pytest.raises(ValueError):
        L.combined_advantage(a_r, [c1, c2], [1.0, 3.0], applies=on, normalize="batch")


@pytest.mark.parametrize("lam", [0.0, 1.0, 10.0])
def test_combined_advantage_carries_exactly_minus_beta_kl(lam):
    """With beta on both streams and zero scores/values, (A_R - lam A_C)/(1+lam) is the advantage of -beta*kl."""
    torch.manual_seed(0)
    lp, ref = torch.randn(3, 5), torch.randn(3, 5)
    mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2, [1.0] * 1 + [0.0] * 4])
    zero_v, zero_s = torch.zeros(3, 5), torch.zeros(3)
    r = L.kl_penalised_scores(zero_s, lp, ref, mask, 0.1, -1.0)
    c = L.kl_penalised_scores(zero_s, lp, ref, mask, 0.1, +1.0)
    a = L.combined_advantage(L.gae(r, zero_v, mask)[0], L.gae(c, zero_v, mask)[0], lam)
    expected = L.gae(-0.1 * (lp - ref) * mask, zero_v, mask)[0]
    torch.testing.assert_close(a, expected)


def test_ppo_actor_loss_by_hand_and_padding():
    lp = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    old = torch.zeros(1, 3)
    adv = torch.tensor([[1.0, 1.0, -2.0]])
    loss, frac = L.ppo_actor_loss(lp, old, adv, torch.ones(1, 3), clip=0.2)
    # -min(r A, clip(r) A): -1.2, -0.5, +2.2 -> mean 0.5/3 ; clipped ratios: 1.5 and 0.5 -> 2/3
    assert loss.item() == pytest.approx(0.5 / 3, abs=1e-6)
    assert frac.item() == pytest.approx(2 / 3)
    # padding with wild values changes nothing
    lp_p = torch.cat([lp, torch.tensor([[5.0]])], 1)
    loss_p, frac_p = L.ppo_actor_loss(
        lp_p, torch.zeros(1, 4), torch.tensor([[1.0, 1.0, -2.0, 100.0]]), torch.tensor([[1.0, 1, 1, 0]]), 0.2
    )
    assert loss_p.item() == pytest.approx(loss.item(), abs=1e-6) and frac_p.item() == pytest.approx(frac.item())
    # gradient never reaches padded positions
    lp_g = lp_p.clone().requires_grad_(True)
    L.ppo_actor_loss(lp_g, torch.zeros(1, 4), torch.tensor([[1.0, 1.0, -2.0, 100.0]]), torch.tensor([[1.0, 1, 1, 0]]))[
        0
    ].backward()
    assert lp_g.grad[0, 3].item() == 0.0 and lp_g.grad[0, 2].item() != 0.0


def test_value_loss_by_hand_and_padding():
    v = torch.tensor([[3.0, -0.5, 0.5]])
    old = torch.tensor([[0.0, 0.0, 2.0]])
    g = torch.tensor([[1.0, -2.0, 0.0]])
    # max((V-G)^2, (clip(V, old+-1)-G)^2): max(4, 0)=4 ; max(2.25, 2.25)=2.25 ; max(0.25, 1)=1  -> 0.5 * 7.25/3
    assert L.value_loss(v, old, g, torch.ones(1, 3), clip=1.0).item() == pytest.approx(0.5 * 7.25 / 3)
    vp = torch.cat([v, torch.tensor([[50.0]])], 1)
    op = torch.cat([old, torch.tensor([[0.0]])], 1)
    gp = torch.cat([g, torch.tensor([[-50.0]])], 1)
    assert L.value_loss(vp, op, gp, torch.tensor([[1.0, 1, 1, 0]]), clip=1.0).item() == pytest.approx(0.5 * 7.25 / 3)


def test_lagrange_step_by_hand():
    assert L.lagrange_step(0.0, mean_cost=0.5, threshold=-0.5, lr=0.1) == pytest.approx(0.1)  # 0 + .1 * 1 * (0.5+0.5)
    assert L.lagrange_step(math.log(2.0), -1.0, 0.0, 0.1) == pytest.approx(math.log(2.0) - 0.2)  # lambda falls below d
    assert L.lagrange_step(math.log(19.0), 10.0, 0.0, 0.1, lambda_max=20.0) == pytest.approx(math.log(20.0))  # capped
