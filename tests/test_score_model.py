"""Score model read-out: padding invariance (left / right / inside a longer batch), the batched scoring helpers,
the cached-trunk path equal to the full forward, image+text scoring, one-call reload."""

from __future__ import annotations

import pytest
import torch

from safealign.data.records import SafetyPair
from safealign.models.conversation import encode_conversations, render
from safealign.models.score import ScoreConfig, ScoreModel, load_score_model, score_pairs, score_texts
from safealign.testing import solid_image, tiny_lm, tiny_vlm
from safealign.train.score_config import ScoreTrainConfig
from safealign.train.score_data import PairCollator
from safealign.train.score_trainer import CachedCollator, CachedTopScorer, cache_trunk_states


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine threads oversubscribe badly."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model(seed=0, kind="cost"):
    m, tok = tiny_lm(seed)
    torch.manual_seed(seed + 100)
    return ScoreModel(m, ScoreConfig(kind=kind)).eval(), tok


PROMPTS = ["How do I bake bread?", "hi", "Tell me about [redacted] please, in detail."]
ANSWERS = ["Mix flour, water and yeast; let it rise; bake at 220C.", "hello!", "I can't help with that."]


def test_same_pair_scores_identically_left_right_and_in_longer_batch():
    model, tok = _model()
    alone = [score_texts(model, tok, [p], [a]).item() for p, a in zip(PROMPTS, ANSWERS)]
    with torch.no_grad():
        for side in ("left", "right"):
            enc = encode_conversations(tok, PROMPTS, ANSWERS, padding_side=side)
            assert enc["attention_mask"].sum(1).unique().numel() == 3  # really padded to different lengths
            assert (enc["attention_mask"][:, 0 if side == "left" else -1] == 0).any()
            got = model(**enc).scores.tolist()
            assert got == pytest.approx(alone, abs=1e-5), side
    # inside a batch of much longer sequences
    long_p = ["word " * 40] * 2
    batch = score_texts(model, tok, long_p + PROMPTS[:1], ["x " * 20] * 2 + ANSWERS[:1], batch_size=8)
    assert batch[-1].item() == pytest.approx(alone[0], abs=1e-5)


def test_score_is_read_at_last_real_token_not_at_padding():
    model, tok = _model()
    enc = encode_conversations(tok, PROMPTS, ANSWERS, padding_side="right")
    with torch.no_grad():
        out = model(**enc)
    lengths = enc["attention_mask"].sum(1)
    assert out.end_index.tolist() == (lengths - 1).tolist()
    rows = torch.arange(3)
    assert torch.equal(out.end_scores[:, 0], out.token_scores[rows, lengths - 1, 0])
    shortest = int(lengths.argmin())
    # reading position -1 (the reference multimodal bug) would read a pad token for the shortest row
    assert out.token_scores[shortest, -1, 0].item() != pytest.approx(out.scores[shortest].item(), abs=1e-6)


def test_system_turn_and_none_response_are_rendered():
    _, tok = _model()
    text = render(tok, "q", "a", system="be brief")
    assert text.index("system\nbe brief") < text.index("user\nq") < text.index("assistant\na")
    assert "assistant" not in render(tok, "q", None)


def test_score_pairs_shape_and_order():
    model, tok = _model()
    pairs = [
        SafetyPair(prompt=p, responses=(a, "no"), better=0, safer=1, is_safe=(True, True))
        for p, a in zip(PROMPTS, ANSWERS)
    ]
    s = score_pairs(model, tok, pairs, batch_size=2)
    assert s.shape == (3, 2)
    assert s[1, 0].item() == pytest.approx(score_texts(model, tok, [PROMPTS[1]], [ANSWERS[1]]).item(), abs=1e-5)
    assert s[2, 1].item() == pytest.approx(score_texts(model, tok, [PROMPTS[2]], ["no"]).item(), abs=1e-5)


