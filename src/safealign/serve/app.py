"""An OpenAI-compatible HTTP API with the guardrail in front of a local model.

Routes: ``POST /v1/chat/completions`` (plain and ``stream: true`` server-sent events), ``POST /v1/moderations``,
``GET /v1/models``, ``GET /health``. Every completion carries the guard's :class:`Decision` under ``safealign``;
a refused or replaced answer has ``finish_reason: "content_filter"``.

Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 400 for invalid JSON or fields,
401 for a missing/wrong API key (when one is set), 404/405 for unknown routes, 413 for oversized input, 500 (with
a message, the server keeps running) if the model itself fails.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from typing import Any, Iterator, Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from safealign.backends.base import GenerationParams

ROLES = {"system", "user", "assistant", "developer", "tool"}


class RequestError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        param: Optional[str] = None,
        code: Optional[str] = None,
        kind: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def error_body(
    message: str, kind: str = "invalid_request_error", param: Optional[str] = None, code: Optional[str] = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _number(body: dict, key: str, default: Any, lo: float, hi: float, integer: bool = False) -> Any:
    if key not in body or body[key] is None:
        return default
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
        raise RequestError(400, f"'{key}' must be {'an integer' if integer else 'a number'}", key, "invalid_type")
    if not lo <= v <= hi:
        raise RequestError(400, f"'{key}' must be between {lo:g} and {hi:g}, got {v}", key, "out_of_range")
    return int(v) if integer else float(v)


def create_app(
    pipeline: Any,
    model_name: str = "safealign-guarded",
    api_key: Optional[str] = None,
    max_input_chars: int = 32_000,
    max_body_bytes: int = 1_000_000,
    max_tokens_limit: int = 2048,
    default_max_tokens: int = 256,
    max_moderation_inputs: int = 64,
) -> FastAPI:
    """A FastAPI app serving ``pipeline`` (a :class:`safealign.guard.pipeline.GuardrailPipeline`)."""
    app = FastAPI(title="safealign guarded server", version="1")
    app.state.pipeline = pipeline
    app.state.started = time.time()
    app.state.requests = 0

    @app.exception_handler(RequestError)
    async def _req_err(_: Request, e: RequestError) -> JSONResponse:
        return JSONResponse(error_body(e.message, e.kind, e.param, e.code), status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_err(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(e.detail), "invalid_request_error" if e.status_code < 500 else "server_error"),
            status_code=e.status_code,
        )

    @app.exception_handler(Exception)
    async def _any_err(_: Request, e: Exception) -> JSONResponse:  # the server answers even when the model fails
        return JSONResponse(error_body(f"internal error: {type(e).__name__}: {e}", "server_error"), status_code=500)

    def check_key(request: Request) -> None:
        if not api_key:
            return
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or not hmac.compare_digest(token.encode(), api_key.encode()):
            raise RequestError(
                401, "invalid or missing API key (send 'Authorization: Bearer <key>')", code="invalid_api_key",
                kind="authentication_error",
            )

    async def read_json(request: Request) -> dict[str, Any]:
        check_key(request)
        raw = await request.body()
        if len(raw) > max_body_bytes:
            raise RequestError(
                413, f"request body too large ({len(raw)} bytes > {max_body_bytes})", code="request_too_large"
            )
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RequestError(400, f"invalid JSON body: {e}", code="invalid_json") from None
        if not isinstance(body, dict):
            raise RequestError(400, "the JSON body must be an object", code="invalid_json")
        return body

    def parse_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
        if "messages" not in body:
            raise RequestError(400, "'messages' is required", "messages", "missing_required_parameter")
        msgs = body["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise RequestError(400, "'messages' must be a non-empty list", "messages", "invalid_type")
        out, total = [], 0
        for i, m in enumerate(msgs):
            if not isinstance(m, dict):
                raise RequestError(400, f"messages[{i}] must be an object", f"messages[{i}]", "invalid_type")
            role = m.get("role")
            if role not in ROLES:
                raise RequestError(
                    400, f"messages[{i}].role must be one of {sorted(ROLES)}, got {role!r}", f"messages[{i}].role",
                    "invalid_value",
                )
            content = m.get("content")
            if isinstance(content, list):
                texts = []
                for j, part in enumerate(content):
                    if (
                        not isinstance(part, dict)
                        or part.get("type") != "text"
                        or not isinstance(part.get("text"), str)
                    ):
                        raise RequestError(
                            400,
                            f"messages[{i}].content[{j}] must be {{'type': 'text', 'text': str}} (images are not "
                            "served yet)",
                            f"messages[{i}].content",
                            "invalid_type",
                        )
                    texts.append(part["text"])
                content = "\n".join(texts)
            elif content is None and role == "assistant":
                content = ""
            elif not isinstance(content, str):
                raise RequestError(
                    400, f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content",
                    "invalid_type",
                )
            total += len(content)
            out.append({"role": "system" if role == "developer" else role, "content": content})
        if total > max_input_chars:
            raise RequestError(
                413, f"input too long: {total} characters > {max_input_chars}", "messages", "context_length_exceeded"
            )
        if not any(m["role"] == "user" for m in out):
            raise RequestError(
                400, "'messages' must contain at least one user message", "messages", "missing_user_message"
            )
        return out

    def gen_params(body: dict[str, Any]) -> GenerationParams:
        max_tokens = _number(body, "max_completion_tokens", None, 1, max_tokens_limit, integer=True)
        max_tokens = _number(body, "max_tokens", max_tokens or default_max_tokens, 1, max_tokens_limit, integer=True)
        temperature = _number(body, "temperature", 0.7, 0.0, 2.0)
        top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
        seed = _number(body, "seed", None, -(2**63), 2**63 - 1, integer=True)
        n = _number(body, "n", 1, 1, 1, integer=True)
        del n
        return GenerationParams(
            max_new_tokens=max_tokens, temperature=temperature, top_p=top_p if top_p > 0 else 1.0, seed=seed
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": model_name,
            "guard": getattr(pipeline.guard, "name", "guard"),
            "uptime_s": round(time.time() - app.state.started, 1),
            "requests": app.state.requests,
        }

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        check_key(request)
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "created": int(app.state.started), "owned_by": "safealign"}],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        body = await read_json(request)
        messages = parse_messages(body)
        params = gen_params(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(400, "'stream' must be a boolean", "stream", "invalid_type")
        include_usage = stream_usage(body)
        if "model" in body and not isinstance(body["model"], str):
            raise RequestError(400, "'model' must be a string", "model", "invalid_type")
        app.state.requests += 1
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if stream:
            return StreamingResponse(
                _sse(pipeline, messages, params, cid, created, model_name, include_usage),
                media_type="text/event-stream",
            )
        decision = await run_in_threadpool(pipeline.run, messages, None, params)
        text = decision.response or ""
        usage = await run_in_threadpool(token_usage, pipeline, messages, text)
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "content_filter" if decision.action == "block" else "stop",
                }
            ],
            **({"usage": usage} if usage is not None else {}),
            "safealign": decision.to_dict(include_history=False),
        }

    @app.post("/v1/moderations")
    async def moderations(request: Request) -> Any:
        body = await read_json(request)
        if "input" not in body:
            raise RequestError(400, "'input' is required", "input", "missing_required_parameter")
        inp = body["input"]
        items = [inp] if isinstance(inp, str) else inp
        if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
            raise RequestError(400, "'input' must be a string or a non-empty list of strings", "input", "invalid_type")
        if len(items) > max_moderation_inputs:
            raise RequestError(
                413, f"too many inputs: {len(items)} > {max_moderation_inputs}", "input", "too_many_inputs"
            )
        if sum(len(x) for x in items) > max_input_chars:
            raise RequestError(
                413, f"input too long (> {max_input_chars} characters)", "input", "context_length_exceeded"
            )
        app.state.requests += 1
        verdicts = await run_in_threadpool(pipeline.guard.classify_batch, [(x, None, None) for x in items])
        names = list(getattr(pipeline.guard, "categories", []) or [])
        results = []
        for v in verdicts:
            cats = names or sorted(set(v.categories) | set(v.category_probs))
            results.append(
                {
                    "flagged": bool(v.is_unsafe),
                    "categories": {c: c in v.categories for c in cats},
                    "category_scores": {
                        c: round(float(v.category_probs.get(c, 1.0 if c in v.categories else 0.0)), 6) for c in cats
                    },
                    "safealign": v.to_dict(),
                }
            )
        return {"id": f"modr-{uuid.uuid4().hex[:24]}", "model": f"{model_name}-guard", "results": results}

    return app


def stream_usage(body: dict[str, Any]) -> bool:
    """Whether a streamed answer ends with a usage chunk (``stream_options: {"include_usage": true}``)."""
    opts = body.get("stream_options")
    if opts is None:
        return False
    if not isinstance(opts, dict):
        raise RequestError(400, "'stream_options' must be an object", "stream_options", "invalid_type")
    include = opts.get("include_usage", False)
    if not isinstance(include, bool):
        raise RequestError(
            400, "'stream_options.include_usage' must be a boolean", "stream_options.include_usage", "invalid_type"
        )
    return include


def token_usage(pipeline: Any, messages: list, text: str) -> Optional[dict[str, int]]:
    """OpenAI's ``usage`` for one answer: the chat's tokens as the model's template renders it for generation, and the
    returned answer's tokens (the fallback's, when the guard replaced the answer). None when the backend cannot
    count."""
    counts = pipeline.backend.count_tokens(messages, text)
    if counts is None:
        return None
    prompt, completion = counts
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _sse(
    pipeline: Any, messages: list, params: GenerationParams, cid: str, created: int, model: str,
    include_usage: bool = False,
) -> Iterator[str]:
    """Server-sent events of chat.completion.chunk objects, ending with ``data: [DONE]``; with ``include_usage`` every
    chunk has ``usage: null`` and a last chunk with no choices carries the usage (as OpenAI's API does)."""

    def chunk(choices: list[dict[str, Any]], extra: Optional[dict] = None) -> str:
        obj: dict[str, Any] = {
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices,
        }
        if include_usage:
            obj["usage"] = None
        if extra:
            obj.update(extra)
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

    def event(delta: dict[str, Any], finish: Optional[str] = None, extra: Optional[dict] = None) -> str:
        return chunk([{"index": 0, "delta": delta, "finish_reason": finish}], extra)

    yield event({"role": "assistant", "content": ""})
    guarded = pipeline.stream(messages, params)
    try:
        parts = []
        for piece in guarded:
            if piece:
                parts.append(piece)
                yield event({"content": piece})
        d = guarded.decision
        finish = "content_filter" if d is not None and d.action == "block" else "stop"
        yield event({}, finish, {"safealign": d.to_dict(include_history=False) if d else None})
        if include_usage:
            yield chunk([], {"usage": token_usage(pipeline, messages, "".join(parts))})
    except Exception as e:  # noqa: BLE001 - headers are sent: report in-band, keep the server alive
        yield f"data: {json.dumps(error_body(f'internal error: {type(e).__name__}: {e}', 'server_error'))}\n\n"
    yield "data: [DONE]\n\n"
