"""The guarded OpenAI-compatible server, driven by the official `openai` client on a loopback port."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from safealign.backends.local import LocalBackend
from safealign.guard.pipeline import GuardrailPipeline
from safealign.guard.rules import RuleGuard
from safealign.serve import ServerThread, create_app

RULES = [{"pattern": r"\bbomb\b", "category": "weapons_drugs", "severity": "severe"}]


@pytest.fixture(scope="module")
def server():
    from safealign.testing import tiny_lm

    model, tok = tiny_lm()
    pipe = GuardrailPipeline(RuleGuard(RULES), LocalBackend(model, tok, batch_size=8))
    app = create_app(pipe, model_name="tiny-guarded", max_input_chars=2000, max_body_bytes=20_000, default_max_tokens=8)
    with ServerThread(app, host="127.0.0.1", port=0) as srv:
        srv.app_pipeline = pipe
        yield srv


@pytest.fixture(scope="module")
def keyed_server():
    from safealign.testing import tiny_lm

    model, tok = tiny_lm()
    pipe = GuardrailPipeline(RuleGuard(RULES), LocalBackend(model, tok))
    with ServerThread(create_app(pipe, api_key="s3cret", default_max_tokens=4)) as srv:
        yield srv


def client(srv, key="anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60)


def test_models_and_health(server):
    models = client(server).models.list()
    assert [m.id for m in models.data] == ["tiny-guarded"]
    h = httpx.get(server.url + "/health").json()
    assert h["status"] == "ok" and h["guard"] == "rules"


def test_chat_completion_non_streaming(server):
    r = client(server).chat.completions.create(
        model="tiny-guarded", messages=[{"role": "user", "content": "Hello there"}], max_tokens=6, temperature=0
    )
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
    assert isinstance(r.choices[0].message.content, str)
    d = r.model_extra["safealign"]
    assert d["action"] == "allow" and d["rounds"] == 0 and d["latency_ms"] > 0


def test_blocked_prompt_returns_fallback_with_content_filter(server):
    r = client(server).chat.completions.create(
        model="x",
        messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "how to build a bomb"}],
    )
    assert r.choices[0].finish_reason == "content_filter"
    assert "can't help" in r.choices[0].message.content
    assert r.model_extra["safealign"]["categories"] == ["weapons_drugs"]


def test_streaming_completion(server):
    stream = client(server).chat.completions.create(
        model="x", messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=8, stream=True, temperature=0
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["safealign"]["action"] in ("allow", "transform")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == chunks[-1].model_extra["safealign"]["response"]

    blocked = list(
        client(server).chat.completions.create(model="x", messages=[{"role": "user", "content": "bomb"}], stream=True)
    )
    assert blocked[-1].choices[0].finish_reason == "content_filter"
    assert "can't help" in "".join(c.choices[0].delta.content or "" for c in blocked)


def _expected_usage(server_pipe, messages, text):
    backend = server_pipe.backend
    prompt = len(backend.tokenizer(backend.render(messages), add_special_tokens=False)["input_ids"])
    completion = len(backend.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
    return prompt, completion


def test_usage_counts_real_tokens(server):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Tell me about the sea"}]
    r = client(server).chat.completions.create(model="x", messages=messages, max_tokens=6, temperature=0)
    prompt, completion = _expected_usage(server.app_pipeline, messages, r.choices[0].message.content)
    assert prompt > 5 and completion > 0
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (prompt, completion)
    assert r.usage.total_tokens == prompt + completion
    # a blocked answer counts the fallback that was returned
    blocked = [{"role": "user", "content": "bomb"}]
    r = client(server).chat.completions.create(model="x", messages=blocked)
    assert r.usage.completion_tokens == _expected_usage(server.app_pipeline, blocked, r.choices[0].message.content)[1]


def test_streaming_usage_with_stream_options(server):
    messages = [{"role": "user", "content": "Tell me a story"}]
    chunks = list(client(server).chat.completions.create(
        model="x", messages=messages, max_tokens=8, stream=True, temperature=0, stream_options={"include_usage": True}
    ))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
    prompt, completion = _expected_usage(server.app_pipeline, messages, text)
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (prompt, completion)
    assert completion > 0
    plain = list(client(server).chat.completions.create(model="x", messages=messages, max_tokens=4, stream=True))
    assert all(c.usage is None for c in plain) and plain[-1].choices  # no usage chunk unless asked
    r = httpx.post(server.url + "/v1/chat/completions", json={
        "messages": messages, "stream": True, "stream_options": {"include_usage": "yes"}})
    assert r.status_code == 400 and "include_usage" in r.json()["error"]["message"]


def test_moderations(server):
    r = client(server).moderations.create(input=["a bomb recipe", "a cake recipe"])
    assert [x.flagged for x in r.results] == [True, False]
    assert r.results[0].model_extra["safealign"]["severity"] == "severe"
    single = client(server).moderations.create(input="nice weather")
    assert len(single.results) == 1 and not single.results[0].flagged


def test_api_key(keyed_server):
    with pytest.raises(openai.AuthenticationError):
        client(keyed_server, "wrong").chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    r = client(keyed_server, "s3cret").chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content is not None
    assert httpx.get(keyed_server.url + "/health").status_code == 200  # health needs no key


BAD = [
    ("invalid json", b"{not json", 400, "invalid JSON"),
    ("not an object", b"[1, 2]", 400, "must be an object"),
    ("missing messages", {"model": "x"}, 400, "'messages' is required"),
    ("messages not list", {"messages": "hi"}, 400, "non-empty list"),
    ("empty messages", {"messages": []}, 400, "non-empty list"),
    ("message not object", {"messages": ["hi"]}, 400, "messages[0] must be an object"),
    ("bad role", {"messages": [{"role": "wizard", "content": "hi"}]}, 400, "role must be one of"),
    ("content int", {"messages": [{"role": "user", "content": 5}]}, 400, "content must be a string"),
    ("bad content part", {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "content[0]"),
    ("no user", {"messages": [{"role": "system", "content": "s"}]}, 400, "at least one user message"),
    (
        "max_tokens type", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}, 400,
        "'max_tokens' must be an integer",
    ),
    ("max_tokens range", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "between"),
    (
        "temperature range", {"messages": [{"role": "user", "content": "hi"}], "temperature": 7}, 400,
        "'temperature' must be between",
    ),
    (
        "temperature bool", {"messages": [{"role": "user", "content": "hi"}], "temperature": True}, 400,
        "must be a number",
    ),
    (
        "stream type", {"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}, 400,
        "'stream' must be a boolean",
    ),
    ("model type", {"messages": [{"role": "user", "content": "hi"}], "model": 3}, 400, "'model' must be a string"),
    ("oversized input", {"messages": [{"role": "user", "content": "x" * 3000}]}, 413, "input too long"),
    ("oversized body", {"messages": [{"role": "user", "content": "x" * 30000}]}, 413, "body too large"),
]


@pytest.mark.parametrize("name,body,status,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_chat_requests_get_4xx_with_clear_error(server, name, body, status, msg):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(server.url + "/v1/chat/completions", content=data, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert msg in err["message"] and err["type"]


@pytest.mark.parametrize(
    "body,status",
    [
        ({}, 400), ({"input": 3}, 400), ({"input": []}, 400), ({"input": ["ok", 1]}, 400),
        ({"input": ["x"] * 100}, 413), ({"input": "y" * 5000}, 413),
    ],
)
def test_bad_moderation_requests(server, body, status):
    r = httpx.post(server.url + "/v1/moderations", json=body)
    assert r.status_code == status and "message" in r.json()["error"]


def test_unknown_routes_and_methods_and_server_survives(server):
    r = httpx.get(server.url + "/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["message"]
    r = httpx.get(server.url + "/v1/chat/completions")
    assert r.status_code == 405 and "error" in r.json()
    assert httpx.get(server.url + "/health").json()["status"] == "ok"


def test_fifty_concurrent_requests_all_answered(server):
    c = client(server)

    def ask(i: int) -> str:
        r = c.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": f"question {i}" + (" bomb" if i % 10 == 0 else "")}],
            max_tokens=4,
        )
        return r.choices[0].finish_reason

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(ask, range(50)))
    assert len(results) == 50
    assert results.count("content_filter") == 5 and results.count("stop") == 45


def test_model_failure_is_a_500_and_the_server_keeps_serving():
    from safealign.backends.base import Backend

    class Broken(Backend):
        def generate(self, chats, params=None, images=None):
            raise RuntimeError("model exploded")

    app = create_app(GuardrailPipeline(RuleGuard(RULES), Broken()))
    with ServerThread(app) as srv:
        r = httpx.post(srv.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 500 and "model exploded" in r.json()["error"]["message"]
        blocked = httpx.post(srv.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "bomb"}]})
        assert blocked.status_code == 200  # blocked at input: no generation needed
        assert httpx.get(srv.url + "/health").status_code == 200
