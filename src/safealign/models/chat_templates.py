"""Chat templates for models that have none (base checkpoints: Llama-2-7b-hf, Mistral-7B-v0.2, ...).

The ``chat_template`` field of the trainers' configs (``--chat-template`` on their commands and on the evaluation
commands) picks the template a model is used with:

* ``auto`` (the default): the model's own; a model without one stops with one line naming this option;
* ``default``: a plain-text template for base models that needs no new token: ``### System:`` / ``### User:`` /
  ``### Assistant:`` headers, each answer ending with the tokenizer's EOS token (the end of turn a rollout stops at),
  the tokenizer's BOS token first when it has one;
* ``chatml``: ChatML (``<|im_start|>role ... <|im_end|>``), for tokenizers that hold those tokens (otherwise they are
  plain text and a rollout stops only at the EOS token);
* a path to a Jinja file: that template.

Anything but ``auto`` replaces the model's own template. A trained model is saved with the template it was trained
with, so later stages (PPO from an SFT model, evaluation) find it without the option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safealign.errors import ConfigError

CHAT_TEMPLATE_HELP = (
    "Chat template: 'auto' (the model's own; a model without one, e.g. a base checkpoint, is an error), 'default' "
    "(plain '### User:' / '### Assistant:' turns, each answer ending with the EOS token; for base models), 'chatml', "
    "or a Jinja file. Anything but auto replaces the model's own; a trained model is saved with it."
)

DEFAULT_TEMPLATE = (
    "{{ bos_token or '' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '### System:\n' + message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '### User:\n' + message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Assistant:\n' + message['content'] + eos_token }}"
    "{% if not loop.last %}{{ '\n\n' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Assistant:\n' }}{% endif %}"
)

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BUILT_IN = {"default": DEFAULT_TEMPLATE, "chatml": CHATML_TEMPLATE}


def resolve_chat_template(option: str) -> str | None:
    """The template text an option names (None for ``auto``); a missing file is a one-line error."""
    if option in (None, "", "auto"):
        return None
    if option in BUILT_IN:
        return BUILT_IN[option]
    path = Path(option).expanduser()
    if not path.is_file():
        raise ConfigError(f"chat_template: {option!r} is neither auto, default, chatml nor a Jinja file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"chat_template: {option} is not UTF-8 text") from None


def use_chat_template(processing_class: Any, option: str = "auto") -> Any:
    """``processing_class`` (a tokenizer or processor) with the template ``option`` names (see the module docstring);
    unchanged for ``auto``. A processor's tokenizer gets the same template."""
    template = resolve_chat_template(option)
    if template is not None:
        processing_class.chat_template = template
        inner = getattr(processing_class, "tokenizer", None)
        if inner is not None and hasattr(processing_class, "image_processor"):
            inner.chat_template = template
    return processing_class
