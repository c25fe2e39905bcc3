"""Every path of safealign around each real model family (safealign/models/family_fixtures/*.json): a tiny random model
with the family's tokenizer settings, special tokens and published chat template runs score-data building, a score-
model step, rollout + end-of-turn scoring, SFT/DPO/ORPO rows, the judge prompt and evaluation generation. Each test
asserts that a marker answer and a marker system message reach the token ids; for a template without a system turn
(Gemma-2), that the documented policy applied: the system text folded into the first user turn, ahead of the prompt."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pytest
import torch

from safealign.data.records import PromptRecord, SafetyPair
from safealign.models.chat_format import FOLD_SEPARATOR, ChatFormat, chat_format
from safealign.models.families import family_names, is_vision, load_family, tiny_image, tiny_model, tiny_processor
from safealign.models.families import tiny_tokenizer as family_tokenizer

SYS, USER, ANS = "SYSTEMMARKER", "USERMARKER", "ANSWERMARKER"
FAMILIES = family_names()
VISION = [n for n in FAMILIES if is_vision(load_family(n))]
TEXT = [n for n in FAMILIES if n not in VISION]
# (family, with an image): vision-language families run image+text and text-only prompts
CASES = [(n, False) for n in TEXT] + [(n, img) for n in VISION for img in (True, False)]
CASE_IDS = [f"{n}-{'image' if img else 'text'}" for n, img in CASES]


@dataclass
class Kit:
    name: str
    tok: Any
    pc: Any  # the processor (vision) or the tokenizer
    model: Any
    fmt: ChatFormat

    @property
    def vision(self) -> bool:
        return self.pc is not self.tok


@lru_cache(maxsize=None)
def kit(name: str) -> Kit:
    fx = load_family(name)
    tok = family_tokenizer(fx)
    pc = tiny_processor(fx, tokenizer=tok) if is_vision(fx) else tok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fmt = chat_format(pc, name)
    return Kit(name, tok, pc, tiny_model(fx, tokenizer=tok), fmt)


def image_for(use: bool) -> Any:
    return tiny_image() if use else None


def real_text(k: Kit, ids: torch.Tensor, mask: torch.Tensor | None = None) -> str:
    keep = ids if mask is None else ids[mask.bool()]
    return k.tok.decode(keep.tolist())


def assert_system_and_prompt(k: Kit, text: str) -> None:
    """The marker prompt is there, and so is the marker system message: in its own turn, or (a template without a
    system turn) folded into the first user turn ahead of the prompt."""
    assert USER in text, text
    assert SYS in text, text
    if k.fmt.system == "fold":
        assert SYS + FOLD_SEPARATOR + USER in text, text


def test_every_family_has_a_form_and_only_gemma2_folds():
    forms = {n: kit(n).fmt for n in FAMILIES}
    assert {n for n, f in forms.items() if f.system == "fold"} == {"gemma2"}
    assert {n for n, f in forms.items() if f.content == "parts"} == {"llava15", "llava_next"}
    assert {n for n, f in forms.items() if f.empty_system} == {"qwen2_5", "qwen2_vl", "smollm2"}


# ------------------------------------------------------------------------------------------------ score models


def _pair(image: bool) -> SafetyPair:
    return SafetyPair(prompt=USER, responses=(ANS + "ONE", ANS + "TWO"), better=0, safer=1, is_safe=(False, True),
                      severity=(2, 0), system=SYS, images=[tiny_image()] if image else [])


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_score_data_rows_carry_system_prompt_and_answer(name, image):
    from safealign.train.score_data import PairCollator

    k = kit(name)
    batch = PairCollator(k.pc, "reward")([_pair(image)])
    texts = [real_text(k, batch["input_ids"][i], batch["attention_mask"][i]) for i in range(2)]
    for text, answer in zip(texts, (ANS + "ONE", ANS + "TWO")):
        assert_system_and_prompt(k, text)
        assert answer in text, text
    assert ("pixel_values" in batch) == (image and k.vision)


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_a_score_model_step_learns_from_the_rows(name, image):
    from safealign.losses import reward_loss
    from safealign.models.score import ScoreModel
    from safealign.train.score_data import PairCollator

    k = kit(name)
    torch.manual_seed(0)
    model = ScoreModel(tiny_model(load_family(name), seed=1, tokenizer=k.tok)).train()
    batch = PairCollator(k.pc, "reward")([_pair(image), _pair(image)])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    before = model.head.weight.detach().clone()
    scores = model(**batch).scores
    loss = reward_loss(scores[:2], scores[2:])
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.head.weight)


# ------------------------------------------------------------------------------------------------ rollouts


def _records(image: bool) -> list[PromptRecord]:
    return [PromptRecord(prompt=USER, system=SYS, image=image_for(image))]


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_rollout_prompts_carry_system_and_prompt(name, image):
    from safealign.train.rollout import generate_rollout

    k = kit(name)
    torch.manual_seed(0)
    ro = generate_rollout(k.model, k.pc, _records(image), max_new_tokens=3, temperature=0.0)
    assert_system_and_prompt(k, real_text(k, ro.input_ids[0, : ro.prompt_len], ro.attention_mask[0, : ro.prompt_len]))
    assert ro.response_mask.shape == (1, ro.input_ids.size(1) - ro.prompt_len) and ro.response_mask[0, 0] == 1
    assert (ro.pixel_values is not None) == (image and k.vision)


def _answered_rollout(k: Kit, image: bool, eos: bool) -> Any:
    """A rollout whose response is the marker answer as the template writes it after the generation prompt (+ the
    EOS the model would generate), built by hand: what a policy that answered ANS produced."""
    from safealign.models.chat_format import render_messages
    from safealign.models.conversation import render
    from safealign.train.rollout import Rollout, assistant_suffix_ids, encode_prompts, to_chat

    recs = _records(image)
    enc = encode_prompts(recs, k.pc)
    prompt = render_messages(k.pc, to_chat(recs[0]), add_generation_prompt=True)
    full = render(k.pc, USER, ANS, SYS, k.vision and image)
    suffix = k.tok.decode(assistant_suffix_ids(k.pc))
    assert full.startswith(prompt) and full.endswith(suffix), (prompt, full, suffix)
    answer = k.tok(full[len(prompt) : len(full) - len(suffix)], add_special_tokens=False)["input_ids"]
    eos_id = k.model.generation_config.eos_token_id
    answer += [eos_id[0] if isinstance(eos_id, list) else eos_id] if eos else []
    resp = torch.tensor([answer])
    return Rollout(input_ids=torch.cat([enc["input_ids"], resp], 1),
                   attention_mask=torch.cat([enc["attention_mask"], torch.ones_like(resp)], 1),
                   prompt_len=enc["input_ids"].size(1), response_mask=torch.ones_like(resp, dtype=torch.float),
                   pixel_values=enc.get("pixel_values"), responses=[ANS], records=recs,
                   image_extras={key: enc[key] for key in ("image_sizes", "image_grid_thw") if key in enc})


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_end_of_turn_scoring_reads_exactly_the_training_format(name, image):
    """The scoring view of an answered rollout (the template's end-of-turn suffix in place of the generated EOS) is
    token for token the conversation the score models were trained on, and scores the same."""
    from safealign.models.conversation import encode_conversations
    from safealign.models.score import ScoreModel, score_texts
    from safealign.train.critic import score_rollout
    from safealign.train.rollout import assistant_suffix_ids, eos_ids_of, with_turn_suffix

    k = kit(name)
    score = ScoreModel(tiny_model(load_family(name), seed=2, tokenizer=k.tok)).eval()
    suffix = assistant_suffix_ids(k.pc)
    assert suffix  # every family's template ends an answer with something
    img = [image_for(image)]
    trained = encode_conversations(k.pc, [USER], [ANS], [SYS], img)
    want = trained["input_ids"][0][trained["attention_mask"][0].bool()].tolist()
    expected = score_texts(score, k.pc, [USER], [ANS], [SYS], img)
    for eos in (True, False):  # ended with its EOS, or truncated
        ro = _answered_rollout(k, image, eos)
        view = with_turn_suffix(ro, suffix, eos_ids_of(k.model, k.tok), k.tok.pad_token_id or 0)
        got = view.input_ids[0][view.attention_mask[0].bool()].tolist()
        if eos:
            assert got == want, (k.tok.decode(got), k.tok.decode(want))
        assert_system_and_prompt(k, k.tok.decode(got))
        assert ANS in k.tok.decode(got)
        if eos:
            end = score_rollout(score, view).end_scores[:, 0]
            torch.testing.assert_close(end, expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------ SFT / DPO / ORPO


def _janus_data(tmp_path) -> str:
    import json

    rows = [{"system": SYS, "prompt": USER, "chosen": ANS + "CHOSEN", "rejected": ANS + "REJECTED"}] * 2
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize("method", ["sft", "dpo", "orpo"])
def test_janus_rows_reach_the_token_ids_and_train(tmp_path, name, method):
    from safealign.janus.recipes import PreferenceTrainConfig, SFTTrainConfig, build_trainer, preference_rows, sft_rows

    k = kit(name)
    data = _janus_data(tmp_path)
    common = dict(data=data, output_dir=str(tmp_path / "out"), max_steps=1, batch_size=2, lora=False,
                  report_to="none", max_length=512)
    if method == "sft":
        cfg = SFTTrainConfig(**common)
        rows = sft_rows(cfg)
    else:
        cfg = PreferenceTrainConfig(method=method, **common)
        rows = preference_rows(cfg)
    model = tiny_model(load_family(name), seed=3, tokenizer=k.tok)
    trainer = build_trainer(cfg, method, rows, model, k.tok)
    row = trainer.train_dataset[0]
    if method == "sft":
        ids = row["input_ids"]
        text = k.tok.decode(ids)
        answer = k.tok.decode([i for i in row["labels"] if i != -100])  # what the loss covers
        assert ANS + "CHOSEN" in answer and USER not in answer and SYS not in answer
    else:  # DPO's columns are prompt_ids / chosen_ids, ORPO's prompt_input_ids / chosen_input_ids
        key = "ids" if method == "dpo" else "input_ids"
        text = k.tok.decode(row[f"prompt_{key}"])
        assert ANS + "CHOSEN" in k.tok.decode(row[f"chosen_{key}"])
        assert ANS + "REJECTED" in k.tok.decode(row[f"rejected_{key}"])
    assert_system_and_prompt(k, text)
    result = trainer.train()
    assert result.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))


@pytest.mark.parametrize("name", VISION)
def test_janus_rows_keep_every_turn_through_a_processor_template(name):
    from safealign.train.trl_runner import formatted_rows

    k = kit(name)
    rows = formatted_rows(k.pc, [{"prompt": [{"role": "system", "content": SYS}, {"role": "user", "content": USER}],
                                  "completion": [{"role": "assistant", "content": ANS}]}])
    text = k.pc.apply_chat_template(rows[0]["prompt"] + rows[0]["completion"], tokenize=False)
    decoded = k.tok.decode(k.tok(text, add_special_tokens=False)["input_ids"])
    assert_system_and_prompt(k, decoded)
    assert ANS in decoded


# ------------------------------------------------------------------------------------------------ judge, evaluation


def _backend(k: Kit) -> Any:
    from safealign.backends.local import LocalBackend

    return LocalBackend(k.model, k.tok, batch_size=2, processor=k.pc if k.vision else None, name=k.name)


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_the_judge_prompt_reaches_the_judge_model(name, image):
    from safealign.guard.judge import JudgeGuard

    k = kit(name)
    judge = JudgeGuard(_backend(k), max_new_tokens=3, retries=0)
    text = _backend(k).render(judge.chat_for(USER, ANS, image_for(image)))
    decoded = k.tok.decode(k.tok(text, add_special_tokens=False)["input_ids"])
    assert USER in decoded and ANS in decoded
    (verdict,) = judge.classify_batch([(USER, ANS, image_for(image))])
    assert verdict is not None


@pytest.mark.parametrize("name,image", CASES, ids=CASE_IDS)
def test_evaluation_generation_sees_system_and_prompt(name, image):
    from safealign.backends.base import GenerationParams
    from safealign.eval.safety import backend_answerer, chat_for

    k = kit(name)
    backend = _backend(k)
    (rec,) = _records(image)
    text = backend.render(chat_for(rec, with_image_part=k.vision))
    assert_system_and_prompt(k, k.tok.decode(k.tok(text, add_special_tokens=False)["input_ids"]))
    (answer,) = backend_answerer(backend, GenerationParams(max_new_tokens=3, temperature=0.0))([rec])
    assert isinstance(answer, str)
