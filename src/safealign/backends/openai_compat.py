"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, TGI, llama.cpp server, our own ``safealign serve``) as a
:class:`~safealign.backends.base.Backend`.

- concurrency: ``concurrency`` requests in flight (a thread pool; answers come back in input order);
- retries: connection errors, timeouts, HTTP 408/409/429/5xx are retried up to ``max_retries`` times with
  exponential backoff plus jitter (``Retry-After`` is honoured when the server sends it); other 4xx fail at once;
- rate limiting: at most ``requests_per_second`` requests started per second across all threads.

    backend = OpenAIBackend("http://127.0.0.1:8000/v1", model="gpt-4o-mini", api_key=os.environ.get("OPENAI_API_KEY"))
    backend.generate([[{"role": "user", "content": "hi"}]], GenerationConfig(max_new_tokens=32))
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Optional

import httpx

from safealign.backends.base import Backend, GenerationConfig, Messages
from safealign.errors import SafealignError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class BackendError(SafealignError):
    """The endpoint refused a request or kept failing after all retries."""


class RateLimiter:
    """Start at most ``rate`` calls per second (evenly spaced), shared by all threads; ``rate`` <= 0 disables it."""

    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


def _image_part(image: Any) -> dict[str, Any]:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()},
    }


def _to_openai_messages(chat: Messages, image: Any = None) -> list[dict[str, Any]]:
    """Our content parts ({"type": "image"} / {"type": "text", "text"}) -> OpenAI parts; the image goes where the
    chat puts its image part, or before the text of the last user turn when the chat has none."""
    out: list[dict[str, Any]] = []
    placed = False
    for m in chat:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image":
                    if image is not None and not placed:
                        parts.append(_image_part(image))
                        placed = True
                elif p.get("type") == "text":
                    parts.append({"type": "text", "text": p["text"]})
                else:
                    parts.append(p)
            content = parts
        out.append({"role": m["role"], "content": content})
    if image is not None and not placed:
        for m in reversed(out):
            if m["role"] == "user":
                text = m["content"] if isinstance(m["content"], str) else None
                m["content"] = [_image_part(image)] + (
                    [{"type": "text", "text": text}] if text is not None else list(m["content"])
                )
                break
    return out


class OpenAIBackend(Backend):
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: Optional[str] = None,
        concurrency: int = 8,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        requests_per_second: float = 0.0,
        timeout: float = 120.0,
        extra_body: Optional[dict[str, Any]] = None,
        transport: Optional[httpx.BaseTransport] = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff, self.max_backoff = backoff, max_backoff
        self.limiter = RateLimiter(requests_per_second)
        self.extra_body = extra_body or {}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, limits=limits, transport=transport
        )
        self.stats = {"requests": 0, "retries": 0}
        self._stats_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "OpenAIBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def _body(
        self, chat: Messages, params: GenerationConfig, image: Any = None, stream: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": _to_openai_messages(chat, image),
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if stream:
            body["stream"] = True
        body.update(self.extra_body)
        return body

    def _wait(self, attempt: int, response: Optional[httpx.Response]) -> float:
        if response is not None and response.headers.get("retry-after"):
            try:
                return min(float(response.headers["retry-after"]), self.max_backoff)
            except ValueError:
                pass
        return min(self.backoff * (2**attempt), self.max_backoff) * (0.5 + random.random() / 2)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        last = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire()
            response = None
            with self._stats_lock:
                self.stats["requests"] += 1
                if attempt:
                    self.stats["retries"] += 1
            try:
                response = self._client.post("/chat/completions", json=body)
            except httpx.TransportError as e:  # connection refused/reset, timeouts
                last = f"{type(e).__name__}: {e}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        last = "invalid JSON in the response"
                elif response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                else:
                    raise BackendError(f"{self.base_url}: HTTP {response.status_code}: {response.text[:300]}")
            if attempt < self.max_retries:
                time.sleep(self._wait(attempt, response))
        raise BackendError(f"{self.base_url}: failed after {self.max_retries + 1} attempts ({last})")

    @staticmethod
    def _text(data: dict[str, Any]) -> str:
        try:
            return (data["choices"][0]["message"].get("content") or "").strip()
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"unexpected response shape: {json.dumps(data)[:200]}") from None

    def generate(
        self, chats: list[Messages], params: Optional[GenerationConfig] = None, images: Optional[list[Any]] = None
    ) -> list[str]:
        params = params or GenerationConfig()
        imgs = images if images is not None else [None] * len(chats)
        bodies = [self._body(c, params, im) for c, im in zip(chats, imgs)]
        if len(bodies) == 1 or self.concurrency == 1:
            return [self._text(self._post(b)) for b in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return [self._text(d) for d in pool.map(self._post, bodies)]

    def stream(self, chat: Messages, params: Optional[GenerationConfig] = None) -> Iterator[str]:
        """Server-sent events (``stream: true``); the connection itself is not retried once tokens flow."""
        params = params or GenerationConfig()
        self.limiter.acquire()
        with self._client.stream("POST", "/chat/completions", json=self._body(chat, params, stream=True)) as r:
            if r.status_code != 200:
                r.read()
                raise BackendError(f"{self.base_url}: HTTP {r.status_code}: {r.text[:300]}")
            for line in r.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    delta = json.loads(payload)["choices"][0].get("delta", {})
                except (ValueError, KeyError, IndexError):
                    continue
                if delta.get("content"):
                    yield delta["content"]


def make_backend(
    model: Optional[str] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    concurrency: int = 8,
    max_retries: int = 5,
    requests_per_second: float = 0.0,
    batch_size: int = 8,
    chat_template: str = "auto",
) -> Backend:
    """A local transformers model (``model`` = "default", hub id or path; ``chat_template``: see
    :mod:`safealign.models.chat_templates`) or, when ``base_url`` is set, an OpenAI-compatible endpoint serving
    ``model`` (which applies its own template)."""
    if base_url:
        return OpenAIBackend(
            base_url, model or "default", api_key=api_key, concurrency=concurrency, max_retries=max_retries,
            requests_per_second=requests_per_second,
        )
    from safealign.backends.local import LocalBackend

    return LocalBackend.from_pretrained(model, batch_size=batch_size, chat_template=chat_template)
