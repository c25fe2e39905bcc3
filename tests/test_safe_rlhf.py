"""The Safe RLHF recipe end to end on a tiny random model: warm start, a round, the table, resume per stage."""

from __future__ import annotations

import json

import pytest

from safealign.recipes.safe_rlhf_config import SafeRLHFConfig
from safealign.train.round_data import lookalike_score_pairs
from safealign.train.warm_start import (
    WarmStartStats,
    best_of_rows,
    refusal_rows,
    training_prompts,
    trim_to_sentence,
)


def test_lookalike_score_pairs_never_prefer_a_benign_refusal() -> None:
    pairs = lookalike_score_pairs("train")
    harmful = [p for p in pairs if not p.is_safe[0]]
    benign = [p for p in pairs if p.is_safe[0]]
    assert len(harmful) == len(benign) == 266
    assert all(p.better == 0 and p.safer == 1 and p.is_safe == (False, True) and p.severity[0] >= 1 for p in harmful)
    # a benign prompt: the helpful answer is more helpful AND no less safe than a refusal
    assert all(p.better == 0 and p.safer == 0 and p.is_safe == (True, True) for p in benign)


def test_training_prompts_are_train_split_only() -> None:
    from safealign.data.lookalikes import load_answers

    harmful, benign = training_prompts(None, 20, 10, seed=1)
    assert len(harmful) == 20 and len(benign) == 10
    assert {p.label for p in harmful} == {"harmful"} and {p.label for p in benign} == {"benign"}
    held = {a.prompt_id for a in load_answers(split="heldout")}
    assert not {p.id for p in harmful + benign} & held
    assert any(p.id.startswith(("nt-", "bl-")) for p in harmful)  # round-robin reaches the no-trigger set


def test_refusal_rows_use_the_written_refusal_first() -> None:
    from safealign.data.lookalikes import load_pairs
    from safealign.judges.refusal import is_refusal
    from safealign.train.warm_start import written_refusals

    pair = next(p for p in load_pairs(split="train") if p.label == "harmful")
    other = pair.to_prompt_record()
    other.id, other.category = "advbench:1", "self harm"
    rows = refusal_rows([pair.to_prompt_record(), other])
    assert rows[0]["response"] == written_refusals()[pair.id]
    assert "988" in rows[1]["response"]  # the self-harm refusal points to a crisis line
    assert all(is_refusal(r["response"]) for r in rows)


def test_trim_to_sentence() -> None:
    text, cut = trim_to_sentence("A first sentence that is long enough to keep. Then a cut-off sec")
    assert (text, cut) == ("A first sentence that is long enough to keep.", True)
    assert trim_to_sentence("Short. Cut") == ("Short. Cut", False)  # would leave too little
    assert trim_to_sentence("Ends properly.") == ("Ends properly.", False)


def test_best_of_rows_skips_refusals_and_flagged_answers() -> None:
    from safealign.data.records import PromptRecord
    from safealign.guard.decision import GuardVerdict

    prompts = [PromptRecord("p1", label="benign", id="a"), PromptRecord("p2", label="benign", id="b")]
    answers = iter(["I can't help with that.", "A long helpful answer.", "BAD answer.", "I won't."])

    def generate(batch):  # noqa: ANN001
        return [next(answers) for _ in batch]

    def reward(batch, texts):  # noqa: ANN001 - refusals and the flagged answer score highest: they must still lose
        return [10.0 if ("can't" in t or "BAD" in t) else float(len(t)) for t in texts]

    class Guard:
        def classify_batch(self, items):  # noqa: ANN001
            return [GuardVerdict(0.9 if "BAD" in r else 0.1, "BAD" in r, "safe", []) for _, r, _ in items]

    rows = best_of_rows(prompts, generate, reward, n=2, guard=Guard(), chunk=1)
    assert [(r["id"], r["response"]) for r in rows] == [("a", "A long helpful answer.")]  # p2: nothing usable
    stats = WarmStartStats()
    answers = iter(["I can't help with that.", "A long helpful answer.", "BAD answer.", "ok."])
    rows = best_of_rows(prompts, generate, reward, n=2, guard=Guard(), chunk=2, stats=stats)
    assert [r["response"] for r in rows] == ["A long helpful answer.", "ok."]
    assert (stats.samples, stats.refusals_passed_over, stats.flagged_passed_over) == (4, 1, 1)


