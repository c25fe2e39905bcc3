"""The compatibility check at the start of every trainer and evaluator that combines models.

A policy's episodes reach the models that read them (reward R, cost C, the critics built on them) either as the
policy's own token ids or re-tokenized through text:

* ``ids`` - the reader has the policy's tokenizer (same vocabulary, same BOS / EOS / UNK) and the same chat template,
  so the policy's token ids mean the same to it: they are passed as they are (PPO's fast path);
* ``text`` - anything else: each episode is decoded and rendered again, in the reader's own chat template, and
  tokenized by the reader's tokenizer (as the Safe RLHF reference implementation does when tokenizers differ).

Every model's chat template is probed at start (:func:`safealign.models.chat_format.chat_format`): a template that
would lose the system message, the prompt or the answer stops the run with one line. A text-only reader of prompts
with images is an error (it would score answers to images it never sees; Safe RLHF-V pairs a LLaVA policy with LLaVA
reward and cost models), so image tokens never reach a text-only model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from safealign.errors import ConfigError
from safealign.models.chat_format import chat_format, template_of, tokenizer_of


@dataclass(frozen=True)
class Reading:
    """How one model reads the policy's episodes: ``mode`` ids or text, and why."""

    name: str
    mode: Literal["ids", "text"]
    why: str


def _specials(tok: Any) -> tuple:
    return tuple(getattr(tok, f"{k}_token_id", None) for k in ("bos", "eos", "unk"))


def same_tokenizer(a: Any, b: Any) -> bool:
    """Same vocabulary (added tokens included) and the same BOS / EOS / UNK ids; the pad token is not compared (no
    model reads it: scores and values come from the attention mask)."""
    ta, tb = tokenizer_of(a), tokenizer_of(b)
    return ta is tb or (_specials(ta) == _specials(tb) and ta.get_vocab() == tb.get_vocab())


def reading(policy: Any, reader: Any, name: str) -> Reading:
    """How ``reader`` (a tokenizer or processor) reads episodes of a policy with ``policy``'s processing class."""
    if not same_tokenizer(policy, reader):
        return Reading(name, "text", "its tokenizer differs from the policy's: episodes are re-tokenized through text")
    if template_of(policy) != template_of(reader):
        return Reading(name, "text", "its chat template differs from the policy's: episodes are re-rendered as text")
    return Reading(name, "ids", "same tokenizer and chat template as the policy: token ids are shared")


def check_models(
    policy: Any,
    readers: Mapping[str, tuple[Any, bool]],
    images: bool = False,
    policy_name: str = "the policy",
) -> dict[str, Reading]:
    """The start-up check of a run that combines models. ``policy``: the policy's tokenizer or processor;
    ``readers``: name -> (tokenizer or processor, whether the model sees images); ``images``: whether the prompts
    carry images. Probes every chat template, refuses a text-only reader of image prompts, and says for each reader
    whether it shares the policy's token ids or reads re-tokenized text. One-line :class:`ConfigError` otherwise."""
    chat_format(policy, policy_name)
    out = {}
    for name, (processing_class, vision) in readers.items():
        chat_format(processing_class, name)
        if images and not vision:
            raise ConfigError(
                f"the prompts have images but {name} is a text-only model: it would score answers to images it never "
                "sees; use a vision-language " + name.removeprefix("the ") + " (Safe RLHF-V: LLaVA reward and cost "
                "models for a LLaVA policy)"
            )
        out[name] = reading(policy, processing_class, name)
    return out
