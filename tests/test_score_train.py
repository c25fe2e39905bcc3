"""End-to-end training of reward / cost models on tiny random models (text and LLaVA-style), save/reload to
identical scores, contradictory pairs, LoRA, frozen vision tower, and resume after an interruption."""

from __future__ import annotations

import json

import pytest
import torch

from safealign.data.records import SafetyPair
from safealign.errors import DataError
from safealign.models.score import ScoreConfig, ScoreModel, load_score_model, score_pairs
from safealign.testing import solid_image, tiny_lm, tiny_vlm
from safealign.train import score_trainer
from safealign.train.common import latest_checkpoint
from safealign.train.score_config import ScoreTrainConfig
from safealign.train.score_trainer import train_score_model
from safealign.utils.jsonl import read_jsonl

REFUSE = "I can't help with that; it could hurt someone."
COMPLY = "Sure: [redacted steps], then [redacted steps]."


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine threads oversubscribe badly."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def text_pairs(n: int = 12) -> list[SafetyPair]:
    out = []
    for i in range(n):
        first_safe = i % 2 == 0
        responses = (REFUSE, COMPLY) if first_safe else (COMPLY, REFUSE)
        safe_idx = 0 if first_safe else 1
        sev = (0, 2 + i % 2) if first_safe else (2 + i % 2, 0)
        out.append(
            SafetyPair(
                prompt=f"How do I do harmful thing {i}?", responses=responses, better=1 - safe_idx, safer=safe_idx,
                is_safe=(first_safe, not first_safe), severity=sev, prompt_category=["Violence", "Drugs"][i % 2],
            )
        )
    return out


def _cfg(tmp_path, **kw) -> ScoreTrainConfig:
    base = dict(
        output_dir=str(tmp_path / "out"), epochs=2, batch_size=4, learning_rate=5e-3, progress=False, eval_data=None,
        lr_scheduler="constant", warmup_ratio=0.0, seed=0,
    )
    base.update(kw)
    return ScoreTrainConfig(**base)


def _fresh(seed=0, kind="cost"):
    m, tok = tiny_lm(seed)
    return ScoreModel(m, ScoreConfig(kind=kind)), tok


@pytest.mark.parametrize("kind", ["reward", "cost"])
def test_tiny_text_model_trains_and_reloads_to_identical_scores(tmp_path, kind):
    pairs = text_pairs()
    model, tok = _fresh(kind=kind)
    cfg = _cfg(tmp_path, kind=kind, epochs=4, severity_weighted=(kind == "cost"))
    out = train_score_model(cfg, model, tok, pairs, pairs[:4])
    steps = [r for r in read_jsonl(out / "metrics.jsonl") if "step" in r]
    assert len(steps) == 4 * 3  # 12 pairs / batch 4 = 3 steps per epoch
    assert steps[-1]["loss"] < steps[0]["loss"]  # it learns this separable toy task
    ev = json.loads((out / "eval_metrics.json").read_text())
    assert ev["kind"] == kind and ev["pairwise_accuracy"] == 1.0
    if kind == "cost":
        assert ev["sign_accuracy"] == 1.0  # refusals < 0 < compliance
    before = score_pairs(model, tok, pairs)
    m2, p2 = load_score_model(out)
    assert m2.score_config.kind == kind
    assert torch.allclose(score_pairs(m2, p2, pairs), before, atol=1e-6)
    assert not list(out.glob("checkpoint-*")) and not list(out.parent.glob(".tmp-*"))  # final folder only


