"""What a server needs from ``MemorySession``: streamed text, stop strings, seeded sampling, cancellation with
rollback, a context limit, per-message bookkeeping and ``forget`` (dropping turns a client's window left behind)."""

from __future__ import annotations

import itertools

import pytest
import torch

from guikv.decoding import GenerationCancelled
from guikv.session import ContextTooLongError, MemorySession, SessionError
from tests.guikv.conftest import FAMILIES
from tests.guikv.helpers import conversation
from tests.guikv.test_session_transactions import assert_same, frozen

COMPRESSING = [("full", None), ("snap_kv", 40), ("gui_kv", 40), ("pyramid_kv", 40)]


def _fed(session: MemorySession, n_steps: int = 3, reply_tokens: int = 4) -> MemorySession:
    """The helpers' conversation fed turn by turn, the session replying to each screenshot."""
    for role, content in conversation(n_steps):
        if role == "assistant":
            continue
        session.add(role, content)
        if isinstance(content, list):
            session.generate(reply_tokens)
    return session


def _pending_turn(model, processor) -> tuple[MemorySession, MemorySession]:
    """Two sessions fed the same two steps, each with the same third turn pending: one to interrupt, one clean."""
    sessions = []
    for _ in range(2):
        session = _fed(MemorySession(model, processor, "gui_kv", 40), n_steps=2)
        session.add("user", conversation(3)[-1][1])
        sessions.append(session)
    return sessions[0], sessions[1]


def _ledger_tokens(session: MemorySession) -> list[torch.Tensor]:
    return [lg.tokens for lg in session.cache.ledger.layers]


@pytest.mark.parametrize("family", FAMILIES)
def test_message_spans_cover_the_cache_exactly(tiny_models, family):
    model, processor = tiny_models.get(family)
    session = _fed(MemorySession(model, processor, "full", None))
    assert session.can_forget
    spans = session._spans
    assert len(spans) == len(session.messages)
    assert spans[0].chars[0] == 0 and spans[-1].chars[1] == len(session._fed_text)
    assert all(a.chars[1] == b.chars[0] and a.tokens[1] == b.tokens[0] for a, b in itertools.pairwise(spans))
    assert session.conversation_tokens == session.cache.ledger.logical_length == session.cache.get_seq_length()
    # each message's characters are its own rendering's piece
    for i, span in enumerate(spans[:-1]):
        piece = processor.render(session.messages[: i + 1], add_generation_prompt=False)
        assert session._fed_text.startswith(piece) and span.chars[1] == len(piece)


@pytest.mark.parametrize("family", FAMILIES)
def test_forget_with_an_uncompressed_cache_drops_exactly_those_turns(tiny_models, family):
    model, processor = tiny_models.get(family)
    session = _fed(MemorySession(model, processor, "full", None))
    spans = list(session._spans)
    dropped = set(range(*spans[1].tokens)) | set(range(*spans[2].tokens))  # the first screenshot and its reply
    before = session.cache.get_seq_length()
    removed = session.forget([1, 2])
    assert removed == len(dropped) and session.cache.get_seq_length() == before - len(dropped)
    state = session.state()  # the cache has seen every token; what an uncompressed cache holds now is the rest
    assert state.logical_tokens == before and state.live_tokens == before - len(dropped) == session.conversation_tokens
    for tokens in _ledger_tokens(session):
        assert not set(tokens.flatten().tolist()) & dropped
    rendering = processor.render(session.messages, add_generation_prompt=False)
    assert rendering.startswith(session._fed_text) and len(session.messages) == len(spans) - 2
    next_pos = session.next_pos
    session.add("user", "Now open the menu.")
    reply = session.generate(3)
    assert session.next_pos > next_pos and len(reply.token_ids) <= 3  # positions continue; the session goes on


@pytest.mark.parametrize(("method", "budget"), COMPRESSING[1:])
def test_forget_keeps_a_compressed_layer_rectangular(tiny_models, method, budget):
    model, processor = tiny_models.get("qwen2_5_vl")
    session = _fed(MemorySession(model, processor, method, budget), n_steps=4)
    span = session._spans[1]
    lengths = session.cache.layer_lengths()
    held = [int(((lg.tokens >= span.tokens[0]) & (lg.tokens < span.tokens[1])).sum(-1).max()) for lg in
            session.cache.ledger.layers]
    session.forget([1])
    for idx, layer in enumerate(session.cache.layers):
        ledger = session.cache.ledger.layers[idx]
        assert layer.keys.shape[2] == ledger.tokens.shape[-1] == lengths[idx] - held[idx]
        assert not ((ledger.tokens >= span.tokens[0]) & (ledger.tokens < span.tokens[1])).any()
        assert (ledger.tokens.diff(dim=-1) > 0).all()  # slot order kept
    for step in range(5):  # keep sliding: layers of unequal lengths go into the next chunks' forwards
        session.add("user", conversation(6)[-1][1] if step % 2 else conversation(5)[-1][1])
        session.generate(3)
        session.forget([1, 2])
        assert all(lg.tokens.shape[-1] == layer.keys.shape[2] for lg, layer in
                   zip(session.cache.ledger.layers, session.cache.layers, strict=True))


