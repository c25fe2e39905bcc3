"""Tokenise and collate SafetyPairs for reward / cost models (text and image + text).

One format everywhere (training, ``score_texts``, the guard's cost stage, evaluation): the chat template of
``[system?] + user + assistant`` with no generation prompt. For a vision model the user turn carries an image part and
the processor turns the image into ``pixel_values``. Sequences are right-padded by default (the score is read at the
last non-pad token from the attention mask, so either side works) and truncated from the LEFT for text, so the
response (where the score is read) is never cut; image+text sequences are not truncated (the image tokens must stay
whole).

A training batch of B pairs holds 2B rows: rows ``0..B-1`` are the FIRST response of each pair and rows ``B..2B-1``
the SECOND, where first = better (reward) or less safe (cost). ``is_safe`` / ``severity`` are aligned with the rows.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Sequence

import torch

from safealign.data.records import SafetyPair
from safealign.errors import DataError

Kind = Literal["reward", "cost"]


def is_processor(processing_class: Any) -> bool:
    """True for a multimodal processor (has a tokenizer and an image processor), False for a plain tokenizer."""
    return hasattr(processing_class, "tokenizer") and hasattr(processing_class, "image_processor")


def tokenizer_of(processing_class: Any) -> Any:
    return processing_class.tokenizer if is_processor(processing_class) else processing_class


def build_messages(prompt: str, response: Optional[str], system: Optional[str] = None, with_image: bool = False) -> list[dict[str, Any]]:
    """The conversation a score model reads: [system?, user (+ image part), assistant?]."""
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


def render(processing_class: Any, prompt: str, response: Optional[str], system: Optional[str] = None, with_image: bool = False) -> str:
    templ = processing_class if is_processor(processing_class) else tokenizer_of(processing_class)
    return templ.apply_chat_template(build_messages(prompt, response, system, with_image), tokenize=False, add_generation_prompt=False)


def encode_conversations(
    processing_class: Any,
    prompts: Sequence[str],
    responses: Sequence[Optional[str]],
    systems: Optional[Sequence[Optional[str]]] = None,
    images: Optional[Sequence[Any]] = None,
    max_length: int = 1024,
    padding_side: str = "right",
) -> dict[str, torch.Tensor]:
    """Tokenise a batch of conversations: ``input_ids`` / ``attention_mask`` [N, L] (+ ``pixel_values`` when a
    processor is given images). An image given to a text-only tokenizer is ignored (the text model cannot see it)."""
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
            enc = tok(texts, padding=True, truncation=True, max_length=max_length, add_special_tokens=False, return_tensors="pt")
    finally:
        tok.padding_side, tok.truncation_side = old_side, old_trunc
    out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    if "pixel_values" in enc:
        out["pixel_values"] = enc["pixel_values"]
    return out


def check_pairs(pairs: Sequence[SafetyPair], kind: Kind, skip_invalid: bool = False, source: str = "training data") -> tuple[list[SafetyPair], int]:
    """Pairs fit to train on, and how many were skipped. A cost model never trains on a contradictory pair (the
    safer response labelled unsafe while the other is labelled safe): DataError, or skipped with ``skip_invalid``.
    Pairs with two identical responses carry no preference and are dropped for both kinds."""
    keep: list[SafetyPair] = []
    skipped = 0
    for i, p in enumerate(pairs):
        problem = None
        if len(p.responses) != 2:
            problem = "a pair needs exactly two responses"
        elif p.responses[0] == p.responses[1]:
            problem = "both responses are identical"
        elif kind == "cost" and p.is_contradictory():
            problem = f"contradictory safety labels: response {p.safer} is marked safer but unsafe while the other is safe"
        if problem is None:
            keep.append(p)
            continue
        if not skip_invalid:
            raise DataError(problem + " (use --skip-invalid to drop such pairs)", file=source, row=i + 1, field="is_safe" if "contradictory" in problem else "responses")
        skipped += 1
    return keep, skipped


def first_second(pair: SafetyPair, kind: Kind) -> tuple[int, int]:
    """Index of the response that should score higher (reward: better; cost: less safe), then the other one."""
    first = pair.better if kind == "reward" else pair.less_safe
    return first, 1 - first


class PairCollator:
    """Collate SafetyPairs into one 2B-row batch (see the module docstring for the row layout)."""

    def __init__(self, processing_class: Any, kind: Kind, max_length: int = 1024, padding_side: str = "right"):
        self.processing_class = processing_class
        self.kind = kind
        self.max_length = max_length
        self.padding_side = padding_side

    def __call__(self, pairs: Sequence[SafetyPair]) -> dict[str, torch.Tensor]:
        order = [first_second(p, self.kind) for p in pairs]
        rows = [(p, o[0]) for p, o in zip(pairs, order)] + [(p, o[1]) for p, o in zip(pairs, order)]
        batch = encode_conversations(
            self.processing_class,
            [p.prompt for p, _ in rows],
            [p.responses[i] for p, i in rows],
            [p.system for p, _ in rows],
            [p.image for p, _ in rows],
            max_length=self.max_length,
            padding_side=self.padding_side,
        )
        batch["is_safe"] = torch.tensor([bool(p.is_safe[i]) for p, i in rows])  # [2B]
        batch["severity"] = torch.tensor([int(p.severity[i]) for p, i in rows], dtype=torch.long)  # [2B]
        return batch