@pytest.mark.parametrize("k", [0, 1])
def test_cached_trunk_path_equals_full_forward(k):
    model, tok = _model()
    pairs = [
        SafetyPair(prompt=p, responses=(a, a + " more"), better=1, safer=1, is_safe=(False, True), severity=(2, 0))
        for p, a in zip(PROMPTS, ANSWERS)
    ]
    cfg = ScoreTrainConfig(kind="cost", eval_batch_size=2)
    states = cache_trunk_states(model, tok, pairs, "cost", k, cfg, enabled_bar=False)
    batch = CachedCollator("cost")(list(zip(pairs, states)))
    with torch.no_grad():
        cached = CachedTopScorer(model, k)(batch["hidden"], batch["attention_mask"]).scores
        full_batch = PairCollator(tok, "cost")(pairs)
        full = model(full_batch["input_ids"], full_batch["attention_mask"]).scores
    assert cached.tolist() == pytest.approx(full.tolist(), abs=1e-5)
    assert (
        batch["is_safe"].tolist() == full_batch["is_safe"].tolist() == [False] * 3 + [True] * 3
    )  # first half = less safe
    assert batch["severity"].tolist() == [2, 2, 2, 0, 0, 0]


def test_vision_score_model_sees_the_image_and_reloads(tmp_path):
    vlm, proc = tiny_vlm()
    torch.manual_seed(0)
    model = ScoreModel(vlm, ScoreConfig(kind="cost", is_vision=True)).eval()
    red, blue = solid_image((220, 20, 20)), solid_image((20, 20, 220))
    s = score_texts(model, proc, ["What is this?"] * 3, ["A colour.", "A colour.", "ok"], images=[red, blue, red])
    assert s.shape == (3,)
    assert s[0].item() != pytest.approx(s[1].item(), abs=1e-7)  # the image changes the score
    # padding invariance with images too: the short answer alone vs inside the batch
    alone = score_texts(model, proc, ["What is this?"], ["ok"], images=[red])
    assert alone.item() == pytest.approx(s[2].item(), abs=1e-5)
    model.save_pretrained(tmp_path / "vcm", proc)
    m2, p2 = load_score_model(tmp_path / "vcm")
    assert m2.score_config.is_vision and m2.score_config.kind == "cost"
    s2 = score_texts(m2, p2, ["What is this?"] * 3, ["A colour.", "A colour.", "ok"], images=[red, blue, red])
    assert s2.tolist() == pytest.approx(s.tolist(), abs=1e-6)


@pytest.mark.slow
def test_default_backbone_scores_with_both_paddings(default_model_dir):
    from safealign.models.loading import load_tokenizer

    model = ScoreModel.from_backbone("default", ScoreConfig(kind="reward")).eval()
    tok = load_tokenizer("default", padding_side="right")
    alone = score_texts(model, tok, PROMPTS[:1], ANSWERS[:1]).item()
    enc = encode_conversations(tok, PROMPTS, ANSWERS, padding_side="left")
    with torch.no_grad():
        left = model(**enc).scores[0].item()
    assert left == pytest.approx(alone, abs=1e-4)


def test_trunk_cache_file_is_reused_across_runs_and_kinds(tmp_path):
    model, tok = _model()
    pairs = [
        SafetyPair(prompt=p, responses=(a, "no"), better=0, safer=1, is_safe=(False, True), severity=(1, 0))
        for p, a in zip(PROMPTS, ANSWERS)
    ]
    cfg = ScoreTrainConfig(kind="reward", eval_batch_size=4, trunk_cache=str(tmp_path / "trunk.pt"))
    first = cache_trunk_states(model, tok, pairs, "reward", 1, cfg, enabled_bar=False)
    assert (tmp_path / "trunk.pt").exists()

    def boom(*a, **kw):
        raise AssertionError("the trunk must not run again")

    model.backbone.forward = boom
    again = cache_trunk_states(
        model, tok, pairs, "cost", 1, cfg, enabled_bar=False
    )  # cost: first = less safe = response 0 here too
    for (a1, b1), (a2, b2) in zip(first, again):
        # reward's first is the better response (0), cost's first the less safe (0): same texts, same states
        assert torch.equal(a1, a2) and torch.equal(b1, b2)
