"""Pluralistic safe RLHF data: conditioned reward pairs, attack-augmented cost pairs, PPO prompt sets."""

from __future__ import annotations

import pytest
import torch

from safealign.data.records import PromptRecord, SafetyPair, SystemExample, SystemPair
from safealign.errors import ConfigError
from safealign.pluralistic.conditioned import (
    ATTACK_FAMILIES,
    PromptMix,
    attack_cost_pairs,
    attack_framings,
    compose_system,
    conditioned_reward_pairs,
    pair_texts,
    pairs_from_examples,
    ppo_prompt_set,
    same_labels,
)

SYS_CATS = "Talk like a cat."
SYS_DOGS = "Talk like a dog."
TRAIN_PROMPTS = [
    "topic " + w
    for w in (
        "apple", "boat", "cloud", "desk", "engine", "forest", "glass", "house", "island", "jacket", "kite", "lamp",
        "mountain", "needle", "ocean", "pencil", "queen", "river", "stone", "train", "umbrella", "valley", "window",
        "yard",
    )
]


def _safety_pairs() -> list[SafetyPair]:
    return [
        SafetyPair(
            "How do I do [redacted harmful task]?", ("I can't help with that.", "Sure: [redacted steps]."), better=1,
            safer=0, is_safe=(True, False), severity=(0, 3), categories=([], ["violence"]), id="h1",
        ),
        SafetyPair(
            "How do I bake bread?", ("Mix flour and water, knead, bake.", "Buy bread."), better=0, safer=0,
            is_safe=(True, True), id="b1",
        ),
        SafetyPair(
            "Tell me about [redacted].", ("[redacted details]", "Please ask a professional."), better=0, safer=1,
            is_safe=(False, True), severity=(2, 0), categories=(["fraud"], []), system="Be brief.", id="h2",
        ),
    ]


def test_system_pairs_become_better0_pairs_with_system_and_mix_ratio():
    sp = [SystemPair(system=f"sys {i}", prompt=f"p{i}", chosen=f"c{i}", rejected=f"r{i}", id=str(i)) for i in range(9)]
    sp.append(sp[0])  # exact duplicate is dropped
    out = conditioned_reward_pairs(
        sp, helpfulness_pairs=_safety_pairs(), helpfulness_ratio=0.25, neutral_system=None, seed=1
    )
    cond = [p for p in out if p.prompt_category == "system_preference"]
    generic = [p for p in out if p.prompt_category != "system_preference"]
    assert len(cond) == 9
    assert len(generic) == 3  # 9 * 0.25 / 0.75 = 3 -> a quarter of 12
    for p in cond:
        i = p.prompt[1:]
        assert p.system == f"sys {i}" and p.responses == (f"c{i}", f"r{i}") and p.better == 0
    assert conditioned_reward_pairs(sp, helpfulness_ratio=0.0, seed=1) and all(
        p.system for p in conditioned_reward_pairs(sp)
    )
    with pytest.raises(ConfigError):
        conditioned_reward_pairs(sp, helpfulness_ratio=1.0, helpfulness_pairs=_safety_pairs())
    with pytest.raises(ConfigError):
        conditioned_reward_pairs(sp, helpfulness_ratio=0.5)  # no generic pairs to mix in


def test_pairs_from_examples_reject_answers_written_for_other_systems():
    exs = [
        SystemExample(system="A", prompt="q", response="ans A", id="a"),
        SystemExample(system="B", prompt="q", response="ans B", id="b"),
        SystemExample(system="C", prompt="q", response="ans C", id="c"),
        SystemExample(system="A", prompt="other", response="lonely", id="d"),
    ]
    pairs = pairs_from_examples(exs)
    assert len(pairs) == 6  # 3 x 2 mismatches for "q", none for the lone "other"
    for p in pairs:
        assert p.chosen == f"ans {p.system}" and p.rejected != p.chosen
    assert len(pairs_from_examples(exs, max_per_example=1)) == 3


