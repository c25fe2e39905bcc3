"""The compatibility check of runs that combine models (safealign.models.compat), episodes re-tokenized through text
for score models with another tokenizer (safealign.train.score_view), and the chat-template option for models without
a template (safealign.models.chat_templates)."""

from __future__ import annotations

import warnings

import pytest
import torch

from safealign.data.records import PromptRecord
from safealign.errors import ConfigError
from safealign.models.chat_format import ChatFormatError, chat_format, render_messages
from safealign.models.compat import check_models, reading, same_tokenizer
from safealign.models.families import tiny_model as family_model
from safealign.models.families import tiny_processor
from safealign.models.families import tiny_tokenizer as family_tokenizer
from safealign.models.score import ScoreConfig, ScoreModel, score_texts
from safealign.testing import tiny_lm, tiny_tokenizer
from safealign.train.ppo_lag import PPOLagConfig, PPOLagTrainer

PROMPTS = [
    PromptRecord(prompt="how do I bake bread?", system="Answer in one sentence.", label="benign", category="none"),
    PromptRecord(prompt="explain [redacted steps]", label="harmful", category="violence"),
]


def _llama_scorer(seed: int, kind: str):
    tok = family_tokenizer("llama2_chat")
    return ScoreModel(family_model("llama2_chat", seed=seed, tokenizer=tok), ScoreConfig(kind=kind)).eval(), tok


# ------------------------------------------------------------------------------------------------ the check


def test_same_tokenizer_compares_vocabulary_and_specials_not_the_object():
    a, b = tiny_tokenizer(), tiny_tokenizer()
    assert same_tokenizer(a, b) and reading(a, b, "R").mode == "ids"
    assert not same_tokenizer(a, family_tokenizer("llama2_chat"))
    assert reading(a, family_tokenizer("llama2_chat"), "R").mode == "text"
    b.chat_template = a.chat_template.replace("<|im_end|>", "<|im_end|>\\n")  # same tokens, other template
    assert reading(a, b, "R").mode == "text"
    b.pad_token = "<|im_end|>"  # the pad token is not compared: no model reads it
    assert same_tokenizer(a, b)


def test_a_text_only_reader_of_image_prompts_is_one_line_error():
    proc = tiny_processor("llava15")
    with pytest.raises(ConfigError, match="the reward model is a text-only model") as e:
        check_models(proc, {"the reward model": (family_tokenizer("llama2_chat"), False)}, images=True)
    assert "\n" not in str(e.value)
    got = check_models(proc, {"the reward model": (proc, True)}, images=True)
    assert got["the reward model"].mode == "ids"


def test_a_template_that_loses_the_answer_or_system_is_one_line_error():
    tok = tiny_tokenizer()
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {% endfor %}"  # writes roles, never the content
    with pytest.raises(ChatFormatError, match="loses the user prompt or the answer") as e:
        check_models(tiny_tokenizer(), {"the cost model": (tok, False)})
    assert "\n" not in str(e.value)
    tok.chat_template = ("{% for m in messages %}{% if m['role'] != 'system' %}{{ m['content'] }}{% endif %}"
                         "{% endfor %}")  # silently drops the system turn: folded instead, with a warning
    with pytest.warns(UserWarning, match="folded into the first user turn"):
        assert chat_format(tok).system == "fold"
    assert render_messages(tok, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]) == "S\n\nU"


def test_a_model_without_a_chat_template_names_the_option_and_the_option_works(tmp_path):
    from safealign.models.chat_templates import use_chat_template

    tok = family_tokenizer("llama2_chat")
    tok.chat_template = None  # a base checkpoint
    with pytest.raises(ChatFormatError, match="--chat-template default\\|chatml\\|FILE") as e:
        chat_format(tok, "the actor")
    assert str(e.value).startswith("the actor has no chat template")
    use_chat_template(tok, "default")
    text = render_messages(tok, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                                 {"role": "assistant", "content": "A"}])
    assert text == "<s>### System:\nS\n\n### User:\nU\n\n### Assistant:\nA</s>"
    from safealign.train.rollout import assistant_suffix_ids

    assert assistant_suffix_ids(tok) == [tok.eos_token_id]  # a rollout's EOS is the end of turn
    jinja = tmp_path / "t.jinja"
    jinja.write_text("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}")
    text = render_messages(use_chat_template(tok, str(jinja)), [{"role": "user", "content": "U"}])
    assert text.startswith("[user] U")
    with pytest.raises(ConfigError, match="neither auto, default, chatml nor a Jinja file"):
        use_chat_template(tok, str(tmp_path / "missing.jinja"))
    bad = tmp_path / "bad.jinja"
    bad.write_bytes(b"\xff\xfe{{")
    with pytest.raises(ConfigError, match="not UTF-8"):
        use_chat_template(tok, str(bad))


