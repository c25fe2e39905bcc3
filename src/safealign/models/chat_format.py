"""Messages in the form each chat template wants, found by probing the template once.

Chat templates differ in what they accept (see docs/models.md, "Supported model families"):

* content form: most text templates concatenate ``message['content']`` as a string (a list of content parts raises or
  is printed as its Python repr); LLaVA-1.5 and LLaVA-NeXT render only a list of parts (a plain string renders
  nothing or raises); Qwen2-VL takes both.
* system turn: Gemma-2 raises on a system message. Such templates get the system text folded into the first user
  turn (``system + "\\n\\n" + user``), with a one-time warning.
* default system prompt: Qwen2.5, Qwen2-VL and SmolLM2 write their own system prompt ("You are Qwen, ...") when a
  conversation has none. safealign passes an explicit EMPTY system turn to such templates instead, everywhere
  (generation, score-model data and scoring, judges), so what a reward / cost model or a judge reads never holds an
  instruction the data did not have, and a conversation renders the same whichever of these families it goes
  through. An empty or missing system message is otherwise no system turn at all.

:func:`chat_format` renders a marker conversation (system, user, answer) in both forms once per template, keeps the
first form in which every marker survives, and caches the result; :func:`format_messages` turns safealign's
canonical messages (string content; an image part before the user's text) into that form. A template that loses the
user prompt, the answer or the system text in every form stops with one line (:class:`ChatFormatError`), as does a
model without a chat template (base checkpoints: set ``chat_template`` / ``--chat-template``, see
:mod:`safealign.models.chat_templates`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from safealign.errors import ConfigError

SYSTEM_MARK, USER_MARK, ANSWER_MARK = "SAFEALIGNSYSTEMMARK", "SAFEALIGNUSERMARK", "SAFEALIGNANSWERMARK"
CHAT_TEMPLATE_HINT = "set chat_template in the config or pass --chat-template default|chatml|FILE"
FOLD_SEPARATOR = "\n\n"

Messages = list[dict[str, Any]]


class ChatFormatError(ConfigError):
    """A chat template that cannot carry what safealign must give it (or a model without one)."""


@dataclass(frozen=True)
class ChatFormat:
    """How a template wants its messages (see the module docstring)."""

    content: Literal["string", "parts"]
    system: Literal["native", "fold"]
    empty_system: bool  # pass an explicit empty system turn when none is given (the template would write its own)


def is_processor(processing_class: Any) -> bool:
    """True for a multimodal processor (has a tokenizer and an image processor), False for a plain tokenizer."""
    return hasattr(processing_class, "tokenizer") and hasattr(processing_class, "image_processor")


def tokenizer_of(processing_class: Any) -> Any:
    return processing_class.tokenizer if is_processor(processing_class) else processing_class


def template_of(processing_class: Any) -> Optional[str]:
    """The chat template that renders for ``processing_class`` (a processor's own, else its tokenizer's)."""
    return getattr(processing_class, "chat_template", None)


def _name(processing_class: Any, what: Optional[str]) -> str:
    if what:
        return what
    path = getattr(tokenizer_of(processing_class), "name_or_path", "") or ""
    return f"model {path!r}" if path else "the model"


# ------------------------------------------------------------------------------------------------- the probe

_CACHE: dict[tuple, ChatFormat] = {}


def _cache_key(processing_class: Any, template: str) -> tuple:
    tok = tokenizer_of(processing_class)
    return (type(processing_class).__name__, str(template), getattr(tok, "bos_token", None),
            getattr(tok, "eos_token", None))


def _as_parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text}]


def _conversation(form: str, system: Optional[str], user: str, answer: str) -> Messages:
    wrap = _as_parts if form == "parts" else (lambda s: s)
    msgs = [{"role": "system", "content": wrap(system)}] if system is not None else []
    return msgs + [{"role": "user", "content": wrap(user)}, {"role": "assistant", "content": wrap(answer)}]


def _try_render(processing_class: Any, messages: Messages) -> Optional[str]:
    try:
        return processing_class.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    except Exception:  # noqa: BLE001 - a template refusing a form is an answer of the probe, not an error
        return None


def _keeps(text: Optional[str], *markers: str) -> bool:
    """Every marker is in the text, and not inside the Python repr of a list of parts (a string-only template that
    printed the list)."""
    return text is not None and all(m in text for m in markers) and "'type'" not in text


def probe_chat_format(processing_class: Any, what: Optional[str] = None) -> ChatFormat:
    """Render marker conversations through the template (uncached; see :func:`chat_format`)."""
    name = _name(processing_class, what)
    content = next((form for form in ("string", "parts")
                    if _keeps(_try_render(processing_class, _conversation(form, None, USER_MARK, ANSWER_MARK)),
                              USER_MARK, ANSWER_MARK)), None)
    if content is None:
        raise ChatFormatError(f"{name}: its chat template loses the user prompt or the answer whether the content is "
                              f"a string or a list of parts; {CHAT_TEMPLATE_HINT} to use another one")
    with_system = _try_render(processing_class, _conversation(content, SYSTEM_MARK, USER_MARK, ANSWER_MARK))
    system = "native" if _keeps(with_system, SYSTEM_MARK, USER_MARK, ANSWER_MARK) else "fold"
    if system == "fold":
        folded = _try_render(processing_class,
                             _conversation(content, None, SYSTEM_MARK + FOLD_SEPARATOR + USER_MARK, ANSWER_MARK))
        if not _keeps(folded, SYSTEM_MARK, USER_MARK, ANSWER_MARK):
            raise ChatFormatError(f"{name}: its chat template loses the system message even folded into the user "
                                  f"turn; {CHAT_TEMPLATE_HINT} to use another one")
    empty_system = False
    if system == "native":
        none = _try_render(processing_class, _conversation(content, None, USER_MARK, ANSWER_MARK)) or ""
        empty = _try_render(processing_class, _conversation(content, "", USER_MARK, ANSWER_MARK)) or ""
        # the template writes more before the user turn without a system message than with an empty one: its own
        empty_system = USER_MARK in empty and none.find(USER_MARK) > empty.find(USER_MARK)
    fmt = ChatFormat(content=content, system=system, empty_system=empty_system)
    _check_token_ids(processing_class, fmt, name)
    return fmt


def _check_token_ids(processing_class: Any, fmt: ChatFormat, name: str) -> None:
    """The marker system, user and answer text reach the token ids (decoded back)."""
    tok = tokenizer_of(processing_class)
    text = processing_class.apply_chat_template(
        _format(fmt, _conversation("string", SYSTEM_MARK, USER_MARK, ANSWER_MARK), vision=False), tokenize=False)
    decoded = tok.decode(tok(text, add_special_tokens=False)["input_ids"])
    lost = [role for role, mark in (("system", SYSTEM_MARK), ("user", USER_MARK), ("answer", ANSWER_MARK))
            if mark not in decoded]
    if lost:
        raise ChatFormatError(f"{name}: the {' and '.join(lost)} text does not survive tokenization of the rendered "
                              f"conversation")


def chat_format(processing_class: Any, what: Optional[str] = None) -> ChatFormat:
    """The form ``processing_class``'s template wants (probed once per template, then cached). ``what`` names the
    model in errors ("the actor", "the reward model"). Folding the system message is announced once."""
    template = template_of(processing_class)
    if not template:
        raise ChatFormatError(f"{_name(processing_class, what)} has no chat template (a base checkpoint?): "
                              f"{CHAT_TEMPLATE_HINT}")
    key = _cache_key(processing_class, template)
    if key not in _CACHE:
        fmt = probe_chat_format(processing_class, what)
        if fmt.system == "fold":
            msg = (f"{_name(processing_class, what)}: the chat template has no system turn; system messages are "
                   f"folded into the first user turn (system + blank line + prompt)")
            warnings.warn(msg, UserWarning, stacklevel=2)
        _CACHE[key] = fmt
    return _CACHE[key]


# ------------------------------------------------------------------------------------------------ formatting


def text_of(content: Any) -> str:
    """The text of a message's content (a string, or the text parts of a list joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _has_image(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image" for p in content)