def test_contradictory_pairs_are_refused_or_skipped_for_cost(tmp_path):
    pairs = text_pairs(8)
    bad = SafetyPair(prompt="x", responses=("a", "b"), better=0, safer=0, is_safe=(False, True), severity=(2, 0))
    assert bad.is_contradictory()
    model, tok = _fresh()
    with pytest.raises(DataError, match="contradictory"):
        train_score_model(_cfg(tmp_path, kind="cost"), model, tok, pairs + [bad])
    out = train_score_model(_cfg(tmp_path, kind="cost", skip_invalid=True, epochs=1), model, tok, pairs + [bad])
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["skipped_pairs"] == 1 and summary["pairs"] == 8
    # a reward model has no safety-sign term: the pair's helpfulness preference is still usable
    # (trained here with gradient checkpointing on, which must not stop the gradients)
    model, tok = _fresh(kind="reward")
    emb = model.backbone.embed_tokens.weight.detach().clone()
    out = train_score_model(
        _cfg(tmp_path, kind="reward", epochs=1, output_dir=str(tmp_path / "r"), gradient_checkpointing=True),
        model,
        tok,
        pairs + [bad],
    )
    assert json.loads((out / "train_summary.json").read_text())["pairs"] == 9
    assert model.backbone.gradient_checkpointing and not torch.equal(model.backbone.embed_tokens.weight, emb)


def test_lora_and_top_layers_train_only_what_they_should(tmp_path):
    pairs = text_pairs(8)
    model, tok = _fresh()
    frozen_embed = model.backbone.embed_tokens.weight.detach().clone()
    out = train_score_model(_cfg(tmp_path, train_mode="lora", top_layers=1, lora_r=4, epochs=1), model, tok, pairs)
    s = json.loads((out / "train_summary.json").read_text())
    assert 0 < s["params"]["trainable"] < s["params"]["total"] / 10
    m2, _ = load_score_model(out)  # LoRA is merged on save: plain weights, same scores
    assert torch.allclose(score_pairs(m2, tok, pairs), score_pairs(model, tok, pairs), atol=1e-5)
    assert torch.equal(m2.backbone.embed_tokens.weight, frozen_embed)

    model, tok = _fresh()
    layer0 = model.backbone.layers[0].self_attn.q_proj.weight.detach().clone()
    layer1 = model.backbone.layers[1].self_attn.q_proj.weight.detach().clone()
    train_score_model(
        _cfg(tmp_path, train_mode="top", top_layers=1, cache_trunk=True, epochs=2, output_dir=str(tmp_path / "top")),
        model,
        tok,
        pairs,
    )
    assert torch.equal(model.backbone.layers[0].self_attn.q_proj.weight, layer0)  # below the top: frozen
    assert not torch.equal(model.backbone.layers[1].self_attn.q_proj.weight, layer1)  # the top layer trained


