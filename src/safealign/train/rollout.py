"""Rollouts: batched KV-cached sampling that stops at EOS, with per-token log-probs, for text and image+text prompts.

Layout (one for every model that reads the episode): ``input_ids`` [B, P+T] = left-padded prompt (P) followed by
the response (T, right-padded after its first EOS). ``position_ids`` come from the attention mask exactly as
``generate`` builds them, so a full-sequence forward reproduces the generation-time logits, and every model reads
the response at positions ``P-1 .. P+T-2`` (the state before each response token): logits / values of shape
[B, T] line up with ``response_mask`` [B, T] (1.0 on response tokens up to and including the first EOS).

Log-probs recorded during generation are those of the UNWARPED logits (``output_logits``: before temperature /
top-p), i.e. of the policy itself, not of the sampling distribution.

Scoring view: the frozen reward / cost models were trained on conversations that end with the chat template's
end-of-turn suffix after the answer (``<|im_end|>\n`` for ChatML). :func:`with_turn_suffix` appends those tokens
(:func:`assistant_suffix_ids`) right after each row's last response token, in a copy widened by the suffix length;
``prompt_len`` and ``response_mask`` [B, T] are unchanged, and so (causal attention) is everything any model computes
at the prompt and response positions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import torch

from safealign.backends.base import GenerationConfig
from safealign.data.records import PromptRecord
from safealign.losses import entropy_from_logits, gather_log_probs
from safealign.models.chat_format import is_processor, render_messages, tokenizer_of
from safealign.models.conversation import IMAGE_INPUTS, build_messages, render


@dataclass
class Rollout:
    input_ids: torch.Tensor  # [B, P+T]
    attention_mask: torch.Tensor  # [B, P+T]
    prompt_len: int  # P
    response_mask: torch.Tensor  # [B, T] float
    log_probs: Optional[torch.Tensor] = None  # [B, T] actor log-probs at generation (unwarped); None if not recorded
    pixel_values: Optional[torch.Tensor] = None  # [B, C, H, W] or None: the SAME tensor reaches every model
    responses: list[str] = field(default_factory=list)
    records: list[PromptRecord] = field(default_factory=list)
    # [B, T] the generated response tokens, where a scoring view (with_turn_suffix) replaced a row's EOS in input_ids
    response_tokens: Optional[torch.Tensor] = None
    # the processor's other image inputs (LLaVA-NeXT image_sizes, Qwen2-VL image_grid_thw), like pixel_values
    image_extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def position_ids(self) -> torch.Tensor:
        return position_ids_from_mask(self.attention_mask)

    @property
    def response_ids(self) -> torch.Tensor:  # [B, T] the generated tokens (a scoring view's suffix excluded)
        if self.response_tokens is not None:
            return self.response_tokens
        P = self.prompt_len
        return self.input_ids[:, P : P + self.response_mask.size(1)]

    @property
    def response_length(self) -> torch.Tensor:  # [B]
        return self.response_mask.sum(-1)

    @property
    def critic_columns(self) -> int:  # the prompt and response columns (a scoring view's suffix columns excluded)
        return self.prompt_len + self.response_mask.size(1)

    def response_states(self, hidden: torch.Tensor) -> torch.Tensor:
        """[B, L, ...] -> [B, T, ...]: the states before each response token (positions ``P-1 .. P+T-2``)."""
        P, T = self.prompt_len, self.response_mask.size(1)
        return hidden[:, P - 1 : P + T - 1]

    def model_inputs(self) -> dict[str, torch.Tensor]:
        kw = {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "position_ids": self.position_ids}
        if self.pixel_values is not None:
            kw["pixel_values"] = self.pixel_values
        return {**kw, **self.image_extras}

    def select(self, idx: torch.Tensor | Sequence[int]) -> "Rollout":
        """A sub-batch (minibatches of the PPO update)."""
        idx_t = torch.as_tensor(idx, dtype=torch.long, device=self.input_ids.device)
        pick = lambda t: None if t is None else t.index_select(0, idx_t.to(t.device))  # noqa: E731
        ids = [int(i) for i in idx_t.tolist()]
        pixels, extras = select_image_inputs(self.pixel_values, self.image_extras, ids)
        return Rollout(
            input_ids=pick(self.input_ids), attention_mask=pick(self.attention_mask), prompt_len=self.prompt_len,
            response_mask=pick(self.response_mask), log_probs=pick(self.log_probs), pixel_values=pixels,
            responses=[self.responses[i] for i in ids] if self.responses else [],
            records=[self.records[i] for i in ids] if self.records else [], response_tokens=pick(self.response_tokens),
            image_extras=extras,
        )


def select_image_inputs(
    pixel_values: Optional[torch.Tensor], extras: dict[str, torch.Tensor], rows: Sequence[int]
) -> tuple[Optional[torch.Tensor], dict[str, torch.Tensor]]:
    """The image inputs of ``rows`` (one image per row). Pixels are per row ([B, ...]), except Qwen2-VL's: the patches
    of every image one after another ([sum of t*h*w, D]), ``image_grid_thw`` [B, 3] giving each image's count."""
    if pixel_values is None:
        return None, {}
    idx = torch.as_tensor(list(rows), dtype=torch.long)
    picked = {k: v.index_select(0, idx.to(v.device)) for k, v in extras.items()}
    grid = extras.get("image_grid_thw")
    if grid is None:
        return pixel_values.index_select(0, idx.to(pixel_values.device)), picked
    counts = grid.prod(-1).tolist()
    starts = [sum(counts[:i]) for i in range(len(counts))]
    return torch.cat([pixel_values[starts[i] : starts[i] + counts[i]] for i in rows]), picked


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """The positions ``generate`` uses: cumulative count of real tokens minus one, 0 on padding.  [B, L] -> [B, L]"""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 0)


