"""``create_app(...)``: the FastAPI application of ``guikv-agent serve``.

FastAPI rather than bare Starlette: pydantic validation of the request body and an OpenAPI schema (``/docs``) come
with it, on the same ASGI core uvicorn runs. The body is read under a byte cap before it is parsed, every error
(including FastAPI's own validation errors and malformed JSON) is an OpenAI error object, and the model only ever
runs on the engine's worker thread.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.serve.canonical import DigestCache, ImageLimits, canonicalise
from agent.serve.engine import Engine, Job, QueueFull
from agent.serve.metrics import ServerMetrics
from agent.serve.protocol import ApiError, ChatCompletionRequest, chunk_body, completion_body, error_body, usage_body
from agent.serve.service import ChatService, TurnRequest, TurnResult, conversation_key
from guikv.decoding import GenerationCancelled


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 64 * 2**20
    max_tokens: int = 4096  # per reply
    default_max_tokens: int = 512
    max_messages: int = 1024  # per request (matching and segmentation render each message prefix once)
    images: ImageLimits = field(default_factory=ImageLimits)
    image_digests: int = 4096  # digests of decoded images remembered, so resent screenshots are not decoded again

    def __post_init__(self) -> None:
        sizes = (self.max_body_bytes, self.max_tokens, self.default_max_tokens, self.max_messages)
        if min(sizes) < 1 or self.default_max_tokens > self.max_tokens or self.image_digests < 0:
            raise ValueError(f"server limits must be positive (image_digests >= 0) with default_max_tokens <= max_tokens, "
                             f"got {self}")


def create_app(service: ChatService, model_name: str, *, engine: Engine | None = None,
               limits: ServerLimits | None = None) -> FastAPI:
    """The server for ``service``'s model, answering to ``model`` = ``model_name``."""
    engine = engine or Engine()
    limits = limits or ServerLimits()
    digests = DigestCache(limits.image_digests) if limits.image_digests else None
    metrics: ServerMetrics = service.metrics
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()
        try:
            yield
        finally:
            await asyncio.to_thread(engine.stop)

    app = FastAPI(title="guikv-agent serve", lifespan=lifespan)
    app.state.service, app.state.engine = service, engine

    def error_response(error: ApiError) -> JSONResponse:
        metrics.errors.labels(status=str(error.status)).inc()
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(_from_validation(error.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return error_response(ApiError(error.status_code, str(error.detail), type=kind))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "sessions": len(service.store.entries), "queued": engine.queued(),
                "busy": engine.running is not None}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "guikv"}]}

    @app.get("/metrics")
    async def prometheus() -> Response:
        metrics.queued.set(engine.queued())
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        body = await _read_body(request, limits.max_body_bytes)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ApiError(400, f"the request body is not valid JSON: {error}", code="invalid_json") from None
        try:
            parsed = ChatCompletionRequest.model_validate(payload)
        except ValidationError as error:
            raise _from_validation(error.errors()) from None
        if parsed.model != model_name:
            raise ApiError(404, f"the model {parsed.model!r} does not exist on this server; it serves {model_name!r}",
                           param="model", code="model_not_found")
        parsed.check_supported()
        if len(parsed.messages) > limits.max_messages:
            raise ApiError(413, f"the request has {len(parsed.messages)} messages; this server takes at most "
                                f"{limits.max_messages}", param="messages", code="too_many_messages")
        max_tokens = parsed.reply_limit(limits.default_max_tokens, limits.max_tokens)
        stops = _stops(parsed.stop)
        conversation = await asyncio.to_thread(canonicalise, parsed.messages, limits.images, digests)
        session_id = request.headers.get("x-session-id") or parsed.user
        if session_id is not None and not (0 < len(session_id) <= 256):
            raise ApiError(400, "a session id (X-Session-Id or user) must be 1 to 256 characters", param="user")
        turn = TurnRequest(conversation, session_id, max_tokens, stops, parsed.temperature or 0.0,
                           parsed.top_p if parsed.top_p is not None else 1.0, parsed.seed, parsed.stream)
        job = Job(conversation_key(turn), lambda j: service.run(turn, j), asyncio.get_running_loop())
        try:
            engine.submit(job)
        except QueueFull as error:
            raise ApiError(429, f"the server is busy: {error}; retry later", code="queue_full") from None
        completion_id = "chatcmpl-" + uuid.uuid4().hex
        try:
            first = await _next_event(job, request)
        except asyncio.CancelledError:
            job.cancel()
            raise
        if first[0] == "error":
            raise _as_api_error(first[1])
        if not parsed.stream:
            while first[0] != "done":
                first = await _next_event(job, request)
                if first[0] == "error":
                    raise _as_api_error(first[1])
            result: TurnResult = first[1]
            body = completion_body(completion_id, model_name, result.text, result.finish_reason, _usage(result),
                                   _extra(result))
            return JSONResponse(body, headers=_headers(result))
        include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
        return StreamingResponse(_sse(job, first, completion_id, model_name, include_usage), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return app


DISCONNECT_POLL_S = 0.2


async def _next_event(job: Job, request: Request) -> tuple[str, Any]:
    """The job's next event. While there is none (a prefill, a whole non-streamed reply), the client is checked every
    ``DISCONNECT_POLL_S``: one that went away (a client's timeout, a stopped agent) cancels the job, so its turn is
    rolled back at the next decoder layer or token instead of running to ``max_tokens`` for nobody; the job's last
    event follows."""
    pending = asyncio.ensure_future(job.events.get())
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=DISCONNECT_POLL_S)
            if done:
                return pending.result()
            if not job.cancelled.is_set() and await request.is_disconnected():
                job.cancel()
    finally:
        if not pending.done():
            pending.cancel()


