"""OpenAIBackend against a tiny OpenAI-compatible FastAPI server on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, StreamingResponse  # noqa: E402

from safealign.backends.base import GenerationParams  # noqa: E402
from safealign.backends.openai_compat import BackendError, OpenAIBackend, RateLimiter  # noqa: E402


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_next: list[int] = []  # status codes to return before succeeding
        self.bodies: list[dict] = []
        self.auth: list[str] = []


def make_app(state: State) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        import asyncio

        body = await request.json()
        with state.lock:
            state.bodies.append(body)
            state.auth.append(request.headers.get("authorization", ""))
            code = state.fail_next.pop(0) if state.fail_next else 200
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            await asyncio.sleep(0.05)
            if code != 200:
                return JSONResponse(
                    {"error": {"message": f"status {code}"}},
                    status_code=code,
                    headers={"retry-after": "0"} if code == 429 else None,
                )
            last = body["messages"][-1]["content"]
            text = f"echo:{last if isinstance(last, str) else 'parts'}"
            if body.get("stream"):

                def events():
                    for piece in (text[:5], text[5:]):
                        yield "data: " + json.dumps({"choices": [{"delta": {"content": piece}}]}) + "\n\n"
                    yield "data: [DONE]\n\n"

                return StreamingResponse(events(), media_type="text/event-stream")
            return {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
            }
        finally:
            with state.lock:
                state.in_flight -= 1

    return app


@pytest.fixture(scope="module")
def server():
    state = State()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(state), log_level="error", lifespan="off"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/v1", state
    srv.should_exit = True
    th.join(timeout=5)


def chat(i):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"q{i}"}]


def test_generate_in_order_with_concurrency(server):
    url, state = server
    state.max_in_flight = 0
    b = OpenAIBackend(url, "m", api_key="k", concurrency=4, backoff=0.01)
    out = b.generate([chat(i) for i in range(12)], GenerationParams(max_new_tokens=7, temperature=0.0, seed=3))
    assert out == [f"echo:q{i}" for i in range(12)]
    assert 2 <= state.max_in_flight <= 4
    body = state.bodies[-1]
    assert (
        body["model"] == "m"
        and body["max_tokens"] == 7
        and body["seed"] == 3
        and body["messages"][0]["role"] == "system"
    )
    assert state.auth[-1] == "Bearer k"


def test_retries_on_429_and_5xx_then_succeeds(server):
    url, state = server
    b = OpenAIBackend(url, "m", concurrency=1, max_retries=3, backoff=0.01)
    state.fail_next = [429, 503, 500]
    assert b.generate_one(chat(1)) == "echo:q1"
    assert b.stats == {"requests": 4, "retries": 3}


def test_gives_up_after_max_retries_and_does_not_retry_4xx(server):
    url, state = server
    b = OpenAIBackend(url, "m", concurrency=1, max_retries=1, backoff=0.01)
    state.fail_next = [500, 500]
    with pytest.raises(BackendError, match="failed after 2 attempts"):
        b.generate_one(chat(1))
    state.fail_next = [400]
    with pytest.raises(BackendError, match="HTTP 400"):
        b.generate_one(chat(1))
    assert b.stats["retries"] == 1  # the 400 was not retried
    state.fail_next = []


def test_connection_refused_is_retried_then_reported():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    b = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=2, backoff=0.01)
    with pytest.raises(BackendError, match="ConnectError"):
        b.generate_one(chat(0))
    assert b.stats["requests"] == 3


def test_streaming(server):
    url, _ = server
    b = OpenAIBackend(url, "m")
    assert "".join(b.stream(chat(5))) == "echo:q5"


def test_images_become_data_urls(server):
    from safealign.testing import solid_image

    url, state = server
    b = OpenAIBackend(url, "m")
    b.generate(
        [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what?"}]}]], images=[solid_image()]
    )
    parts = state.bodies[-1]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[1] == {"type": "text", "text": "what?"}


def test_rate_limiter_spaces_requests():
    now = [0.0]
    slept = []

    def sleep(d):
        slept.append(round(d, 6))
        now[0] += d

    rl = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        rl.acquire()
    assert slept == [0.25, 0.25, 0.25, 0.25]  # 4 per second, evenly spaced; the first starts at once
    RateLimiter(0).acquire()  # disabled: returns at once


def test_rate_limit_end_to_end(server):
    url, _ = server
    b = OpenAIBackend(url, "m", concurrency=4, requests_per_second=20)
    t0 = time.perf_counter()
    b.generate([chat(i) for i in range(6)])
    assert time.perf_counter() - t0 >= 5 / 20 - 0.01  # 6 starts need >= 5 intervals of 50 ms