def to_chat(rec: PromptRecord) -> list[dict[str, Any]]:
    """System turn (when given) + user turn; an image becomes an image content part before the text."""
    return build_messages(rec.prompt, None, rec.system, with_image=rec.image is not None)


def encode_prompts(
    records: Sequence[PromptRecord], processing_class: Any, device: Any = None
) -> dict[str, torch.Tensor]:
    """Render each record with the chat template and encode the batch, left-padded (images through the processor)."""
    tok = tokenizer_of(processing_class)
    texts = [render_messages(processing_class, to_chat(r), add_generation_prompt=True) for r in records]
    images = [r.image for r in records]
    tok.padding_side = "left"
    if any(im is not None for im in images):
        if any(im is None for im in images):
            raise ValueError("a rollout batch mixes prompts with and without images; batch them separately")
        enc = processing_class(images=images, text=texts, return_tensors="pt", padding=True)
    else:
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    enc = dict(enc)
    if device is not None:
        enc = {k: v.to(device) for k, v in enc.items()}
    return enc


def response_mask_from_ids(response_ids: torch.Tensor, eos_ids: Sequence[int]) -> torch.Tensor:
    """1.0 on tokens up to and including the first EOS of each row (all tokens when no EOS: truncated).  [B, T]"""
    is_eos = torch.zeros_like(response_ids, dtype=torch.bool)
    for e in eos_ids:
        is_eos |= response_ids == e
    # number of EOS strictly before position t: a token is kept iff no EOS occurred before it
    before = is_eos.long().cumsum(-1) - is_eos.long()
    return (before == 0).float()