async def _sse(job: Job, first: tuple[str, Any], completion_id: str, model: str, include_usage: bool):
    """The SSE stream of one reply; if the client goes away the generator is closed and the job cancelled."""
    finished = False
    try:
        yield _event(chunk_body(completion_id, model, {"role": "assistant", "content": ""}))
        event = first
        while True:
            kind, value = event
            if kind == "delta":
                yield _event(chunk_body(completion_id, model, {"content": value}))
            elif kind == "done":
                result: TurnResult = value
                yield _event(chunk_body(completion_id, model, {}, result.finish_reason))
                if include_usage:
                    yield _event(chunk_body(completion_id, model, {}, usage=_usage(result), with_choice=False))
                yield "data: [DONE]\n\n"
                finished = True
                return
            elif kind == "error":
                error = _as_api_error(value)
                body = error.body() if isinstance(error, ApiError) else error_body(str(error), "server_error")
                yield _event(body)
                finished = True
                return
            event = await job.events.get()
    finally:
        if not finished:
            job.cancel()


def _event(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body)}\n\n"


def _usage(result: TurnResult) -> dict[str, Any]:
    return usage_body(result.prompt_tokens, result.cached_tokens, result.completion_tokens)


def _extra(result: TurnResult) -> dict[str, Any]:
    return {"match": result.match, "session": result.session, "prefill_tokens": result.prefill_tokens,
            "prefill_seconds": round(result.prefill_seconds, 6), "decode_seconds": round(result.decode_seconds, 6)}


def _headers(result: TurnResult) -> dict[str, str]:
    return {"X-Guikv-Match": result.match, "X-Guikv-Prefill-Tokens": str(result.prefill_tokens),
            "X-Session-Id": result.session}


def _stops(stop: str | list[str] | None) -> tuple[str, ...]:
    from guikv.decoding import check_stops

    try:
        return check_stops(stop)
    except ValueError as error:
        raise ApiError(400, str(error), param="stop") from None


def _as_api_error(error: BaseException) -> BaseException:
    if isinstance(error, ApiError):
        return error
    if isinstance(error, GenerationCancelled):
        return ApiError(499, "the request was cancelled", code="cancelled")
    return ApiError(500, f"the server failed on this request: {type(error).__name__}: {error}", code="internal_error")


def _from_validation(errors: list[dict[str, Any]]) -> ApiError:
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
    message = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}" for e in errors[:5])
    return ApiError(422, f"invalid request: {message}", param=where, code="invalid_request")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the request body of {declared} bytes is over this server's limit of {limit}",
                       code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the request body is over this server's limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    return b"".join(chunks)