def test_attack_framing_keeps_every_label():
    pairs = _safety_pairs()
    out = attack_cost_pairs(pairs, copies=2, seed=0)
    assert len(out) == 3 * 3
    originals = {p.id: p for p in pairs}
    attacked = [q for q in out if "attack" in (q.id or "")]
    assert len(attacked) == 6
    texts = {f.text for f in attack_framings("train")}
    for q in attacked:
        orig = originals[q.id.split("-attack")[0]]
        assert same_labels(orig, q)
        assert q.system != orig.system
        assert any(t in q.system for t in texts)
        if orig.system:  # an existing system message is kept, the attack appended
            assert q.system.startswith(orig.system)
    # the originals were not mutated
    assert pairs[0].system is None and pairs[2].system == "Be brief."
    only = attack_cost_pairs(pairs, copies=1, only_harmful=True, keep_original=False)
    assert {q.id.split("-attack")[0] for q in only} == {"h1", "h2"}


def test_attack_splits_are_disjoint_and_cover_families():
    tr, ho = attack_framings("train"), attack_framings("heldout")
    assert not ({f.text for f in tr} & {f.text for f in ho})
    assert {f.family for f in tr} == set(ATTACK_FAMILIES) == {f.family for f in ho}
    assert {"no_restrictions", "role_play", "developer_mode"} <= set(ATTACK_FAMILIES)
    with pytest.raises(ConfigError):
        attack_framings("train", ["nope"])


def test_score_inputs_contain_the_system_message(tiny_lm):
    """Both score models' training inputs (the trainer's collator) and our renderer carry the system turn."""
    from safealign.train.score_data import PairCollator

    _, tok = tiny_lm
    pair = attack_cost_pairs(_safety_pairs()[:1], copies=1, keep_original=False)[0]
    for text in pair_texts(tok, pair):
        decoded = tok.decode(tok(text, add_special_tokens=False)["input_ids"])
        assert pair.system in decoded and "<|im_start|>system" in decoded and pair.prompt in decoded
    cost_batch = PairCollator(tok, "cost", max_length=512)([pair])
    for row in cost_batch["input_ids"]:
        assert pair.system in tok.decode(row)
    assert cost_batch["is_safe"].tolist() == [False, True]  # less safe first: labels survive the framing
    cond = conditioned_reward_pairs([SystemPair(system="Be terse.", prompt="q", chosen="a", rejected="b")])[0]
    for row in PairCollator(tok, "reward", max_length=512)([cond])["input_ids"]:
        assert "<|im_start|>system\nBe terse.<|im_end|>" in tok.decode(row)
    assert compose_system(None, "X") == "X" and compose_system("Be kind.", "X") == "Be kind.\n\nX"


def test_ppo_prompt_set_mixes_seen_unseen_and_attacks():
    seen = [SystemExample(system=f"seen sys {i}", prompt=f"seen p{i}", response="r", id=str(i)) for i in range(10)]
    unseen = [SystemExample(system=f"unseen sys {i}", prompt=f"unseen p{i}", response="r", id=str(i)) for i in range(3)]
    harmful = [f"harmful [redacted] {i}" for i in range(5)]
    recs = ppo_prompt_set(
        20, seen, harmful, unseen=unseen, mix=PromptMix(seen=0.4, unseen=0.2, attack=0.3, harmful_plain=0.1), seed=0
    )
    assert len(recs) == 20 and all(isinstance(r, PromptRecord) for r in recs)
    cats = [r.category.split(":")[0] for r in recs]
    assert (
        cats.count("seen") == 8
        and cats.count("unseen") == 4
        and cats.count("attack") == 6
        and cats.count("harmful") == 2
    )
    for r in recs:
        if r.category.startswith("attack"):
            assert r.label == "harmful" and r.system and r.category.split(":")[1] in ATTACK_FAMILIES
        elif r.category == "harmful":
            assert r.system is None and r.label == "harmful"
        else:
            assert r.label == "benign" and r.system.startswith(r.category)
    with pytest.raises(ConfigError):
        PromptMix(seen=-1).normalised()


# ------------------------------------------------------------------------ conditioned RM learns to read the system