def test_config_validation() -> None:
    from safealign.errors import ConfigError

    with pytest.raises(ConfigError):
        SafeRLHFConfig(rounds=0, warm_start=False).validate()
    with pytest.raises(ConfigError):
        SafeRLHFConfig(samples=0).validate()


@pytest.fixture(scope="module")
def tiny_guard(tmp_path_factory):  # noqa: ANN001
    from safealign.guard.classifier import Guard, TrainSettings
    from safealign.guard.training_data import seed_examples

    g = Guard.train(seed_examples()[:60], TrainSettings(epochs=5, seed=0))
    path = tmp_path_factory.mktemp("guard") / "guard"
    g.save(path)
    return path


def test_recipe_end_to_end_and_resume(tmp_path, tiny_guard) -> None:  # noqa: ANN001
    from transformers import AutoTokenizer

    from safealign.models.score import ScoreConfig, ScoreModel
    from safealign.recipes.safe_rlhf import SafeRLHFRun
    from safealign.testing import save_tiny_lm, tiny_lm

    model = save_tiny_lm(tmp_path / "tiny")
    tok = tiny_lm(0)[1]
    for kind in ("reward", "cost"):  # round 0's score models are given (their training is tested elsewhere)
        ScoreModel(tiny_lm(0)[0], ScoreConfig(kind=kind, base_model=str(model))).save_pretrained(tmp_path / kind, tok)
    # the policy is run with a chat template of the user's (not the one saved with the model): every stage that
    # trains or saves a policy must use it
    template = tmp_path / "user.jinja"
    template.write_text(
        "{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
    )
    cfg = SafeRLHFConfig(
        model=str(model), output_dir=str(tmp_path / "run"), guard=str(tiny_guard), chat_template=str(template),
        reward_model=str(tmp_path / "reward"), cost_model=str(tmp_path / "cost"), rounds=1, warm_harmful=4,
        warm_benign=4, best_of=2, sample_tokens=8, sft_epochs=1, sft_batch_size=4, sft_max_length=192,
        round_harmful=4, round_benign=4, samples=2, score_epochs=1, score_max_length=128, ppo_steps=2,
        ppo_batch_size=4, ppo_tokens=6, eval_lookalike=2, eval_tokens=6, batch_size=4, progress=False,
    )
    seen: list[str] = []
    summary = SafeRLHFRun(cfg, progress=lambda what, d, t: seen.append(what)).run()
    out = tmp_path / "run"
    state = json.loads((out / "state.json").read_text())["done"]
    assert list(state) == ["round0/scores", "eval/base", "round0/warm", "round0/eval", "round1/sample",
                           "round1/scores", "round1/ppo", "round1/eval"]
    assert [r["round"] for r in summary["rounds"]] == ["base", "round0", "round1"]
    last = summary["rounds"][-1]
    assert last["J_C"] is not None and last["lambda"] is not None and last["n_harmful"] == 3  # 2 pair + 1 no-trigger
    assert (out / "round1" / "policy" / "config.json").exists() and (out / "round0" / "policy").exists()
    for folder in ("round0/policy", "round1/ppo/actor", "round1/policy"):
        assert AutoTokenizer.from_pretrained(out / folder).chat_template == template.read_text(), folder
    assert json.loads((out / "rounds.json").read_text()) == summary["rounds"]
    warm = [json.loads(x) for x in (out / "round0" / "warm_rows.jsonl").read_text().splitlines()]
    assert sum(r["kind"] == "refusal" for r in warm) == 4
    # the round's cost pairs hold the policy's own answers, judged; the score models were retrained on them
    assert (out / "round1" / "cost_pairs.jsonl").read_text().strip()
    assert (out / "round1" / "cost" / "score_config.json").exists()
    # resume: a second run with one more round does only the new round's stages
    seen.clear()
    cfg2 = cfg.replace(rounds=2)
    summary2 = SafeRLHFRun(cfg2, progress=lambda what, d, t: seen.append(what)).run()
    stages = [w for w in seen if "/" in w]
    assert stages == ["round2/sample", "round2/scores", "round2/ppo", "round2/eval"]
    assert [r["round"] for r in summary2["rounds"]] == ["base", "round0", "round1", "round2"]