def eos_ids_of(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    for src in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if src is None:
            continue
        ids.extend(src if isinstance(src, (list, tuple)) else [src])
    return sorted(set(int(i) for i in ids))


def image_token_id_of(model: Any) -> int | None:
    """The image placeholder token of a LLaVA-style model (None for text models)."""
    cfg = getattr(model, "config", None)
    for name in ("image_token_id", "image_token_index"):
        value = getattr(cfg, name, None)
        if isinstance(value, int):
            return value
    return None


@torch.no_grad()
def generate_rollout(
    model: Any,
    processing_class: Any,
    records: Sequence[PromptRecord],
    generation: Optional[GenerationConfig] = None,
    record_log_probs: bool = True,
    **settings: Any,
) -> Rollout:
    """Sample one response per prompt (KV cache, stops at EOS) and record per-token log-probs of the policy.

    ``generation``: max_new_tokens, temperature (0: greedy) and top_p (default: PPO-Lagrangian's: 32 tokens at
    temperature 1); ``settings`` override single fields (``max_new_tokens=8``). Its seed is not applied here: the
    trainer seeds once, and the rollouts go on from the random state."""
    if generation is None:
        from safealign.train.ppo_config import PPOLagConfig

        generation = PPOLagConfig().generation()
    generation = generation.replace(**settings) if settings else generation
    max_new_tokens, temperature, top_p = generation.max_new_tokens, generation.temperature, generation.top_p
    tok = tokenizer_of(processing_class)
    device = next(model.parameters()).device
    enc = encode_prompts(records, processing_class, device)
    eos = eos_ids_of(model, tok)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    kw: dict[str, Any] = dict(max_new_tokens=max_new_tokens, pad_token_id=pad_id, eos_token_id=eos, use_cache=True)
    image_token = image_token_id_of(model)
    if image_token is not None:  # a sampled image placeholder would break every later forward that carries pixels
        kw["suppress_tokens"] = [image_token]
    if generation.do_sample:
        kw.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    was_training = model.training
    model.eval()
    out = model.generate(**enc, **kw, return_dict_in_generate=True, output_logits=record_log_probs)
    if was_training:
        model.train()
    P = enc["input_ids"].size(1)
    log_probs = None
    if record_log_probs:  # raw (unwarped) logits of each step [B, V]: log p(token) = logit - logsumexp, row by row
        log_probs = torch.stack(
            [gather_log_probs(step_logits, tokens) for step_logits, tokens in zip(out.logits, out.sequences[:, P:].T)],
            dim=1,
        )
    return assemble_rollout(enc, out.sequences[:, P:], records, tok, eos, pad_id, log_probs)


def assemble_rollout(
    enc: dict[str, torch.Tensor],
    response_ids: torch.Tensor,
    records: Sequence[PromptRecord],
    tokenizer: Any,
    eos_ids: Sequence[int],
    pad_id: int,
    log_probs: Optional[torch.Tensor] = None,
) -> Rollout:
    """The rollout layout from the encoded prompts (:func:`encode_prompts`, left-padded) and the sampled tokens
    [B, T] (anything after a row's first EOS becomes ``pad_id``); ``log_probs`` [B, T]: the policy's per-token log-probs
    when recorded (zeroed after the first EOS)."""
    P = enc["input_ids"].size(1)
    mask = response_mask_from_ids(response_ids, eos_ids)
    response_ids = torch.where(mask.bool(), response_ids, torch.full_like(response_ids, pad_id))
    seqs = torch.cat([enc["input_ids"], response_ids.to(enc["input_ids"].device)], dim=1)
    attention_mask = torch.cat([enc["attention_mask"], mask.to(enc["attention_mask"].dtype)], dim=1)
    texts = tokenizer.batch_decode(seqs[:, P:], skip_special_tokens=True)
    return Rollout(
        input_ids=seqs, attention_mask=attention_mask, prompt_len=P, response_mask=mask,
        log_probs=None if log_probs is None else log_probs * mask, pixel_values=enc.get("pixel_values"),
        responses=[t.strip() for t in texts], records=list(records),
        image_extras={k: enc[k] for k in IMAGE_INPUTS[1:] if k in enc},
    )


def rollout_from_responses(
    records: Sequence[PromptRecord],
    processing_class: Any,
    responses: Sequence[Sequence[int]],
    eos_ids: Sequence[int],
    device: Any = None,
) -> Rollout:
    """The rollout of responses sampled elsewhere (an inference engine: token ids per prompt, each ending with EOS or
    cut at the length limit), laid out exactly as :func:`generate_rollout` lays out its own; no log-probs (the trainer
    computes them with its own forward)."""
    tok = tokenizer_of(processing_class)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else int(eos_ids[0])
    enc = encode_prompts(records, processing_class, device)
    T = max(1, max(len(r) for r in responses))
    ids = torch.full((len(responses), T), pad_id, dtype=torch.long, device=enc["input_ids"].device)
    for i, r in enumerate(responses):
        ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
    return assemble_rollout(enc, ids, records, tok, eos_ids, pad_id)


def response_logits(model: Any, rollout: Rollout, inputs_embeds: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Logits predicting each response token, from one full-sequence forward.  -> [B, T, V]

    ``inputs_embeds``: states [B, L, H] to start from instead of the token embeddings (a shared trunk ran the layers
    below the ones the model's decoder runs now; see :mod:`safealign.models.trunk`). The rollout may be a scoring view
    (:func:`with_turn_suffix`, L = P+T+S): only positions ``P-1 .. P+T-2`` are read."""
    P, T = rollout.prompt_len, rollout.response_mask.size(1)
    inputs = rollout.model_inputs()
    if inputs_embeds is not None:
        del inputs["input_ids"]
        inputs["inputs_embeds"] = inputs_embeds
    out = model(**inputs, use_cache=False, logits_to_keep=rollout.input_ids.size(1) - P + 1)
    return out.logits[:, :T]


def policy_log_probs(
    model: Any, rollout: Rollout, with_entropy: bool = False, inputs_embeds: Optional[torch.Tensor] = None
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """log pi(a_t | s_t) over response tokens (zero on padding) and optionally the per-token entropy.  [B, T]"""
    logits = response_logits(model, rollout, inputs_embeds)
    mask = rollout.response_mask
    lp = gather_log_probs(logits, rollout.response_ids) * mask
    ent = entropy_from_logits(logits.detach()) * mask if with_entropy else None
    return lp, ent


# ------------------------------------------------------------------------------------------ scoring format
_SUFFIX_MARKER = "SAFEALIGNANSWERMARKER"


def assistant_suffix_ids(processing_class: Any) -> list[int]:
    """Token ids the chat template appends after an assistant answer (its end-of-turn suffix, e.g. ``<|im_end|>\n``
    for ChatML); [] for a template without one. Found by rendering a conversation in the score models' training
    format (``[user] + assistant``, no generation prompt) with a marker answer: the tokens after the marker."""
    tok = tokenizer_of(processing_class)
    text = render(processing_class, "hi", _SUFFIX_MARKER, None, with_image=is_processor(processing_class))
    at = text.rfind(_SUFFIX_MARKER)
    if at < 0:  # the template rewrote the answer: nothing to go by
        return []
    head, tail = text[: at + len(_SUFFIX_MARKER)], text[at + len(_SUFFIX_MARKER) :]
    if not tail:
        return []
    full_ids = tok(text, add_special_tokens=False)["input_ids"]
    head_ids = tok(head, add_special_tokens=False)["input_ids"]
    if full_ids[: len(head_ids)] == head_ids:  # the suffix as tokenised in context
        return [int(i) for i in full_ids[len(head_ids) :]]
    return [int(i) for i in tok(tail, add_special_tokens=False)["input_ids"]]


def with_turn_suffix(
    rollout: Rollout, suffix_ids: Sequence[int], eos_ids: Sequence[int] = (), pad_id: int = 0
) -> Rollout:
    """The rollout as the score models were trained to read it: each row's answer followed by the template's
    end-of-turn ``suffix_ids``, in a copy widened by ``len(suffix_ids)`` columns (``pad_id`` elsewhere) whose attention
    mask covers the suffix; the end score is then read at the last suffix token. A row that ended with an EOS token
    has that EOS replaced by the suffix (the template's own end of turn: for ChatML the suffix starts with the same
    token, Llama-2 writes " </s>", LLaVA-1.5 a space and no EOS at all); a truncated row gets the suffix after its
    last token. ``prompt_len``, ``response_mask``, log-probs, pixels and the response tokens (``response_ids``, kept
    in ``response_tokens``) are unchanged; the rollout itself when there is no suffix."""
    suffix = [int(i) for i in suffix_ids]
    S = len(suffix)
    if S == 0:
        return rollout
    B, L = rollout.input_ids.shape
    P = rollout.prompt_len
    ids = torch.full((B, L + S), int(pad_id), dtype=rollout.input_ids.dtype, device=rollout.input_ids.device)
    attn = torch.zeros((B, L + S), dtype=rollout.attention_mask.dtype, device=rollout.attention_mask.device)
    ids[:, :L] = rollout.input_ids
    attn[:, :L] = rollout.attention_mask
    lengths = rollout.response_mask.sum(-1).long().tolist()
    eos = {int(e) for e in eos_ids}
    tail = torch.tensor(suffix, dtype=ids.dtype, device=ids.device)
    for i, n in enumerate(lengths):
        end = P + n  # one past the last response token
        if n > 0 and int(rollout.input_ids[i, end - 1]) in eos:
            end -= 1  # the generated EOS gives way to the template's end of turn
        ids[i, end:] = int(pad_id)
        attn[i, end:] = 0
        ids[i, end : end + S] = tail
        attn[i, end : end + S] = 1
    return dataclasses.replace(rollout, input_ids=ids, attention_mask=attn, response_tokens=rollout.response_ids)
