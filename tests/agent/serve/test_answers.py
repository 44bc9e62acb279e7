"""Acceptance 1 and 2 of issue 11: the server's answers equal a direct ``MemorySession`` run on the same
conversation (identical greedy replies, streaming and not), and a sliding-window client has only its new turn
prefilled at every step from the second on, the steps where the window slides included."""

from __future__ import annotations

import pytest

from tests.agent.serve.conftest import MODEL_NAME, TASK, direct_session, direct_turn, image_message

REPLY_TOKENS = 6
METHODS = [("full", None), ("gui_kv", 64), ("snap_kv", 0.5)]


def ask(client, messages, *, stream: bool, **kwargs) -> tuple[str, str]:
    """(reply text, finish reason) of one chat completion, streamed or not."""
    if not stream:
        out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS,
                                             temperature=0, **kwargs)
        return out.choices[0].message.content, out.choices[0].finish_reason
    text, finish = [], None
    for chunk in client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS,
                                                temperature=0, stream=True, **kwargs):
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    return "".join(text), finish


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize(("method", "budget"), METHODS, ids=[m for m, _ in METHODS])
def test_answers_equal_a_direct_session(make_server, direct_model, method, budget, stream):
    session = direct_session(direct_model, method, budget)
    session.add("user", TASK)
    messages = [{"role": "user", "content": TASK}]
    with make_server(method, budget) as server:
        client = server.client()
        for step in range(3):
            messages.append(image_message(step))
            session.add("user", direct_turn(messages[-1]["content"]))
            expected = session.generate(REPLY_TOKENS)
            text, finish = ask(client, messages, stream=stream)
            assert text == expected.text, f"step {step}"
            assert finish == expected.finish_reason
            messages.append({"role": "assistant", "content": text})
        assert server.metrics.value("guikv_requests_total", match="extend") == 2
        assert server.metrics.value("guikv_requests_total", match="miss") == 1


def test_stop_strings_and_usage(make_server, direct_model):
    """``stop`` ends the reply before the stop string, in both modes; usage counts what was reused."""
    probe = direct_session(direct_model)
    probe.add("user", TASK)
    probe.add("user", direct_turn(image_message(0)["content"]))
    free = probe.generate(REPLY_TOKENS).text
    stop = free[2:4]
    assert len(stop) == 2 and free.find(stop) >= 0, "the tiny model's reply is too short to pick a stop string from"
    session = direct_session(direct_model)
    session.add("user", TASK)
    session.add("user", direct_turn(image_message(0)["content"]))
    expected = session.generate(REPLY_TOKENS, stop=[stop])
    assert expected.text == free[: free.find(stop)] and expected.finish_reason == "stop"
    messages = [{"role": "user", "content": TASK}, image_message(0)]
    with make_server() as server:
        client = server.client()
        for stream in (False, True):
            text, finish = ask(client, messages, stream=stream, stop=[stop], user=f"stop-{stream}")
            assert (text, finish) == (expected.text, "stop")
        out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS, stop=[stop])
        assert out.usage.prompt_tokens_details.cached_tokens == 0
        messages += [{"role": "assistant", "content": out.choices[0].message.content}, image_message(1)]
        session.add("user", direct_turn(messages[-1]["content"]))
        again = session.generate(REPLY_TOKENS)
        out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS)
        assert out.choices[0].message.content == again.text
        assert out.usage.prompt_tokens_details.cached_tokens > 0
        assert out.usage.prompt_tokens == out.usage.prompt_tokens_details.cached_tokens + again.prefill_tokens


def test_sampling_is_seeded(make_server):
    messages = [{"role": "user", "content": TASK}, image_message(0)]
    with make_server(reuse=False) as server:
        client = server.client()
        replies = [client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=8, temperature=1.0,
                                                  top_p=0.9, seed=seed).choices[0].message.content for seed in (1, 1, 2)]
    assert replies[0] == replies[1]
    assert replies[0] != replies[2]