def _content(fmt: ChatFormat, content: Any, vision: bool) -> Any:
    if vision and _has_image(content):  # an image part only ever reaches a processor, and only as a part
        return [p if p.get("type") == "image" else {"type": "text", "text": p.get("text", "")} for p in content
                if isinstance(p, dict) and p.get("type") in ("image", "text")]
    text = text_of(content)
    return _as_parts(text) if fmt.content == "parts" else text


def _format(fmt: ChatFormat, messages: Sequence[dict[str, Any]], vision: bool) -> Messages:
    msgs = [dict(m) for m in messages]
    system = None
    if msgs and msgs[0].get("role") == "system":
        system = text_of(msgs.pop(0).get("content"))
    if system and fmt.system == "fold":
        first = next((m for m in msgs if m.get("role") == "user"), None)
        if first is None:
            msgs.insert(0, {"role": "user", "content": system})
        elif _has_image(first["content"]):  # the image parts, then the system text and the prompt as one part
            images = [p for p in first["content"] if isinstance(p, dict) and p.get("type") == "image"]
            first["content"] = images + _as_parts(system + FOLD_SEPARATOR + text_of(first["content"]))
        else:
            first["content"] = system + FOLD_SEPARATOR + text_of(first["content"])
    elif system:
        msgs.insert(0, {"role": "system", "content": system})
    elif fmt.empty_system:
        msgs.insert(0, {"role": "system", "content": ""})
    return [{**m, "content": _content(fmt, m.get("content"), vision)} for m in msgs]


def format_messages(processing_class: Any, messages: Sequence[dict[str, Any]], what: Optional[str] = None) -> Messages:
    """``messages`` (canonical: string content, an image part before the user's text) in the form the template of
    ``processing_class`` wants: string or content parts, the system message in its own turn or folded into the first
    user turn, an empty system turn where the template would write its own default. Image parts are kept for a
    processor and dropped for a text-only tokenizer (a text model never sees image tokens)."""
    return _format(chat_format(processing_class, what), messages, vision=is_processor(processing_class))


def render_messages(
    processing_class: Any, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = False,
    what: Optional[str] = None,
) -> str:
    """The text of ``messages`` through the chat template of ``processing_class``, in the form it wants."""
    return processing_class.apply_chat_template(format_messages(processing_class, messages, what), tokenize=False,
                                                add_generation_prompt=add_generation_prompt)


def clear_cache() -> None:
    _CACHE.clear()
