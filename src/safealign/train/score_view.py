"""Episodes re-tokenized through text for a score model whose tokenizer or chat template differs from the actor's
(:mod:`safealign.models.compat`, mode ``text``).

A :class:`TextView` holds, for a batch of rollout episodes, what such a score model reads: each conversation
(system, prompt, decoded response[, image]) rendered in the score model's own chat template and tokenized by its own
tokenizer or processor, exactly as :func:`safealign.models.score.score_texts` encodes it (so the end score equals
scoring the decoded text), plus ``state_index`` [B, T]: for each actor response token, the position in the score
model's sequence of the last score-model token that ends before that actor token's text begins (the state a critic
reads before the token). The actor's ``response_mask`` [B, T] is kept, so values line up with the actor's tokens.

Alignment uses character offsets: actor token t starts at ``len(decode(response[:t]))`` characters into the
response; score-model tokens come with their offsets (a fast tokenizer). Image tokens a processor expands before
the response shift the score-model positions by a constant, which is added back.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Optional, Sequence

import torch

from safealign.errors import ConfigError
from safealign.models.chat_format import is_processor, tokenizer_of
from safealign.models.conversation import IMAGE_INPUTS, encode_conversations, render
from safealign.train.rollout import Rollout, position_ids_from_mask, select_image_inputs

_MARK = "SAFEALIGNRESPONSEMARK"


@dataclass
class TextView:
    input_ids: torch.Tensor  # [B, L'] the score model's tokens, right-padded
    attention_mask: torch.Tensor  # [B, L']
    state_index: torch.Tensor  # [B, T] long: position of the state before each actor response token
    response_mask: torch.Tensor  # [B, T] the actor's
    pixel_values: Optional[torch.Tensor] = None
    image_extras: dict[str, torch.Tensor] = field(default_factory=dict)  # image_sizes / image_grid_thw

    @property
    def position_ids(self) -> torch.Tensor:
        return position_ids_from_mask(self.attention_mask)

    @property
    def critic_columns(self) -> int:
        return self.input_ids.size(1)

    def model_inputs(self) -> dict[str, torch.Tensor]:
        kw = {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "position_ids": self.position_ids}
        if self.pixel_values is not None:
            kw["pixel_values"] = self.pixel_values
        return {**kw, **self.image_extras}

    def response_states(self, hidden: torch.Tensor) -> torch.Tensor:
        """[B, L', H] -> [B, T, H]: the states at ``state_index``."""
        idx = self.state_index.to(hidden.device)[..., None].expand(-1, -1, hidden.size(-1))
        return hidden.gather(1, idx)

    def select(self, idx: torch.Tensor | Sequence[int]) -> "TextView":
        i = torch.as_tensor(idx, dtype=torch.long, device=self.input_ids.device)
        pick = lambda t: t.index_select(0, i.to(t.device))  # noqa: E731
        pixels, extras = select_image_inputs(self.pixel_values, self.image_extras, i.tolist())
        return TextView(pick(self.input_ids), pick(self.attention_mask), pick(self.state_index),
                        pick(self.response_mask), pixels, extras)


def _response_span(processing_class: Any, prompt: str, response: str, system: Optional[str], image: bool) -> tuple:
    """(rendered text, index where the response starts in it)."""
    text = render(processing_class, prompt, response, system, image)
    head = render(processing_class, prompt, _MARK, system, image)
    start = head.find(_MARK)
    if start < 0 or text[:start] != head[:start] or text[start : start + len(response)] != response:
        raise ConfigError("the score model's chat template rewrites the answer: its tokens cannot be aligned with the "
                          "actor's; train the score model on the actor's tokenizer and template")
    return text, start


def _boundaries(actor_tok: Any, ids: Sequence[int], text: str) -> list[int]:
    """Characters of ``text`` (the stripped decoded response) before each actor token."""
    out, n = [], len(text)
    for t in range(len(ids)):
        prefix = actor_tok.decode(list(ids[:t]), skip_special_tokens=True).lstrip()
        out.append(min(len(prefix), n))
    return out


def text_view(
    rollout: Rollout, actor_processing_class: Any, score_processing_class: Any, max_length: int = 1024,
    pixel_dtype: Optional[torch.dtype] = None,
) -> TextView:
    """The rollout's episodes as ``score_processing_class`` reads them (see the module docstring), on the rollout's
    device; the response texts are ``rollout.responses`` (decoded, stripped), the prompts and systems those of
    ``rollout.records``; pixel values in ``pixel_dtype`` (the score model's) when given."""
    actor_tok, score_tok = tokenizer_of(actor_processing_class), tokenizer_of(score_processing_class)
    if not getattr(score_tok, "is_fast", False):
        raise ConfigError("re-tokenizing episodes for a score model needs a fast tokenizer (character offsets)")
    recs = rollout.records
    images = [r.image for r in recs]
    vision = is_processor(score_processing_class)
    enc = encode_conversations(score_processing_class, [r.prompt for r in recs], list(rollout.responses),
                               [r.system for r in recs], images, max_length=max_length)
    lengths = enc["attention_mask"].sum(-1).tolist()
    T = rollout.response_mask.size(1)
    index = torch.zeros((len(recs), T), dtype=torch.long)
    resp_ids = rollout.response_ids.tolist()
    n_resp = rollout.response_mask.sum(-1).long().tolist()
    for i, rec in enumerate(recs):
        response = rollout.responses[i]
        text, start = _response_span(score_processing_class, rec.prompt, response, rec.system,
                                     vision and rec.image is not None)
        offsets = score_tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        ends = list(accumulate((e for _, e in offsets), max))  # non-decreasing (a special token may report (0, 0))
        shift = lengths[i] - len(ends)  # image tokens expanded (+) or the text truncated from the left (-)
        bounds = _boundaries(actor_tok, resp_ids[i][: n_resp[i]], response)
        bounds += [len(response)] * (T - len(bounds))
        for t, b in enumerate(bounds):
            before = bisect_right(ends, start + b)  # score tokens that end before the actor token starts
            index[i, t] = min(max(before - 1 + shift, 0), lengths[i] - 1)
    dev = rollout.input_ids.device
    pixels = enc.get("pixel_values")
    if pixels is not None:
        pixels = pixels.to(dev, dtype=pixel_dtype or pixels.dtype)
    extras = {k: enc[k].to(dev) for k in IMAGE_INPUTS[1:] if k in enc}
    return TextView(enc["input_ids"].to(dev), enc["attention_mask"].to(dev), index.to(dev), rollout.response_mask,
                    pixels, extras)
