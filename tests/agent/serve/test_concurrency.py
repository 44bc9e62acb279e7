"""Acceptance 3 of issue 11: concurrent conversations share the model fairly and get their sequential answers; a
client that disconnects mid-stream leaves its session as before the turn, and resuming gets a clean session's answer.
The fair queue itself is checked on the engine with recorded jobs (no model)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from agent.serve.engine import Engine, Job
from guikv.decoding import GenerationCancelled
from guikv.models import spec_of
from guikv.testing import synthetic_screenshot
from tests.agent.serve.conftest import MODEL_NAME, TASK, data_url, direct_session, direct_turn

CLIENTS, STEPS, REPLY_TOKENS = 4, 3, 5


def _image(client: int, step: int) -> dict:
    image = synthetic_screenshot(112, 84, seed=100 * client + step)
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image)}}]}


def _sequential(direct_model, client: int) -> list[str]:
    session = direct_session(direct_model)
    session.add("user", f"{TASK} (client {client})")
    replies = []
    for step in range(STEPS):
        session.add("user", direct_turn(_image(client, step)["content"]))
        replies.append(session.generate(REPLY_TOKENS).text)
    return replies


def test_four_concurrent_clients_get_their_sequential_answers(make_server, direct_model):
    expected = [_sequential(direct_model, c) for c in range(CLIENTS)]
    got: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    with make_server() as server:
        barrier = threading.Barrier(CLIENTS)

        def client_run(c: int) -> None:
            try:
                client = server.client()
                messages = [{"role": "user", "content": f"{TASK} (client {c})"}]
                replies = []
                barrier.wait(30)
                for step in range(STEPS):
                    messages.append(_image(c, step))
                    stream = step % 2 == 1
                    out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS,
                                                         stream=stream)
                    text = ("".join(ch.choices[0].delta.content or "" for ch in out if ch.choices) if stream
                            else out.choices[0].message.content)
                    replies.append(text)
                    messages.append({"role": "assistant", "content": text})
                got[c] = replies
            except BaseException as error:  # reported below, with the client that failed
                errors.append(error)

        threads = [threading.Thread(target=client_run, args=(c,), daemon=True) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
        assert got == dict(enumerate(expected))
        assert server.metrics.value("guikv_requests_total", match="extend") == CLIENTS * (STEPS - 1)


def test_a_client_killed_mid_stream_then_resumed_gets_a_clean_answer(make_server, server_model, direct_model):
    model = server_model[0]
    first, long_reply = _clean_replies(direct_model)
    with make_server() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        messages, entry = _second_turn(http, server, first)
        before = _state(entry)
        slow = model.lm_head.register_forward_hook(lambda *args: time.sleep(0.05))  # decode slower than a disconnect
        try:
            body = {"model": MODEL_NAME, "messages": messages, "max_tokens": 40, "stream": True}
            with http.stream("POST", "/v1/chat/completions", json=body) as response:
                lines = response.iter_lines()
                content_chunks = 0
                while content_chunks < 2:
                    line = next(lines)
                    content_chunks += line.startswith("data:") and '"content": "' in line and '"content": ""' not in line
            _await_cancel(server)  # the client is gone: the server must notice and roll back
        finally:
            slow.remove()
        assert _state(entry) == before
        resumed = http.post("/v1/chat/completions", json={**body, "stream": False})
        assert resumed.json()["choices"][0]["message"]["content"] == long_reply.text
        assert resumed.json()["guikv"]["match"] == "extend"
        assert http.get("/health").json()["status"] == "ok"


def test_a_non_streaming_client_that_times_out_has_its_turn_rolled_back(make_server, server_model, direct_model):
    """A client that gives up on a non-streamed reply (a harness's request timeout) is noticed while the server
    decodes: the reply is cancelled at the next token instead of running to max_tokens, the session is as before the
    turn, and the client's retry gets the answer a clean session gives."""
    model = server_model[0]
    first, long_reply = _clean_replies(direct_model)
    with make_server() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        messages, entry = _second_turn(http, server, first)
        before = _state(entry)
        decoded = []

        def slow_token(*args) -> None:  # decode slower than the client's patience
            decoded.append(1)
            time.sleep(0.1)

        slow = model.lm_head.register_forward_hook(slow_token)
        try:
            body = {"model": MODEL_NAME, "messages": messages, "max_tokens": 40}
            with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=server.url, timeout=1.0) as impatient:
                impatient.post("/v1/chat/completions", json=body)
            _await_cancel(server)
        finally:
            slow.remove()
        assert len(decoded) < 30  # stopped well before the 40 tokens asked for (1 s of timeout + 0.2 s polls)
        assert _state(entry) == before
        retried = http.post("/v1/chat/completions", json=body)
        assert retried.json()["choices"][0]["message"]["content"] == long_reply.text
        assert retried.json()["guikv"]["match"] == "extend"