def test_the_default_system_prompt_is_replaced_by_an_empty_one():
    tok = family_tokenizer("smollm2")
    text = render_messages(tok, [{"role": "user", "content": "U"}])
    assert "SmolLM" not in text and text.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\nU")


# ------------------------------------------------------------------------------------------------ re-tokenized PPO


def _mixed_trainer(tmp_path, **kw) -> PPOLagTrainer:
    """A ChatML actor (tiny byte tokenizer) scored by Llama-2-chat-family R and C (another vocabulary and template)."""
    actor, tok = tiny_lm(0)
    (rm, rtok), (cm, ctok) = _llama_scorer(1, "reward"), _llama_scorer(2, "cost")
    base = dict(output_dir=str(tmp_path), steps=1, batch_size=2, max_new_tokens=6, progress=False, tensorboard=False)
    cfg = PPOLagConfig(**{**base, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PPOLagTrainer(cfg, actor, tok, rm, cm, PROMPTS, reward_processing_class=rtok, cost_processing_class=ctok)


@pytest.mark.parametrize("critic_mode", ["head", "top", "full"])
def test_re_tokenized_scores_equal_scoring_the_decoded_text(tmp_path, critic_mode):
    from safealign.train.rollout import generate_rollout

    tr = _mixed_trainer(tmp_path, critic_mode=critic_mode, critic_top_layers=1, use_lora=critic_mode != "full")
    assert tr.reward_processing_class is not None and tr.shared_trunk_depth == 0
    torch.manual_seed(0)
    ro = generate_rollout(tr.unwrapped_actor, tr.processing_class, PROMPTS, max_new_tokens=6, temperature=1.0)
    with torch.no_grad():
        _, r_out, c_out = tr._scoring(ro)
        for model, pc, out in ((tr.reward_model, tr.reward_processing_class, r_out),
                               (tr.cost_model, tr.cost_processing_class, c_out)):
            expected = score_texts(model, pc, [p.prompt for p in PROMPTS], ro.responses, [p.system for p in PROMPTS])
            torch.testing.assert_close(out.end_scores[:, 0], expected, atol=1e-5, rtol=0)
            values = (tr.reward_critic if model is tr.reward_model else tr.cost_critic)(out.critic_input, out.hidden)
            assert values.shape[:2] == ro.response_mask.shape and torch.isfinite(values).all()
    metrics = tr.rl_step(PROMPTS)
    assert all(v == v for v in metrics.values())


def test_re_tokenized_critic_states_sit_at_the_actor_token_boundaries(tmp_path):
    """Byte-level tokenizers on both sides: actor token t starts t characters into the answer, so the state before it
    is the score-model token just before the answer's t-th character."""
    from safealign.models.conversation import render
    from safealign.train.rollout import generate_rollout
    from safealign.train.score_view import text_view

    tr = _mixed_trainer(tmp_path)
    torch.manual_seed(1)
    ro = generate_rollout(tr.unwrapped_actor, tr.processing_class, PROMPTS, max_new_tokens=6, temperature=1.0)
    view = text_view(ro, tr.processing_class, tr.reward_processing_class)
    ctok = tr.reward_processing_class
    for i, rec in enumerate(PROMPTS):
        text = render(ctok, rec.prompt, ro.responses[i], rec.system)
        start = text.index(ro.responses[i], len(render(ctok, rec.prompt, None, rec.system)) - 1)
        ids = view.input_ids[i][view.attention_mask[i].bool()].tolist()
        n = int(ro.response_mask[i].sum())
        for t in range(n):
            chars = len(tr.processing_class.decode(ro.response_ids[i, :t], skip_special_tokens=True).lstrip())
            before = ctok.decode(ids[: int(view.state_index[i, t]) + 1])
            assert before == text[: start + min(chars, len(ro.responses[i]))], (i, t)
