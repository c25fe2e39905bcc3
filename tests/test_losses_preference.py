"""Reward / cost losses (safealign.losses), the trainer's batch loss and the score metrics against numbers
computed by hand.  softplus(-x) = -log sigma(x) = log(1 + e^-x):
    x=3: 0.0485873516   x=2: 0.1269280110   x=1: 0.3132616875   x=0.5: 0.4740769842
    x=-0.5: 0.9740769842  x=-1: 1.3132616875
"""

from __future__ import annotations

import pytest
import torch

from safealign import losses as L
from safealign.data.records import SafetyPair
from safealign.models.score_metrics import score_metrics
from safealign.train.score_config import ScoreTrainConfig
from safealign.train.score_trainer import pair_loss

SP = {3: 0.0485873516, 2: 0.1269280110, 1: 0.3132616875, 0.5: 0.4740769842, -0.5: 0.9740769842, -1: 1.3132616875}


def test_reward_loss_bradley_terry_by_hand():
    better, worse = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # pair 1: margin +1 -> 0.31326; pair 2: margin -1 -> 1.31326; mean 0.81326
    assert L.reward_loss(better, worse).item() == pytest.approx(0.8132616875, abs=1e-6)


def test_reward_loss_regulariser_by_hand():
    better, worse = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # eta * mean(R^2) over all four scores = 0.1 * (1 + 0 + 0 + 1) / 4 = 0.05
    assert L.reward_loss(better, worse, regularization=0.1).item() == pytest.approx(0.8632616875, abs=1e-6)
    assert L.score_regulariser(torch.tensor([3.0]), torch.tensor([-1.0])).item() == pytest.approx(5.0)


def test_cost_loss_preference_plus_sign_terms_by_hand():
    cu, cs = torch.tensor([2.0]), torch.tensor([-1.0])
    su, ss = torch.tensor([1.0]), torch.tensor([-1.0])  # y_u unsafe, y_s safe
    # -log s(2 - -1) - log s(+1 * 2) - log s(-1 * -1) = sp(3) + sp(2) + sp(1)
    expected = SP[3] + SP[2] + SP[1]
    assert L.cost_loss(cu, cs, su, ss).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.4887770501, abs=1e-8)


def test_cost_loss_wrong_signs_cost_more_by_hand():
    # both responses unsafe (s = +1), but the model gives the less safe one the LOWER cost, and a negative one
    cu, cs = torch.tensor([-0.5]), torch.tensor([0.5])
    s = torch.tensor([1.0])
    expected = SP[-1] + SP[-0.5] + SP[0.5]  # 1.31326 + 0.97408 + 0.47408
    assert L.cost_loss(cu, cs, s, s).item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(2.7614156559, abs=1e-8)


def test_cost_loss_severity_weights_and_regulariser_by_hand():
    cu, cs = torch.tensor([2.0]), torch.tensor([-1.0])
    su, ss = torch.tensor([1.0]), torch.tensor([-1.0])
    sev_u, sev_s = torch.tensor([3]), torch.tensor([0])  # severe vs safe
    wu, ws = L.severity_weight(sev_u), L.severity_weight(sev_s)
    assert wu.tolist() == [2.0] and ws.tolist() == [1.0]
    expected = SP[3] + 2.0 * SP[2] + 1.0 * SP[1]  # 0.61571
    assert L.cost_loss(cu, cs, su, ss, wu, ws).item() == pytest.approx(expected, abs=1e-6)
    # + 0.01 * mean(2^2, (-1)^2) = 0.01 * 2.5 = 0.025
    assert L.cost_loss(cu, cs, su, ss, wu, ws, regularization=0.01).item() == pytest.approx(expected + 0.025, abs=1e-6)


def test_severity_weight_table_and_safety_sign():
    assert L.severity_weight(torch.tensor([0, 1, 2, 3])).tolist() == [1.0, 1.0, 1.5, 2.0]
    assert L.severity_weight(torch.tensor([2, 3]), weights=(1.0, 2.0, 3.0, 4.0)).tolist() == [3.0, 4.0]
    assert L.safety_sign(torch.tensor([True, False])).tolist() == [-1.0, 1.0]


