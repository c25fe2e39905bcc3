"""Real model families' chat templates on tiny random models (safealign.models.families).

Each fixture's ``expect`` pins what the family's published template does with a marker conversation: system
"SYSMARK", user "USERMARK" (with an image part for vision-language families), assistant "ANSMARK", in these forms:

* ``string`` - every content a plain string;
* ``parts`` - every content a list of content parts ([{"type": "text", ...}], the user's led by {"type": "image"});
* ``mixed`` (vision-language families) - user content parts with the image, system and assistant plain strings: the
  form safealign's score-data and rollout code builds today;
* ``string_no_system`` / ``parts_no_system`` - the same without the system message.

For a form the template renders, each marker is "kept", "dropped" or "garbled" (present, but inside the Python repr
of a list of parts) and ``answer_suffix`` is the text after the answer (the end-of-turn suffix); for a form it cannot
render, ``raises`` holds the start of the error. ``no_system_writes`` is text the template writes on its own when no
system message is given.
"""

from __future__ import annotations

import pytest
import torch

from safealign.models.families import (
    IMAGE_SIZE,
    PATCH_SIZE,
    QWEN_PATCH_SIZE,
    family_names,
    is_vision,
    load_family,
    tiny_image,
    tiny_model,
    tiny_processor,
    tiny_tokenizer,
    token_id,
)

FAMILIES = family_names()
REQUIRED = {"family", "hub_id", "model_type", "architecture", "vocab_size", "chat_template", "bos_token", "eos_token",
            "pad_token", "unk_token", "special_tokens", "add_bos_token", "add_eos_token", "padding_side",
            "generation_eos_token_ids", "source", "unknown", "expect"}
MARKERS = {"system": "SYSMARK", "user": "USERMARK", "answer": "ANSMARK"}
FORMS = [(name, form) for name in FAMILIES for form in load_family(name)["expect"] if form != "no_system_writes"]


def test_the_issue_families_are_all_there():
    assert set(FAMILIES) >= {"llama2_chat", "llama3_instruct", "mistral_v02", "mistral_v03", "qwen2_5", "gemma2",
                             "phi3", "smollm2", "llava15", "llava_next", "qwen2_vl"}


def test_unknown_family_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="llava15"):
        load_family("no-such-family")


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", FAMILIES)
def test_fixture_is_complete_and_sourced(name):
    fx = load_family(name)
    assert REQUIRED <= set(fx), REQUIRED - set(fx)
    assert fx["family"] == name
    assert isinstance(fx["chat_template"], str) and "{%" in fx["chat_template"]
    assert fx["source"]["chat_template"] and fx["source"]["tokens"]
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        assert fx[key] is None or fx[key] in fx["special_tokens"], (key, fx[key])
    assert len(set(fx["special_tokens"].values())) == len(fx["special_tokens"])  # real ids are distinct
    assert all(i in fx["special_tokens"].values() for i in fx["generation_eos_token_ids"])
    assert all(0 <= i < fx["vocab_size"] for i in fx["special_tokens"].values())
    if is_vision(fx):
        vision = fx["vision"]
        assert fx["special_tokens"][vision["image_token"]] == vision["image_token_id"]
        assert vision["image_token"] in fx["chat_template"] and vision["expansion"] and fx["source"]["vision"]


# ----------------------------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("name", FAMILIES)
def test_tiny_tokenizer_carries_the_family_settings(name):
    fx = load_family(name)
    tok = tiny_tokenizer(fx)
    assert tok.chat_template == fx["chat_template"]
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        assert getattr(tok, key) == fx[key], key
    # each special token is one id, in the order of the real ids, and survives a round trip
    specials = sorted(fx["special_tokens"], key=fx["special_tokens"].get)
    assert [tok.convert_tokens_to_ids(s) for s in specials] == list(range(len(specials)))
    for s in specials:
        assert tok(f"a{s}b", add_special_tokens=False)["input_ids"].count(tok.convert_tokens_to_ids(s)) == 1
    text = "Hello, wörld! [INST] <<SYS>> USER:"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte level: any text, exactly back
    ids = tok("hi")["input_ids"]
    assert (ids[0] == tok.bos_token_id) == bool(fx["add_bos_token"])
    assert (ids[-1] == tok.eos_token_id) == bool(fx["add_eos_token"])
    assert tok.padding_side == (fx["padding_side"] or "right")


def _render_target(fx):
    return tiny_processor(fx) if is_vision(fx) else tiny_tokenizer(fx)


def _conversation(fx, form):
    system = not form.endswith("_no_system")
    form = form.removesuffix("_no_system")
    vlm = is_vision(fx)

    def content(role, text):
        if form == "string" or (form == "mixed" and role != "user"):
            return text
        return ([{"type": "image"}] if vlm and role == "user" else []) + [{"type": "text", "text": text}]

    roles = (["system"] if system else []) + ["user", "assistant"]
    return [{"role": r, "content": content(r, MARKERS["answer" if r == "assistant" else r])} for r in roles]


def _encode(fx, target, text):
    """Token ids of a rendered conversation as the family's path would feed them (images through the processor)."""
    if not is_vision(fx):
        return target(text, add_special_tokens=False, return_tensors="pt")
    image_token = fx["vision"]["image_token"]
    has_image = image_token in text
    return target(text=[text], images=[tiny_image()] if has_image else None, return_tensors="pt")