def test_forget_refuses_what_it_cannot_do(tiny_models):
    model, processor = tiny_models.get("qwen2_5_vl")
    session = _fed(MemorySession(model, processor, "full", None), n_steps=2)
    before = frozen(session)
    for bad in ([0], [len(session.messages)], [-1]):
        with pytest.raises(ValueError):
            session.forget(bad)
    assert_same(before, frozen(session))
    reference = MemorySession(model, processor, "full", None, mode="reference")
    reference.add("user", "task")
    with pytest.raises(SessionError):
        reference.forget([1])


@pytest.mark.parametrize(("method", "budget"), COMPRESSING)
def test_streamed_deltas_are_the_reply(tiny_models, method, budget):
    model, processor = tiny_models.get("qwen2_5_vl")
    plain = _fed(MemorySession(model, processor, method, budget), n_steps=1)
    streamed = _fed(MemorySession(model, processor, method, budget), n_steps=1)
    plain.add("user", conversation(2)[-1][1])
    streamed.add("user", conversation(2)[-1][1])
    deltas: list[str] = []
    a, b = plain.generate(10), streamed.generate(10, on_text=deltas.append)
    assert a.text == b.text == "".join(deltas) and a.token_ids == b.token_ids


def test_stop_strings_end_the_reply_and_the_cache_holds_what_was_returned(tiny_models):
    model, processor = tiny_models.get("qwen2_5_vl")
    free = _fed(MemorySession(model, processor, "full", None), n_steps=1, reply_tokens=12)
    text = free.messages[-1]["content"]
    stop = text[3:5]
    assert len(stop) == 2
    session = MemorySession(model, processor, "full", None)
    for role, content in conversation(1):
        session.add(role, content)
    deltas: list[str] = []
    reply = session.generate(12, stop=[stop, "never-in-it"], on_text=deltas.append)
    assert reply.text == text[: text.find(stop)] == "".join(deltas) and reply.finish_reason == "stop"
    assert session._fed_text.endswith(reply.text + session.spec.turn_end)
    assert session.conversation_tokens == session.cache.get_seq_length()  # the stop string's tokens left the cache
    session.add("user", "next")
    with pytest.raises(ValueError):
        session.generate(2, stop=[""])
    session.generate(2)


def test_sampling_is_seeded_and_zero_temperature_is_greedy(tiny_models):
    model, processor = tiny_models.get("qwen2_5_vl")

    def reply(**kwargs) -> tuple[int, ...]:
        session = MemorySession(model, processor, "full", None)
        session.add("user", "Task: open the settings.")
        return session.generate(8, ignore_eos=True, **kwargs).token_ids

    assert reply() == reply(temperature=0.0, seed=5)
    assert reply(temperature=1.0, top_p=0.9, seed=3) == reply(temperature=1.0, top_p=0.9, seed=3)
    assert reply(temperature=1.0, seed=3) != reply(temperature=1.0, seed=4)
    for bad in ({"temperature": -1}, {"temperature": float("nan")}, {"top_p": 0}, {"top_p": 1.5}):
        with pytest.raises(ValueError):
            reply(**bad)