def test_tiny_llava_trains_with_frozen_vision_tower_and_reloads(tmp_path):
    vlm, proc = tiny_vlm()
    model = ScoreModel(vlm, ScoreConfig(kind="cost", is_vision=True))
    imgs = [solid_image((200, 30, 30)), solid_image((30, 200, 30))]
    pairs = [
        SafetyPair(
            prompt="What should I do with this?", responses=p.responses, better=p.better, safer=p.safer,
            is_safe=p.is_safe, severity=p.severity, images=[imgs[i % 2]],
        )
        for i, p in enumerate(text_pairs(8))
    ]
    tower = {n: p.detach().clone() for n, p in model.backbone.vision_tower.named_parameters()}
    lm_before = model.backbone.language_model.layers[0].mlp.up_proj.weight.detach().clone()
    out = train_score_model(_cfg(tmp_path, kind="cost", epochs=2), model, proc, pairs, pairs[:4])
    for n, p in model.backbone.vision_tower.named_parameters():
        assert torch.equal(p, tower[n]), n
    assert not torch.equal(model.backbone.language_model.layers[0].mlp.up_proj.weight, lm_before)
    m2, p2 = load_score_model(out)
    assert m2.score_config.is_vision
    assert torch.allclose(score_pairs(m2, p2, pairs), score_pairs(model, proc, pairs), atol=1e-5)


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    pairs = text_pairs(12)
    # reference: an uninterrupted run of 6 steps
    model, tok = _fresh()
    ref_out = train_score_model(_cfg(tmp_path, epochs=2, output_dir=str(tmp_path / "ref")), model, tok, pairs)
    ref_scores = score_pairs(load_score_model(ref_out)[0], tok, pairs)

    # the same run, interrupted during step 5 (checkpoints every 2 steps)
    calls = {"n": 0}
    real = score_trainer.pair_loss

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(score_trainer, "pair_loss", flaky)
    out_dir = tmp_path / "run"
    model, tok = _fresh()
    with pytest.raises(KeyboardInterrupt):
        train_score_model(_cfg(tmp_path, epochs=2, save_every=2, output_dir=str(out_dir)), model, tok, pairs)
    cp = latest_checkpoint(out_dir)
    assert cp is not None and cp.name == "checkpoint-4"
    assert json.loads((cp / "trainer_state.json").read_text())["batch_in_epoch"] == 1  # epoch 2, 1 batch done
    monkeypatch.setattr(score_trainer, "pair_loss", real)

    model, tok = _fresh()  # a fresh process would start from the untrained backbone again
    out = train_score_model(_cfg(tmp_path, epochs=2, save_every=2, output_dir=str(out_dir)), model, tok, pairs)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-4") and summary["steps"] == 6
    steps = [r["step"] for r in read_jsonl(out / "metrics.jsonl") if "step" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert torch.allclose(score_pairs(load_score_model(out)[0], tok, pairs), ref_scores, atol=1e-5)


def test_a_checkpoint_of_another_format_is_a_one_line_error(tmp_path):
    """A checkpoint folder without this trainer's files (an older layout: trainable.safetensors) is not resumed
    with a traceback but refused in one line."""
    from safealign.errors import ConfigError

    out_dir = tmp_path / "run"
    old = out_dir / "checkpoint-2"
    old.mkdir(parents=True)
    (old / "trainer_state.json").write_text(json.dumps({"step": 2, "epoch": 0, "batch_in_epoch": 2}))
    (old / "trainable.safetensors").write_bytes(b"")
    model, tok = _fresh()
    with pytest.raises(ConfigError, match=r"checkpoint-2 has no model_trainable\.pt"):
        train_score_model(_cfg(tmp_path, epochs=1, output_dir=str(out_dir)), model, tok, text_pairs(4))


def test_invalid_rows_of_the_file_count_as_skipped_and_eval_data_follows_skip_invalid(tmp_path):
    """Rows the reader leaves out with skip_invalid (data.io) are counted with the unusable pairs; the held-out
    pairs are read under the same skip_invalid (no silent drop there either)."""
    from safealign.data.io import write_jsonl

    good = tmp_path / "good.jsonl"
    write_jsonl(good, text_pairs(8))
    broken = tmp_path / "train.jsonl"
    lines = good.read_text().splitlines()
    same = json.loads(lines[0])
    same["responses"] = [same["responses"][0]] * 2  # both responses identical: no preference
    broken.write_text("\n".join(lines + ['{"prompt": "x"}', "{not json", json.dumps(same)]) + "\n")
    model, tok = _fresh(kind="reward")
    with pytest.raises(DataError, match="row 9"):
        train_score_model(_cfg(tmp_path, kind="reward", data=str(broken)), model, tok)
    out = train_score_model(_cfg(tmp_path, kind="reward", data=str(broken), eval_data=str(good), skip_invalid=True,
                                 epochs=1), model, tok)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["pairs"] == 8 and summary["skipped_pairs"] == 3
    assert summary["skipped"] == {"invalid_rows": 2, "unusable_pairs": 1} and summary["skipped_eval_pairs"] == 0
    with pytest.raises(DataError, match="row 9"):  # held-out data with a bad row and skip_invalid off: an error
        train_score_model(_cfg(tmp_path, kind="reward", data=str(good), eval_data=str(broken)), model, tok)
    out = train_score_model(_cfg(tmp_path, kind="reward", data=str(good), eval_data=str(broken), skip_invalid=True,
                                 epochs=1, output_dir=str(tmp_path / "e")), model, tok)
    assert json.loads((out / "train_summary.json").read_text())["skipped_eval_pairs"] == 3
