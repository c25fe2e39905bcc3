"""The text a score model reads, tokenised: one format everywhere (training, ``score_texts``, the guard's cost stage,
evaluation, the PPO rollout's scoring). The chat template of ``[system?] + user + assistant`` with no generation
prompt. For a vision model the user turn carries an image part and the processor turns the image into
``pixel_values``. Sequences are right-padded by default (the score is read at the last non-pad token from the
attention mask, so either side works) and truncated from the LEFT for text, so the response (where the score is read)
is never cut; image+text sequences are not truncated (the image tokens must stay whole). Messages reach the template
in the form it wants (:mod:`safealign.models.chat_format`).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch

from safealign.models.chat_format import is_processor, render_messages, tokenizer_of

# what processors return for images and the models read: pixels, and LLaVA-NeXT's image sizes / Qwen2-VL's patch grid
IMAGE_INPUTS = ("pixel_values", "image_sizes", "image_grid_thw")


def build_messages(
    prompt: str, response: Optional[str] = None, system: Optional[str] = None, with_image: bool = False
) -> list[dict[str, Any]]:
    """The canonical conversation: [system?, user (+ an image part before the text), assistant?]. An empty system
    message is none. :func:`safealign.models.chat_format.format_messages` puts it in the form a template wants."""
    msgs: list[dict[str, Any]] = []
    if system:
        msgs.append({"role": "system", "content": system})
    if with_image:
        msgs.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]})
    else:
        msgs.append({"role": "user", "content": prompt})
    if response is not None:
        msgs.append({"role": "assistant", "content": response})
    return msgs


def render(
    processing_class: Any, prompt: str, response: Optional[str], system: Optional[str] = None, with_image: bool = False
) -> str:
    """The text a score model reads: the whole conversation through the template, no generation prompt."""
    return render_messages(processing_class, build_messages(prompt, response, system, with_image))


def encode_conversations(
    processing_class: Any,
    prompts: Sequence[str],
    responses: Sequence[Optional[str]],
    systems: Optional[Sequence[Optional[str]]] = None,
    images: Optional[Sequence[Any]] = None,
    max_length: int = 1024,
    padding_side: str = "right",
) -> dict[str, torch.Tensor]:
    """Tokenise a batch of conversations: ``input_ids`` / ``attention_mask`` [N, L] (+ the processor's image
    inputs, :data:`IMAGE_INPUTS`, when a processor is given images). An image given to a text-only tokenizer is
    ignored (the text model cannot see it)."""
    n = len(prompts)
    systems = list(systems) if systems is not None else [None] * n
    images = list(images) if images is not None else [None] * n
    proc_mode = is_processor(processing_class)
    use_img = [proc_mode and img is not None for img in images]
    texts = [render(processing_class, p, r, s, u) for p, r, s, u in zip(prompts, responses, systems, use_img)]
    tok = tokenizer_of(processing_class)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    old_side, old_trunc = tok.padding_side, getattr(tok, "truncation_side", "right")
    tok.padding_side, tok.truncation_side = padding_side, "left"
    try:
        if any(use_img):
            pics = [img.convert("RGB") if hasattr(img, "convert") else img for img, u in zip(images, use_img) if u]
            enc = processing_class(text=texts, images=pics, padding=True, return_tensors="pt")
        else:
            enc = tok(
                texts, padding=True, truncation=True, max_length=max_length, add_special_tokens=False,
                return_tensors="pt",
            )
    finally:
        tok.padding_side, tok.truncation_side = old_side, old_trunc
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    out.update({k: enc[k] for k in IMAGE_INPUTS if k in enc})
    return out
