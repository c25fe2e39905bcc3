"""The fine-tuned guard's pieces on a tiny random encoder: the multi-task loss by hand, thresholds for a stated FPR,
per-level thresholds, save/load, frozen layers; and the policy's own threshold."""

from __future__ import annotations

import math
import random

import pytest
import torch

from safealign.guard import Guard
from safealign.guard.decision import GuardVerdict
from safealign.guard.encoder_guard import EncoderGuard, GuardEncoder, encode_items, guard_loss
from safealign.guard.finetune import freeze_lower
from safealign.guard.policy import Policy
from safealign.guard.scoring import operating_threshold, threshold_for_fpr


@pytest.fixture(scope="module")
def tiny_guard() -> EncoderGuard:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from safealign.guard.classifier import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    enc = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=128))
    return EncoderGuard(GuardEncoder(enc, 4), tok, ["a", "b", "c", "d"], temperature=1.3, max_length=64)


def test_guard_loss_by_hand():
    out = {
        "unsafe": torch.tensor([0.0, 2.0]),
        "severity": torch.zeros(2, 3),
        "categories": torch.zeros(2, 2),
    }
    loss = guard_loss(
        out, torch.tensor([1.0, 0.0]), torch.tensor([2, -100]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
        torch.tensor([1.0, 0.0]), pos_weight=2.0,
    )
    bce = (2 * math.log(2) + math.log1p(math.exp(2.0))) / 2  # pos_weight x -log sigmoid(0); -log(1 - sigmoid(2))
    sev = math.log(3)  # uniform over 3 classes, item 2 ignored
    cat = math.log(2)  # mean of two BCEs at logit 0, item 2 masked out
    assert float(loss) == pytest.approx(bce + 0.5 * sev + 0.5 * cat, abs=1e-5)
    plain = (math.log(2) + math.log1p(math.exp(2))) / 2
    assert float(guard_loss(out, torch.tensor([1.0, 0.0]))) == pytest.approx(plain)


def test_threshold_for_fpr_by_hand():
    safe = [0.1, 0.2, 0.3, 0.4, 0.9]
    t = threshold_for_fpr(safe, 0.2)  # one of five may be flagged: just above 0.4
    assert 0.4 < t < 0.4 + 1e-9 and sum(p >= t for p in safe) == 1
    assert threshold_for_fpr(safe, 0.1) > 0.9 and sum(p >= threshold_for_fpr(safe, 0.1) for p in safe) == 0
    assert threshold_for_fpr(safe, 0.0, ceil=0.95) == pytest.approx(0.9, abs=1e-9)
    assert threshold_for_fpr([0.01] * 10, 0.05) == 0.05  # clamped to the floor
    assert threshold_for_fpr([], 0.05) == 0.5


def test_operating_threshold_by_hand():
    safe = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9]
    # FPR <= 0.2 allows 0.85 and 0.9 to be flagged; recall - FPR is best (1.0) at 0.95, which flags no safe item and
    # both unsafe ones: the threshold goes midway between 0.9 (highest unflagged) and 0.95 (lowest flagged)
    assert operating_threshold(safe, [0.95, 0.97], 0.2) == pytest.approx(0.925)
    # one unsafe item below the safe tail: flagging 0.62 (recall 1, FPR 0.4) is beyond the bound; within it the best
    # is again 0.95 (recall 2/3, FPR 0): midway between 0.9 and 0.95
    assert operating_threshold(safe, [0.62, 0.95, 0.97], 0.2) == pytest.approx(0.925)
    # separated classes, FPR 0: midway between the highest safe (0.4) and the lowest unsafe (0.6), not just above 0.4
    assert operating_threshold([0.1, 0.2, 0.3, 0.4], [0.6, 0.9], 0.0) == pytest.approx(0.5)
    # recall would cost more than FPR gains: the FPR threshold's set stays, the threshold midway between 0.8 and 0.82
    assert operating_threshold(safe, [0.82, 0.86, 0.88, 0.91], 0.2) == pytest.approx(0.81)
    assert operating_threshold(safe, [], 0.2) == threshold_for_fpr(safe, 0.2)  # no unsafe items: the FPR threshold
    rng = random.Random(0)
    for _ in range(200):  # the stated FPR stays an upper bound, and recall - FPR never falls below the FPR threshold's
        s, u = [rng.random() for _ in range(rng.randint(1, 30))], [rng.random() for _ in range(rng.randint(1, 30))]
        target = rng.choice([0.0, 0.05, 0.2])
        t, t0 = operating_threshold(s, u, target), threshold_for_fpr(s, target)
        fpr, fpr0 = sum(p >= t for p in s) / len(s), sum(p >= t0 for p in s) / len(s)
        assert fpr <= max(target, fpr0)
        assert sum(p >= t for p in u) / len(u) - fpr >= sum(p >= t0 for p in u) / len(u) - fpr0