def test_a_client_gone_during_a_long_prefill_stops_it_at_a_layer(make_server, server_model, direct_model):
    """The prefill itself is cancellable: a client that times out while its new session's screenshots are being
    prefilled (slow decoder layers here) stops the prefill at the next layer; no token is decoded for it, nothing is
    kept, and its retry gets a clean session's answer."""
    model = server_model[0]
    clean = direct_session(direct_model)
    clean.add("user", TASK)
    clean.add("user", direct_turn(_image(1, 0)["content"]))
    expected = clean.generate(REPLY_TOKENS).text
    layers = spec_of(model).rope.decoder_layers(model)
    heads: list[int] = []
    with make_server() as server, httpx.Client(base_url=server.url, timeout=60) as http:
        slow = [layer.register_forward_pre_hook(lambda *args: time.sleep(0.4)) for layer in layers]
        watch = model.lm_head.register_forward_hook(lambda *args: heads.append(1) and None)
        try:
            body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": TASK}, _image(1, 0)],
                    "max_tokens": REPLY_TOKENS}
            with pytest.raises(httpx.ReadTimeout), httpx.Client(base_url=server.url, timeout=0.5) as impatient:
                impatient.post("/v1/chat/completions", json=body)
            _await_cancel(server)
        finally:
            for handle in slow:
                handle.remove()
            watch.remove()
        assert heads == []  # the prefill never reached the logits: stopped inside the decoder stack
        assert not server.service.store.entries  # nothing kept of the abandoned turn
        retried = http.post("/v1/chat/completions", json=body)
        assert retried.json()["choices"][0]["message"]["content"] == expected


def _clean_replies(direct_model):
    """A clean session's short first reply and its second reply of up to 40 tokens (what a resumed client gets)."""
    clean = direct_session(direct_model)
    clean.add("user", TASK)
    clean.add("user", direct_turn(_image(0, 0)["content"]))
    first = clean.generate(REPLY_TOKENS).text
    clean.add("user", direct_turn(_image(0, 1)["content"]))
    long_reply = clean.generate(40)
    assert len(long_reply.token_ids) >= 12, "the tiny model stopped too early for a disconnect mid-reply"
    return first, long_reply


def _second_turn(http, server, first: str):
    """The first turn answered through the server; (the second turn's messages, the conversation's store entry)."""
    messages = [{"role": "user", "content": TASK}, _image(0, 0)]
    out = http.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": messages, "max_tokens": REPLY_TOKENS})
    assert out.json()["choices"][0]["message"]["content"] == first
    entry = next(iter(server.service.store.entries.values()))
    return [*messages, {"role": "assistant", "content": first}, _image(0, 1)], entry


def _state(entry) -> tuple:
    return list(entry.canonical), entry.session.cache.layer_lengths(), entry.session.next_pos


def _await_cancel(server) -> None:
    deadline = time.monotonic() + 30
    while server.metrics.value("guikv_cancelled_total") < 1 or _busy(server):
        assert time.monotonic() < deadline, "the server never cancelled the abandoned request"
        time.sleep(0.02)


def _busy(server) -> bool:
    health = httpx.get(server.url + "/health").json()
    return health["busy"] or health["queued"] > 0


def test_the_queue_is_round_robin_across_conversations():
    """Conversation A queues five jobs, then B and C one each: B and C run after A's first, not after all of A's."""
    order: list[str] = []
    gate = threading.Event()
    loop = asyncio.new_event_loop()
    engine = Engine()
    try:
        def work(name: str):
            def run(job: Job) -> str:
                if name == "A0":
                    gate.wait(30)
                order.append(name)
                return name
            return run

        engine.start()
        engine.submit(Job("A", work("A0"), loop))
        deadline = time.monotonic() + 10
        while engine.running is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        for name in ("A1", "A2", "A3", "A4"):
            engine.submit(Job("A", work(name), loop))
        engine.submit(Job("B", work("B0"), loop))
        cancelled = Job("C", work("C-cancelled"), loop)
        engine.submit(cancelled)
        cancelled.cancel()
        engine.submit(Job("C", work("C1"), loop))
        gate.set()
        while len(order) < 7:
            assert time.monotonic() < deadline, order
            time.sleep(0.005)
        loop.run_until_complete(asyncio.sleep(0))  # deliver the events the worker sent
        kind, error = cancelled.events.get_nowait()  # the skipped job still ends: whoever waits on it stops
        assert kind == "error" and isinstance(error, GenerationCancelled)
    finally:
        engine.stop()
        loop.close()
    assert order == ["A0", "A1", "B0", "C1", "A2", "A3", "A4"]