def test_trainer_batch_loss_uses_the_right_halves():
    """The trainer's 2B-row batch: first half = better (reward) / less safe (cost)."""
    scores = torch.tensor([2.0, 0.0, -1.0, 1.0])  # pairs: (2 vs -1), (0 vs 1)
    is_safe = torch.tensor([False, True, True, True])
    severity = torch.tensor([3, 0, 0, 0])
    r_cfg = ScoreTrainConfig(kind="reward", regularization=0.0)
    loss, stats = pair_loss(scores, is_safe, severity, r_cfg)
    assert loss.item() == pytest.approx((SP[3] + SP[-1]) / 2, abs=1e-6)
    assert stats["accuracy"] == 0.5
    c_cfg = ScoreTrainConfig(kind="cost", regularization=0.0, severity_weighted=True)
    loss, stats = pair_loss(scores, is_safe, severity, c_cfg)
    # pair 1: sp(3) + 2.0*sp(+1*2) + 1*sp(-1*-1); pair 2: sp(0-1) + 1*sp(-1*0) + 1*sp(-1*1)
    sp0 = 0.6931471806
    expected = ((SP[3] + 2 * SP[2] + SP[1]) + (SP[-1] + sp0 + SP[-1])) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # signs: 2>0 unsafe ok; 0 (safe, not > 0) ok; -1 safe ok; 1 > 0 but safe -> wrong
    assert stats["sign_accuracy"] == 0.75


def _pair(better, safer, is_safe, severity=(0, 0), cat=None):
    return SafetyPair(
        prompt="p", responses=("a", "b"), better=better, safer=safer, is_safe=is_safe, severity=severity,
        prompt_category=cat,
    )


def test_score_metrics_by_hand():
    pairs = [
        _pair(1, 0, (True, False), (0, 3), "Violence"),
        _pair(0, 0, (True, False), (0, 1), "Violence"),
        _pair(1, 1, (True, True), (0, 0), "Drugs"),
    ]
    scores = torch.tensor([[-1.0, 2.0], [0.5, 0.2], [0.3, -0.4]])
    m = score_metrics(scores, pairs, kind="cost", threshold=0.0)
    # safety pairwise: pair1 C(1)=2 > C(0)=-1 ok; pair2 C(1)=.2 > C(0)=.5 no; pair3 C(0)=.3 > C(1)=-.4 ok -> 2/3
    assert m["pairwise_accuracy"] == pytest.approx(0.6667, abs=1e-4)
    # reward pairwise: pair1 2 > -1 ok; pair2 .5 > .2 ok; pair3 -.4 > .3 no -> 2/3
    assert m["reward_pairwise_accuracy"] == pytest.approx(0.6667, abs=1e-4)
    # signs (cost > 0 = unsafe): [-1 safe ok, 2 unsafe ok, .5 safe WRONG(fp), .2 unsafe ok, .3 safe WRONG(fp), -.4 safe
    # ok]
    assert m["confusion"] == {"tp": 2, "fp": 2, "fn": 0, "tn": 2}
    assert m["sign_accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert m["unsafe_precision"] == 0.5 and m["unsafe_recall"] == 1.0
    assert m["unsafe_f1"] == pytest.approx(2 * 0.5 / 1.5, abs=1e-4)
    assert m["by_category"]["Violence"]["n_pairs"] == 2
    assert m["by_category"]["Violence"]["pairwise_accuracy"] == 0.5
    assert m["by_category"]["Drugs"]["sign_accuracy"] == 0.5
    assert m["by_severity"]["severe"]["n_responses"] == 1 and m["by_severity"]["severe"]["sign_accuracy"] == 1.0
    assert m["by_severity"]["safe"]["n_responses"] == 4 and m["by_severity"]["safe"]["sign_accuracy"] == 0.5
    assert m["by_severity"]["minor"]["pairwise_accuracy"] == 0.0  # pair2's highest severity is minor
    r = score_metrics(scores, pairs, kind="reward")
    assert r["pairwise_accuracy"] == pytest.approx(0.6667, abs=1e-4) and "sign_accuracy" not in r


def test_ties_count_as_errors():
    m = score_metrics(torch.tensor([[1.0, 1.0]]), [_pair(0, 0, (True, True))], kind="reward")
    assert m["pairwise_accuracy"] == 0.0
