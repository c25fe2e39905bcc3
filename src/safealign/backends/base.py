"""The generation-backend interface shared by the guard, the teacher/judge of the Janus pipeline and evaluation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator, Optional

# A chat: [{"role": "system"|"user"|"assistant", "content": str | [content parts]}]
Messages = list[dict[str, Any]]


@dataclass
class GenerationParams:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy
    top_p: float = 1.0
    seed: Optional[int] = None


class Backend(ABC):
    """Answers chats. Implementations batch internally; ``images`` (one PIL image or None per chat) is optional."""

    name: str = "backend"

    @abstractmethod
    def generate(
        self, chats: list[Messages], params: Optional[GenerationParams] = None, images: Optional[list[Any]] = None
    ) -> list[str]: ...

    def generate_one(self, chat: Messages, params: Optional[GenerationParams] = None, image: Any = None) -> str:
        return self.generate([chat], params, images=[image] if image is not None else None)[0]

    def stream(self, chat: Messages, params: Optional[GenerationParams] = None) -> Iterator[str]:
        """Yield text chunks; the default streams the whole answer as one chunk."""
        yield self.generate_one(chat, params)

    def count_tokens(self, chat: Messages, completion: str) -> Optional[tuple[int, int]]:
        """(prompt tokens, completion tokens) as this backend's model counts them: the chat rendered for generation,
        and the answer text. None when the backend cannot tell (a server's ``usage`` is then left out)."""
        return None