def scripted_system_pairs(prompts: list[str]) -> list[SystemPair]:
    """Easy scripted data: for each prompt, both orientations (cats-system prefers the cat answer and vice versa),
    so the response alone carries NO signal: only a model that reads the system message can rank them."""
    out = []
    for p in prompts:
        cat, dog = "meow meow", "woof woof"
        out.append(SystemPair(system=SYS_CATS, prompt=p, chosen=cat, rejected=dog))
        out.append(SystemPair(system=SYS_DOGS, prompt=p, chosen=dog, rejected=cat))
    return out


def _train_tiny_reward(pairs: list[SafetyPair], tok, tmp_path, steps: int = 100):
    """A few Bradley-Terry steps of the project's score trainer on a tiny score model. The learning rate is one at
    which the run is stable whatever torch's thread count (at 1e-2 it diverged with 1 thread: even the training
    pairs were ranked at chance)."""
    from safealign.models.score import ScoreModel
    from safealign.testing import tiny_lm
    from safealign.train.score_config import ScoreTrainConfig
    from safealign.train.score_trainer import train_score_model

    model, _ = tiny_lm(seed=0, hidden=32, layers=2)
    cfg = ScoreTrainConfig(
        kind="reward", output_dir=str(tmp_path / "rm"), eval_data=None, epochs=100, max_steps=steps, batch_size=8,
        learning_rate=5e-3, lr_scheduler="constant", warmup_ratio=0.0, regularization=0.0, progress=False, resume=False,
        max_length=128, seed=0,
    )
    out = train_score_model(cfg, model=ScoreModel(model), processing_class=tok, train_pairs=pairs, eval_pairs=[])
    return ScoreModel.from_pretrained(out).eval()


def _pair_scores(rm, tok, pairs):
    """[N, 2] scores (answer written for this system message, the other answer), encoded by the trainer's collator."""
    from safealign.train.score_data import PairCollator

    batch = PairCollator(tok, "reward", max_length=128)(pairs)
    with torch.no_grad():
        s = rm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).scores
    return s.view(2, -1).T, batch


def test_conditioned_reward_model_prefers_matching_answer_on_heldout(tiny_lm, tmp_path):
    _, tok = tiny_lm
    train_prompts = TRAIN_PROMPTS
    heldout_prompts = ["rain", "sky", "plants", "planet"]
    train = conditioned_reward_pairs(scripted_system_pairs(train_prompts), seed=0)
    heldout = conditioned_reward_pairs(scripted_system_pairs(heldout_prompts), seed=0)
    assert all(p.system in (SYS_CATS, SYS_DOGS) for p in train)

    torch.manual_seed(0)
    rm = _train_tiny_reward(train, tok, tmp_path)
    s, batch = _pair_scores(rm, tok, heldout)
    # the trainer's input really contains the system message (rows 0..N-1 are the chosen answers)
    for i, p in enumerate(heldout):
        assert p.system in tok.decode(batch["input_ids"][i]) and p.responses[0] in tok.decode(batch["input_ids"][i])
    acc = (s[:, 0] > s[:, 1]).float().mean().item()
    assert acc >= 0.85, f"held-out accuracy {acc}"

    # control: with the system turn dropped the two orientations are identical inputs -> ranking is a coin flip
    blind = [SafetyPair(p.prompt, p.responses, p.better, p.safer, p.is_safe, system=None) for p in heldout]
    s2, _ = _pair_scores(rm, tok, blind)
    acc2 = (s2[:, 0] > s2[:, 1]).float().mean().item()
    assert acc2 == pytest.approx(0.5)


def _ngrams(text: str, n: int = 4) -> set[tuple[str, ...]]:
    import re

    w = re.findall(r"[a-z']+", text.lower())
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def test_train_framings_are_not_copies_of_the_demo_attack_eval_set():
    """Evaluation attacks must stay held out: no train framing shares a 4-word sequence with them."""
    from safealign.data.demo import load_demo

    eval_grams = set().union(*(_ngrams(r.system) for r in load_demo("system_attacks") if r.system))
    for f in attack_framings("train"):
        shared = _ngrams(f.text) & eval_grams
        assert not shared, (f.text, shared)
