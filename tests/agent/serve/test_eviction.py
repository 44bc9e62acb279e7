"""Acceptance 5 of issue 11: under a cap that holds two sessions (by count, or by KV bytes), a third evicts the least
recently used one; the evicted conversation's next answer is still correct (a clean session's, re-prefilled) and the
metrics count the eviction."""

from __future__ import annotations

import httpx
import pytest

from guikv.testing import synthetic_screenshot
from tests.agent.serve.conftest import MODEL_NAME, data_url, direct_session, direct_turn

REPLY_TOKENS = 4


def _conversation(name: str, steps: int) -> list[dict]:
    messages = [{"role": "user", "content": f"Task {name}: open the settings menu."}]
    for step in range(steps):
        image = synthetic_screenshot(112, 84, seed=10 * ord(name) + step)
        messages.append({"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image)}}]})
    return messages


def _clean_answer(direct_model, messages: list[dict]) -> str:
    """What a fresh session fed the whole request at once answers (what the server does on a miss)."""
    session = direct_session(direct_model)
    for m in messages:
        session.add(m["role"], direct_turn(m["content"]))
    return session.generate(REPLY_TOKENS).text


@pytest.mark.parametrize("cap", ["sessions", "bytes"])
def test_a_third_session_evicts_the_least_recent(make_server, direct_model, cap):
    one = direct_session(direct_model)
    for m in _conversation("A", 1):
        one.add(m["role"], direct_turn(m["content"]))
    one.generate(REPLY_TOKENS)
    per_session = one.state().bytes  # the budget keeps every session at this size
    caps = {"max_sessions": 2} if cap == "sessions" else {"max_bytes": int(2.5 * per_session)}
    conversations = {name: _conversation(name, 1) for name in "ABC"}
    with make_server(**caps) as server, httpx.Client(base_url=server.url, timeout=60) as http:

        def ask(name: str) -> dict:
            out = http.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": conversations[name],
                                                          "max_tokens": REPLY_TOKENS}).json()
            conversations[name] = [*conversations[name], {"role": "assistant",
                                                          "content": out["choices"][0]["message"]["content"]}]
            return out

        ask("A")
        ask("B")
        conversations["A"] += _conversation("A", 2)[-1:]
        assert ask("A")["guikv"]["match"] == "extend"  # A is now the most recent; B the least
        ask("C")
        assert len(server.service.store.entries) == 2
        assert server.metrics.value("guikv_evictions_total") == 1
        conversations["B"] += _conversation("B", 2)[-1:]
        expected = _clean_answer(direct_model, conversations["B"])
        again = ask("B")  # evicted: re-prefilled, same answer as a clean session
        assert again["guikv"]["match"] == "miss" and again["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
        assert again["choices"][0]["message"]["content"] == expected
        assert server.metrics.value("guikv_evictions_total") == 2  # B's return evicted the then least recent (A)
        metrics = http.get("/metrics").text
        assert "guikv_evictions_total 2.0" in metrics and "guikv_sessions 2.0" in metrics
        assert float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("guikv_cache_bytes "))) \
            <= (caps.get("max_bytes") or float("inf"))
