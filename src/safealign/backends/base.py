"""The generation-backend interface shared by the guard, the teacher/judge of the Janus pipeline and evaluation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, Iterator, Optional

from safealign.config import BaseConfig, help_field

# A chat: [{"role": "system"|"user"|"assistant", "content": str | [content parts]}]
Messages = list[dict[str, Any]]


@dataclass
class GenerationConfig(BaseConfig):
    """How answers are generated: the one set of generation settings, each with one default, passed whole to the
    backends (and to PPO's rollout). Every command that generates takes these options: its config subclasses this
    one, restating a default only where its purpose needs another (greedy evaluation, PPO's short samples)."""

    max_new_tokens: int = help_field(128, "Answer length limit (tokens).", min=1)
    temperature: float = help_field(0.7, "Sampling temperature (0 = greedy: no sampling, reproducible).", min=0.0)
    top_p: float = help_field(1.0, "Nucleus sampling: sample from the smallest token set holding this probability.")
    batch_size: int = help_field(8, "Prompts per generation batch (a local model's batch size).", min=1)
    seed: Optional[int] = help_field(None, "Sampling seed (none: the random state as it is).")

    @property
    def do_sample(self) -> bool:
        """Sampling (temperature > 0) or greedy decoding (temperature 0)."""
        return bool(self.temperature and self.temperature > 0)

    def generation(self) -> "GenerationConfig":
        """The generation settings alone (from a command config that holds them among its own fields)."""
        return GenerationConfig(**{f.name: getattr(self, f.name) for f in fields(GenerationConfig)})


GenerationParams = GenerationConfig  # the earlier name


class Backend(ABC):
    """Answers chats. Implementations batch internally; ``images`` (one PIL image or None per chat) is optional."""

    name: str = "backend"

    @abstractmethod
    def generate(
        self, chats: list[Messages], params: Optional[GenerationConfig] = None, images: Optional[list[Any]] = None
    ) -> list[str]: ...

    def generate_one(self, chat: Messages, params: Optional[GenerationConfig] = None, image: Any = None) -> str:
        return self.generate([chat], params, images=[image] if image is not None else None)[0]

    def stream(self, chat: Messages, params: Optional[GenerationConfig] = None) -> Iterator[str]:
        """Yield text chunks; the default streams the whole answer as one chunk."""
        yield self.generate_one(chat, params)

    def count_tokens(self, chat: Messages, completion: str) -> Optional[tuple[int, int]]:
        """(prompt tokens, completion tokens) as this backend's model counts them: the chat rendered for generation,
        and the answer text. None when the backend cannot tell (a server's ``usage`` is then left out)."""
        return None