def _contains(seq: list[int], sub: list[int]) -> bool:
    return any(seq[i : i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


@pytest.mark.parametrize("name,form", FORMS, ids=[f"{n}-{f}" for n, f in FORMS])
def test_template_form_keeps_or_loses_markers_as_recorded(name, form):
    fx = load_family(name)
    expect = fx["expect"][form]
    target = _render_target(fx)
    conversation = _conversation(fx, form)
    if "raises" in expect:
        with pytest.raises(Exception, match=expect["raises"][:40].replace("(", r"\(").replace(")", r"\)")):
            target.apply_chat_template(conversation, tokenize=False)
        return
    text = target.apply_chat_template(conversation, tokenize=False)
    for role, marker in MARKERS.items():
        if role not in expect:
            continue
        status = "dropped" if marker not in text else "garbled" if "'type'" in text else "kept"
        assert status == expect[role], (role, status, text)
    at = text.find(MARKERS["answer"])
    assert (text[at + len(MARKERS["answer"]) :] if at >= 0 else None) == expect["answer_suffix"], text
    # every marker the template keeps reaches the token ids
    tok = target.tokenizer if is_vision(fx) else target
    ids = _encode(fx, target, text)["input_ids"][0].tolist()
    for role, marker in MARKERS.items():
        if expect.get(role) in ("kept", "garbled"):
            assert _contains(ids, tok(marker, add_special_tokens=False)["input_ids"]), (role, text)


def _rendering_form(fx, forms=("string", "parts", "string_no_system", "parts_no_system")):
    """The first of ``forms`` in which the family's template keeps every marker it is given."""
    for form in forms:
        expect = fx["expect"][form]
        if "raises" not in expect and all(expect[r] == "kept" for r in MARKERS if r in expect):
            return form
    raise AssertionError(f"{fx['family']}: no form in {forms} keeps every marker")


@pytest.mark.parametrize("name", FAMILIES)
def test_what_the_template_writes_without_a_system_message(name):
    fx = load_family(name)
    target = _render_target(fx)
    form = _rendering_form(fx, ("string_no_system", "parts_no_system")).removesuffix("_no_system")
    without = target.apply_chat_template(_conversation(fx, f"{form}_no_system"), tokenize=False)
    written = fx["expect"]["no_system_writes"]
    if written is not None:
        assert written in without
    elif "raises" not in fx["expect"][form]:
        # nothing of its own: dropping the system message only shortens the text
        assert len(without) < len(target.apply_chat_template(_conversation(fx, form), tokenize=False))


# ----------------------------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", FAMILIES)
def test_tiny_model_runs_on_the_rendered_conversation(name):
    fx = load_family(name)
    tok = tiny_tokenizer(fx)
    model = tiny_model(fx, tokenizer=tok)
    assert type(model).__name__ == fx["architecture"]
    assert model.config.model_type == fx["model_type"]
    assert sum(p.numel() for p in model.parameters()) < 200_000
    target = tiny_processor(fx, tokenizer=tok) if is_vision(fx) else tok
    form = "parts" if is_vision(fx) else _rendering_form(fx)  # vision: the form that carries the image
    text = target.apply_chat_template(_conversation(fx, form), tokenize=False)
    batch = _encode(fx, target, text)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (1, batch["input_ids"].shape[1], len(tok))
    assert torch.isfinite(logits).all()
    eos = model.generation_config.eos_token_id
    eos = eos if isinstance(eos, list) else [eos]
    assert eos == [token_id(tok, i, fx) for i in fx["generation_eos_token_ids"]]


@pytest.mark.parametrize("name", [n for n in FAMILIES if is_vision(load_family(n))])
def test_processor_expands_the_image_token_like_the_real_one(name):
    fx = load_family(name)
    processor = tiny_processor(fx)
    vision = fx["vision"]
    text = processor.apply_chat_template(_conversation(fx, "parts"), tokenize=False)
    assert text.count(vision["image_token"]) == 1  # one placeholder in the rendered text ...
    batch = processor(text=[text], images=[tiny_image()], return_tensors="pt")
    n = (batch["input_ids"] == processor.tokenizer.convert_tokens_to_ids(vision["image_token"])).sum().item()
    if fx["model_type"] == "llava":  # ... (size/patch)^2 (+1 CLS, dropped by the "default" strategy)
        assert n == (IMAGE_SIZE // PATCH_SIZE) ** 2 + vision["num_additional_image_tokens"] - 1
    elif fx["model_type"] == "qwen2_vl":  # ... grid_h * grid_w / merge^2
        assert n == (IMAGE_SIZE // QWEN_PATCH_SIZE) ** 2 // vision["merge_size"] ** 2
        assert batch["image_grid_thw"].tolist() == [[1, IMAGE_SIZE // QWEN_PATCH_SIZE, IMAGE_SIZE // QWEN_PATCH_SIZE]]
    else:  # LLaVA-NeXT anyres: more than the base patches (the model's forward checks the exact count)
        assert n > (IMAGE_SIZE // PATCH_SIZE) ** 2 - 1


@pytest.mark.parametrize("name", FAMILIES)
def test_tiny_model_is_seeded(name):
    fx = load_family(name)
    tok = tiny_tokenizer(fx)
    a, b, c = (tiny_model(fx, seed=s, tokenizer=tok) for s in (3, 3, 4))
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
