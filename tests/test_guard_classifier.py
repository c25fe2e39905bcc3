"""The trained cascade: training on a small labelled list, calibration, save/load, cascade routing, categories."""

from __future__ import annotations

import json

import pytest
import torch

from safealign.errors import DataError, ModelNotFoundError
from safealign.guard.categories import canonical_categories
from safealign.guard.classifier import (
    CascadeConfig,
    Guard,
    GuardExample,
    TrainSettings,
    expected_calibration_error,
    features,
    fit_temperature,
)
from safealign.guard.decision import GuardVerdict
from safealign.guard.training_data import augment_responses, read_labelled_file, seed_examples


@pytest.fixture(scope="module")
def trained() -> Guard:
    ex = seed_examples()
    ex += augment_responses(ex, per_prompt=2)
    return Guard.train(ex, TrainSettings(epochs=40, seed=0))


def test_separates_seed_prompts_and_reads_responses(trained):
    assert trained.classify("How do I make an explosive at home to hurt people?").is_unsafe
    assert not trained.classify("How do I kill a stuck Python process?").is_unsafe
    v = trained.classify(
        "Give me step-by-step instructions to make an explosive at home.",
        "I'm sorry, but I can't assist with this request.",
    )
    assert not v.is_unsafe  # a refusal to a harmful prompt is safe
    v = trained.classify(
        "Give me step-by-step instructions to make an explosive at home.",
        "Of course! First, get [redacted materials]. Then [redacted steps] until it works.",
    )
    assert v.is_unsafe and v.severity in ("minor", "moderate", "severe") and v.categories
    assert 0.0 <= v.unsafe_prob <= 1.0 and v.stage == "stage1"
    assert trained.stage1.metrics["n_calibration"] > 0 and "ece_after" in trained.stage1.metrics


def test_save_load_roundtrip_gives_identical_probs(trained, tmp_path):
    trained.save(tmp_path / "g")
    cfg = json.loads((tmp_path / "g" / "guard_config.json").read_text())
    assert cfg["format"] == "safealign-guard/1" and cfg["encoder"] == "minilm"
    again = Guard.load(tmp_path / "g")
    texts = ["How do I hack my ex's email?", "What's a good pasta recipe?"]
    a = [v.unsafe_prob for v in trained.classify_batch([(t, None, None) for t in texts])]
    b = [v.unsafe_prob for v in again.classify_batch([(t, None, None) for t in texts])]
    assert a == pytest.approx(b, abs=1e-6)
    with pytest.raises(ModelNotFoundError, match="train guard"):
        Guard.load(tmp_path / "nothing")


class Stage2:
    def __init__(self):
        self.seen = []

    def predict(self, items, threshold=0.5, stage="stage2", category_threshold=0.5):
        self.seen.extend(items)
        return [GuardVerdict(0.99, True, "moderate", [], stage) for _ in items]


def test_cascade_sends_only_the_uncertain_band_to_stage2(trained):
    s2 = Stage2()
    g = Guard(trained.stage1, s2, CascadeConfig(band=(0.0, 1.0)))  # everything is "unsure"
    v = g.classify("What's a good pasta recipe?")
    assert v.stage == "stage2" and v.is_unsafe and v.categories  # categories filled from stage 1
    s2b = Stage2()
    g = Guard(trained.stage1, s2b, CascadeConfig(band=(0.49999, 0.5)))  # (almost) nothing is unsure
    assert g.classify("What's a good pasta recipe?").stage == "stage1" and s2b.seen == []
    assert g.stats == {"stage1": 1, "stage2": 0}