def test_encode_items_keeps_order_and_pairs():
    from transformers import AutoTokenizer

    from safealign.guard.classifier import minilm_path

    tok = AutoTokenizer.from_pretrained(minilm_path())
    rows = encode_items(tok, [("hi", "there"), ("alone", None), ("a", "b")], 16)
    assert [tok.decode(r["input_ids"], skip_special_tokens=True) for r in rows] == ["hi there", "alone", "a b"]
    assert max(rows[0]["token_type_ids"]) == 1 and max(rows[1]["token_type_ids"]) == 0


def test_levels_use_their_own_threshold_and_save_load_roundtrip(tiny_guard, tmp_path):
    g = tiny_guard
    g.thresholds = {"prompt": 1e-6, "response": 1 - 1e-6}
    vs = g.classify_batch([("hello", None, None), ("hello", "world", None), ("x", None, None)])
    assert [v.is_unsafe for v in vs] == [True, False, True]
    assert vs[0].severity in ("minor", "moderate", "severe") and vs[0].categories and vs[1].severity == "safe"
    p = g.probabilities([("hello", None), ("hello", "world")])
    assert p[0] == pytest.approx(vs[0].unsafe_prob) and p[1] == pytest.approx(vs[1].unsafe_prob)
    g.save(tmp_path / "g")
    again = Guard.load(tmp_path / "g")  # the public entry point opens either kind
    assert isinstance(again, EncoderGuard) and again.thresholds == g.thresholds and again.temperature == 1.3
    q = again.probabilities([("hello", None), ("hello", "world")])
    assert torch.allclose(p, q, atol=1e-6)


def test_freeze_lower_freezes_embeddings_and_lowest_layers(tiny_guard):
    import copy

    enc = copy.deepcopy(tiny_guard.model.encoder)
    assert freeze_lower(enc, 1) == 1
    assert not any(p.requires_grad for p in enc.embeddings.parameters())
    assert not any(p.requires_grad for p in enc.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in enc.encoder.layer[1].parameters())
    assert freeze_lower(torch.nn.Linear(2, 2), 3) == 0


def test_policy_unsafe_threshold_overrides_the_guards_verdict():
    v = GuardVerdict(unsafe_prob=0.4, is_unsafe=False)
    assert Policy.default().unsafe_threshold is None and Policy.default().action_for(v, "input") == "allow"
    strict = Policy.from_dict({"unsafe_threshold": 0.3})
    assert strict.action_for(v, "input") == "regenerate" and strict.action_for(v, "output") == "regenerate"
    lax = Policy.from_dict({"unsafe_threshold": 0.9})
    assert lax.action_for(GuardVerdict(0.8, True, "severe", ["violence"]), "input") == "allow"
    from safealign.errors import ConfigError

    for bad in (0.0, 1.5, "high", True):
        with pytest.raises(ConfigError, match="unsafe_threshold"):
            Policy.from_dict({"unsafe_threshold": bad})
