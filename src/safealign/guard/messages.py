"""Chat helpers the guardrail pipeline and streaming moderation share: the text of a message, the last user prompt,
a chat with a note added to its system message."""

from __future__ import annotations

import copy
from typing import Any

from safealign.backends.base import Messages
from safealign.errors import DataError


def message_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of OpenAI/HF content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and p.get("type") == "text":
                parts.append(str(p.get("text", "")))
            elif isinstance(p, str):
                parts.append(p)
        return "\n".join(parts)
    return str(content)


def last_user_prompt(messages: Messages) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return message_text(m.get("content"))
    raise DataError("the chat has no user message", field="messages")


def with_system_note(messages: Messages, note: str) -> Messages:
    """A copy of the chat whose system message ends with ``note`` (a system message is added if none)."""
    chat = copy.deepcopy(list(messages))
    if chat and chat[0].get("role") == "system":
        base = message_text(chat[0].get("content"))
        chat[0] = {"role": "system", "content": (base + "\n\n" + note).strip()}
    else:
        chat.insert(0, {"role": "system", "content": note})
    return chat