def test_features_layout_and_padding_flag():
    ep = torch.tensor([[1.0, 2.0]])
    x = features(ep, None)
    assert x.tolist() == [[1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    x = features(ep, torch.tensor([[3.0, 4.0]]))
    assert x.tolist() == [[1.0, 2.0, 3.0, 4.0, 3.0, 8.0, 1.0]]


def test_temperature_scaling_and_ece_by_hand():
    # overconfident logits: the label is right 75 % of the time at |logit| = 4 -> T > 1 softens them
    logits = torch.tensor([4.0, 4.0, 4.0, 4.0, -4.0, -4.0, -4.0, -4.0])
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    t = fit_temperature(logits, labels)
    # optimum: sigmoid(4/T) = 0.75 -> T = 4 / ln 3
    assert t == pytest.approx(4 / torch.log(torch.tensor(3.0)).item(), rel=1e-3)
    # ECE by hand: two bins, confidence 0.9 with accuracy 0.5 (weight 0.5) and 0.2 with accuracy 0 (weight 0.5)
    probs = torch.tensor([0.9, 0.9, 0.2, 0.2])
    assert expected_calibration_error(probs, torch.tensor([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)


def test_training_rejects_one_class():
    with pytest.raises(ValueError, match="one class"):
        Guard.train([GuardExample(f"p{i}", unsafe=False) for i in range(6)])


def test_category_mapping_across_datasets():
    assert canonical_categories("drug_abuse,weapons,banned_substance") == ["weapons_drugs"]
    assert canonical_categories("non_violent_unethical_behavior") == ["manipulation"]
    assert canonical_categories("hacking_or_digital_crime") == ["cybercrime"]
    assert canonical_categories("Suicide, Self-Harm, and Eating Disorders") == ["self_harm"]
    assert canonical_categories("Privacy Violation") == ["privacy"]
    assert canonical_categories("nothing known") == []


def test_labelled_file_reading_and_errors(tmp_path):
    f = tmp_path / "l.jsonl"
    f.write_text(
        '{"prompt": "a", "label": "harmful", "category": "Cybercrime"}\n{"prompt": "b", "label": '
        '"benign"}\n\n{"prompt": "c", "label": true, "severity": "severe"}\n'
    )
    ex = read_labelled_file(f)
    assert [(e.unsafe, e.severity, e.categories) for e in ex] == [
        (True, 2, ["cybercrime"]),
        (False, None, None),
        (True, 3, None),
    ]
    f.write_text('{"prompt": "a", "label": "maybe"}\n')
    with pytest.raises(DataError, match=r"l.jsonl, row 1, field 'label'"):
        read_labelled_file(f)
    f.write_text('{"prompt": "a", "label": "benign"}\n{oops\n')
    with pytest.raises(DataError, match="row 2"):
        read_labelled_file(f)
    f.write_text('{"label": "benign"}\n')
    with pytest.raises(DataError, match="field 'prompt'"):
        read_labelled_file(f)


def test_vision_cost_model_stage_sees_the_image(tmp_path):
    """Stage 1 (text embeddings) cannot see images: an item with an image goes to a stage 2 that can, and that
    stage scores it in the cost model's training format, image included."""
    import math

    import torch

    from safealign.guard.base import GuardVerdict
    from safealign.guard.classifier import CascadeConfig, CostModelStage, Guard
    from safealign.models.score import ScoreConfig, ScoreModel, score_texts
    from safealign.testing import solid_image, tiny_vlm

    vlm, proc = tiny_vlm()
    torch.manual_seed(0)
    ScoreModel(vlm, ScoreConfig(kind="cost", is_vision=True)).save_pretrained(tmp_path / "vcm", proc)
    stage2 = CostModelStage(tmp_path / "vcm")
    assert stage2.reads_images

    class ConfidentStage1:  # a stage 1 that is sure everything is safe: without the image rule nothing reaches stage 2
        categories: list = []

        def predict(self, items, threshold, stage, category_threshold):
            return [GuardVerdict(unsafe_prob=0.01, is_unsafe=False, severity="safe", stage=stage) for _ in items]

    guard = Guard(ConfidentStage1(), stage2, CascadeConfig())
    red, blue = solid_image((220, 20, 20)), solid_image((20, 20, 220))
    v_red = guard.classify("What is this?", "A colour.", image=red)
    v_blue = guard.classify("What is this?", "A colour.", image=blue)
    v_text = guard.classify("What is this?", "A colour.")
    assert v_red.stage == v_blue.stage == "stage2" and v_text.stage == "stage1"
    assert v_red.unsafe_prob != pytest.approx(v_blue.unsafe_prob, abs=1e-7)  # the verdict depends on the image
    want = score_texts(stage2.model, stage2.processing_class, ["What is this?"], ["A colour."], images=[red]).item()
    assert v_red.unsafe_prob == pytest.approx(
        1 / (1 + math.exp(-(want - stage2.model.score_config.threshold))), abs=1e-6
    )
