"""What one chat completion does on the model's worker thread: find the conversation's cache, bring the session up
to the request (extend, slide, or start afresh), reply, and keep the store within its caps.

What equals a full re-prefill and what does not:
- exact: an extension (the cache holds exactly the tokens the conversation's earlier turns fed; with the ``full``
  method or a budget the conversation never exceeds, the next reply equals a session fed the same turns);
- approximate: a slid window (the kept turns' keys and values were computed while they could see the dropped
  screenshots, and keep their positions), and any compressed cache (it is the compressed memory, not the prompt).
A miss, an evicted conversation and ``reuse=False`` (``--no-reuse``) start a new session fed the whole request:
what a stateless server does. A reply of a reused session equals a direct ``MemorySession`` fed the same turns.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from agent.serve.canonical import CanonicalMessage, Conversation, Part
from agent.serve.engine import Job
from agent.serve.matching import MISS, Match, best_match, match
from agent.serve.metrics import ServerMetrics
from agent.serve.protocol import ApiError
from agent.serve.store import Entry, SessionStore
from guikv.decoding import GenerationCancelled
from guikv.processor import ImageRejected
from guikv.session import ContextTooLongError, MemorySession, RejectedTurnError, SessionError


@dataclass(frozen=True)
class SessionConfig:
    method: str = "gui_kv"
    budget: float | int | None = 4096
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    max_context: int | None = None
    reuse: bool = True


@dataclass(frozen=True)
class TurnRequest:
    conversation: Conversation
    session_id: str | None
    max_tokens: int
    stop: tuple[str, ...]
    temperature: float
    top_p: float
    seed: int | None
    stream: bool


@dataclass(frozen=True)
class TurnResult:
    text: str
    finish_reason: str
    prompt_tokens: int
    cached_tokens: int
    prefill_tokens: int
    completion_tokens: int
    match: str
    session: str
    prefill_seconds: float
    decode_seconds: float


def conversation_key(request: TurnRequest) -> str:
    """The fair queue's key: the session id, else a hash of the first two messages (a conversation's opening)."""
    if request.session_id:
        return "id:" + request.session_id
    head = request.conversation.canonical[:2]
    return "h:" + hashlib.sha256(repr(head).encode()).hexdigest()[:16]


class ChatService:
    def __init__(self, model: Any, processor: Any, config: SessionConfig, store: SessionStore, metrics: ServerMetrics):
        self.model, self.processor, self.config, self.store, self.metrics = model, processor, config, store, metrics

    def new_session(self) -> MemorySession:
        c = self.config
        return MemorySession(self.model, self.processor, c.method, c.budget, method_kwargs=dict(c.method_kwargs),
                             max_context=c.max_context)

    def run(self, request: TurnRequest, job: Job) -> TurnResult:
        """On the worker thread: the reply to ``request``; ``ApiError`` for what the request got wrong."""
        entry, found = self._find(request)
        canonical = list(request.conversation.canonical)
        if entry is not None and found.kind == "slide":
            try:
                entry.session.forget(found.forget)
                entry.canonical = [m for i, m in enumerate(entry.canonical) if i not in set(found.forget)]
            except (SessionError, ValueError):
                entry, found = None, MISS  # the template cannot cut those turns out: re-prefill
        if entry is None:
            key = "id:" + request.session_id if request.session_id else "s:" + uuid.uuid4().hex
            entry = Entry(key, self.new_session(), pinned=bool(request.session_id))
            found = MISS
        session = entry.session
        cached = session.conversation_tokens if found.reuses else 0
        started = False

        def on_text(delta: str) -> bool:  # a cancel is seen by ``generate`` itself (``cancelled=``)
            nonlocal started
            if not started:
                started = True
                job.emit("started")
            if delta and request.stream:
                job.emit("delta", delta)
            return True

        try:
            for role, content in request.conversation.turns_from(found.new_from):
                session.add(role, content)
            reply = session.generate(request.max_tokens, stop=request.stop or None, temperature=request.temperature,
                                     top_p=request.top_p, seed=request.seed, on_text=on_text,
                                     cancelled=job.cancelled.is_set)
        except BaseException as error:
            session.drop_pending()  # the cache was rolled back by the session; the request's turns go too
            if found.reuses and self.config.reuse:
                self.store.put(entry)  # (after a slide, the entry holds the conversation minus the forgotten turns)
            if isinstance(error, GenerationCancelled):
                self.metrics.cancelled.inc()
            raise _api_error(error) from error
        entry.canonical = [*canonical, CanonicalMessage("assistant", (Part("text", reply.text),) if reply.text else ())]
        kind = found.kind if self.config.reuse else "off"
        if self.config.reuse:
            self.store.put(entry)
            for _ in self.store.evict(keep=entry.key):
                self.metrics.evictions.inc()
        else:
            session.close()
        self._observe(kind, reply, cached)
        return TurnResult(reply.text, reply.finish_reason, cached + reply.prefill_tokens, cached, reply.prefill_tokens,
                          len(reply.token_ids), kind, entry.key, reply.prefill_seconds, reply.decode_seconds)

    def _find(self, request: TurnRequest) -> tuple[Entry | None, Match]:
        if not self.config.reuse:
            return None, MISS
        canonical = request.conversation.canonical
        if request.session_id:
            entry = self.store.get("id:" + request.session_id)
            if entry is None:
                return None, MISS
            found = match(entry.canonical, canonical)
            if not found.reuses:
                self.store.remove(entry.key)  # the named conversation changed: start it afresh
                return None, MISS
            return entry, found
        key, found = best_match(self.store.unpinned(), canonical)
        if key is None:
            return None, MISS
        entry = self.store.get(key)
        if found.kind == "slide" and not entry.session.can_forget:
            return None, MISS
        return entry, found

    def _observe(self, kind: str, reply: Any, cached: int) -> None:
        m = self.metrics
        m.requests.labels(match=kind).inc()
        m.prefill_tokens.inc(reply.prefill_tokens)
        m.cached_tokens.inc(cached)
        m.completion_tokens.inc(len(reply.token_ids))
        m.prefill_seconds.observe(reply.prefill_seconds)
        m.decode_seconds.observe(reply.decode_seconds)
        m.sessions.set(len(self.store.entries))
        m.cache_bytes.set(self.store.total_bytes())
        m.cache_tokens.set(self.store.total_tokens())


def _api_error(error: BaseException) -> BaseException:
    if isinstance(error, ApiError | GenerationCancelled):
        return error
    if isinstance(error, ContextTooLongError):
        return ApiError(400, str(error), param="messages", code="context_length_exceeded")
    if isinstance(error, ImageRejected | RejectedTurnError):
        return ApiError(400, str(error), param="messages", code="invalid_image")
    if isinstance(error, SessionError | ValueError):
        return ApiError(400, str(error), param="messages")
    return error
