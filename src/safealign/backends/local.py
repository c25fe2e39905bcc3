"""A local transformers model as a :class:`Backend`: batched, left-padded, KV-cached sampling that stops at EOS."""

from __future__ import annotations

import threading
from typing import Any, Iterator, Optional

import torch

from safealign.backends.base import Backend, GenerationConfig, Messages
from safealign.models.chat_format import chat_format, render_messages


class LocalBackend(Backend):
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, processor: Any = None, name: str = "local"):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.processor = processor  # for vision-language models (images)
        self.batch_size = batch_size
        self.name = name
        self._lock = threading.Lock()  # one forward at a time (servers call from several threads)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        # start-up probe: a template that would lose the system message, prompt or answer stops here in one line
        chat_format(self.processor if self.processor is not None else self.tokenizer, f"backend {name!r}")

    @classmethod
    def from_pretrained(
        cls, name_or_path: Optional[str] = None, batch_size: int = 8, device: Optional[str] = None,
        chat_template: str = "auto",
    ) -> "LocalBackend":
        from safealign.models.loading import load_model_and_tokenizer

        model, tok = load_model_and_tokenizer(name_or_path, device=device, chat_template=chat_template)
        return cls(model, tok, batch_size=batch_size, name=name_or_path or "default")

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def render(self, chat: Messages) -> str:
        return render_messages(self.processor if self.processor is not None else self.tokenizer, chat,
                               add_generation_prompt=True, what=f"backend {self.name!r}")

    def count_tokens(self, chat: Messages, completion: str) -> Optional[tuple[int, int]]:
        prompt = self.tokenizer(self.render(chat), add_special_tokens=False)["input_ids"]
        answer = self.tokenizer(completion, add_special_tokens=False)["input_ids"] if completion else []
        return len(prompt), len(answer)

    def _encode(self, texts: list[str], images: Optional[list[Any]]) -> dict[str, torch.Tensor]:
        if self.processor is not None and images is not None and any(im is not None for im in images):
            enc = self.processor(
                images=[im for im in images if im is not None], text=texts, return_tensors="pt", padding=True
            )
        else:
            self.tokenizer.padding_side = "left"
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        return {k: v.to(self.device) for k, v in enc.items()}

    def _gen_kwargs(self, params: GenerationConfig) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if params.do_sample:
            kw.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kw.update(do_sample=False)
        return kw

    @torch.no_grad()
    def generate(
        self, chats: list[Messages], params: Optional[GenerationConfig] = None, images: Optional[list[Any]] = None
    ) -> list[str]:
        params = params or GenerationConfig()
        if params.seed is not None:
            torch.manual_seed(params.seed)
        out: list[str] = []
        for start in range(0, len(chats), self.batch_size):
            batch = chats[start : start + self.batch_size]
            imgs = images[start : start + self.batch_size] if images is not None else None
            enc = self._encode([self.render(c) for c in batch], imgs)
            with self._lock:
                seqs = self.model.generate(**enc, **self._gen_kwargs(params))
            new = seqs[:, enc["input_ids"].shape[1] :]
            out.extend(t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return out

    def stream(self, chat: Messages, params: Optional[GenerationConfig] = None) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        params = params or GenerationConfig()
        enc = self._encode([self.render(chat)], None)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**enc, **self._gen_kwargs(params), "streamer": streamer}

        def run() -> None:
            with self._lock, torch.no_grad():
                self.model.generate(**kwargs)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        for chunk in streamer:
            if chunk:
                yield chunk
        thread.join()