def test_a_cancelled_reply_is_rolled_back(tiny_models):
    session, clean = _pending_turn(*tiny_models.get("qwen2_5_vl"))
    before = frozen(session)
    seen: list[str] = []
    with pytest.raises(GenerationCancelled):
        session.generate(10, ignore_eos=True, on_text=lambda delta: seen.append(delta) or len(seen) < 3)
    assert len(seen) == 3
    assert_same(before, frozen(session))
    assert session.generate(6).token_ids == clean.generate(6).token_ids


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", ["layer 0", "layer 1", "second token"])
def test_cancelled_stops_the_prefill_at_a_layer_and_rolls_back(tiny_models, family, where):
    """``cancelled()`` is asked before every decoder layer of the prefill and every decoded token: a True stops the
    turn there, the session is as before it, and the next answer is a clean session's."""
    model, processor = tiny_models.get(family)
    session, clean = _pending_turn(model, processor)
    before = frozen(session)
    n_layers = len(session.rope.decoder_layers(model))
    # the question that says True, and the decoder layers run by then (the prefill's, then the first token's)
    asked, layers_run = {"layer 0": (1, 0), "layer 1": (2, 1), "second token": (n_layers + 2, 2 * n_layers)}[where]
    calls: list[int] = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) >= asked

    ran: list[int] = []
    probes = [layer.register_forward_hook(lambda *args: ran.append(1)) for layer in session.rope.decoder_layers(model)]
    try:
        with pytest.raises(GenerationCancelled):
            session.generate(10, ignore_eos=True, cancelled=cancelled)
    finally:
        for probe in probes:
            probe.remove()
    assert len(calls) == asked and len(ran) == layers_run  # stopped at the question that said True
    assert_same(before, frozen(session))
    assert session.generate(6, cancelled=lambda: False).token_ids == clean.generate(6).token_ids


def test_the_context_limit_is_checked_before_the_forward(tiny_models):
    model, processor = tiny_models.get("qwen2_5_vl")
    session = MemorySession(model, processor, "full", None, max_context=200)
    session.add("user", "word " * 20)
    reply = session.generate(4)
    session.add("user", "word " * 60)
    before = frozen(session)
    with pytest.raises(ContextTooLongError, match="context limit of 200"):
        session.generate(4)
    assert_same(before, frozen(session))
    assert session.drop_pending() == 1 and session.messages[-1]["content"] == reply.text
    with pytest.raises(ValueError):
        MemorySession(model, processor, "full", None, max_context=0)


@pytest.mark.parametrize("method", ["snap_kv", "gui_kv", "pyramid_kv"])
def test_a_window_keeps_sliding_over_a_compressed_cache(tiny_models, method):
    """Ten steps, the oldest screenshot and its reply forgotten from step 6 on: after a forget the layers hold unequal
    lengths, and a chunk whose pruning in layer 0 makes the lengths look equal must still get its own masks."""
    from guikv.testing import synthetic_screenshot

    model, processor = tiny_models.get("qwen2_5_vl")
    session = MemorySession(model, processor, method, 64)
    session.add("user", "You are a GUI agent. ## User Instruction\nOpen the settings menu and enable dark mode.")
    for step in range(1, 11):
        if step > 5:
            oldest = next(i for i, m in enumerate(session.messages) if isinstance(m["content"], list))
            session.forget([oldest, oldest + 1])
        session.add("user", [{"type": "image", "image": synthetic_screenshot(112, 84, seed=step)}])
        session.generate(4)
    assert sum(isinstance(m["content"], list) for m in session.messages) == 5


@pytest.mark.parametrize("method", ["snap_kv", "gui_kv", "pyramid_kv"])
def test_a_fraction_budget_follows_a_sliding_window(tiny_models, method):
    """A fraction budget is a fraction of the conversation as it is now, as a re-prefill of the window would be: over
    twelve steps of a three-screenshot window the cache stays at the window's share instead of growing with every
    screenshot ever fed (a served session's memory would otherwise grow without bound)."""
    from guikv.testing import synthetic_screenshot

    model, processor = tiny_models.get("qwen2_5_vl")
    session = MemorySession(model, processor, method, 0.5)
    session.add("user", "You are a GUI agent. ## User Instruction\nOpen the settings menu and enable dark mode.")
    sizes, reply_tokens = [], 4
    for step in range(1, 13):
        if step > 3:
            oldest = next(i for i, m in enumerate(session.messages) if isinstance(m["content"], list))
            session.forget([oldest, oldest + 1])
        session.add("user", [{"type": "image", "image": synthetic_screenshot(112, 84, seed=step)}])
        session.generate(reply_tokens, ignore_eos=True)
        state = session.state()
        mean = sum(state.tokens_per_layer) / len(state.tokens_per_layer)
        # at most half of what an uncompressed cache of the window holds, plus the reply decoded after the prefill
        assert mean <= session.press.capacity(state.live_tokens - reply_tokens) + reply_tokens, (step, state)
        sizes.append(mean)
    assert max(sizes[3:]) <= 1.05 * sizes[3]  # flat once the window is full
    assert state.logical_tokens > 2 * state.live_tokens  # nine screenshots forgotten: the seen total ran far ahead
