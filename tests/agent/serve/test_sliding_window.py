"""Acceptance 2 of issue 11: a 10-step client that sends the last 5 screenshots each step (UI-TARS-desktop's layout,
see conftest) has only its new turn prefilled from step 2 on, the steps where the window slides included; and the
layout that drops each old screenshot together with its reply is matched too. The server's replies equal a direct
``MemorySession`` that forgets the same turns."""

from __future__ import annotations

import pytest

from tests.agent.serve.conftest import MODEL_NAME, TASK, direct_session, direct_turn, image_message, screenshot

WINDOW, STEPS, REPLY_TOKENS = 5, 10, 4
TEXT_SLACK = 24  # the turn's template tokens: im_start, role, vision start/end, im_end, the reply's header


def screenshot_tokens(processor) -> int:
    ids = processor.encode(processor.image_token, [screenshot(0)])["input_ids"]
    return int((ids == processor.tokenizer.convert_tokens_to_ids(processor.image_token)).sum())


def window(history: list[dict], keep_replies: bool) -> list[dict]:
    """The request a window client sends: the task, then the history with all but the last 5 screenshots dropped
    (with their replies too when not ``keep_replies``)."""
    images = [i for i, m in enumerate(history) if isinstance(m["content"], list)]
    old = set(images[: max(0, len(images) - WINDOW)])
    if not keep_replies:
        old |= {i + 1 for i in old}
    return [{"role": "user", "content": TASK}] + [m for i, m in enumerate(history) if i not in old]


@pytest.mark.parametrize("keep_replies", [True, False], ids=["ui-tars-desktop", "screenshot-and-reply"])
@pytest.mark.parametrize(("method", "budget"), [("full", None), ("gui_kv", 64)])
def test_a_sliding_window_client_prefills_only_its_new_turn(make_server, server_model, direct_model, method, budget,
                                                            keep_replies):
    per_screenshot = screenshot_tokens(server_model[1])
    direct = direct_session(direct_model, method, budget)
    direct.add("user", TASK)
    history: list[dict] = []
    with make_server(method, budget) as server:
        client = server.client()
        for step in range(1, STEPS + 1):
            history.append(image_message(step))
            messages = window(history, keep_replies)
            out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS)
            extra = out.model_extra["guikv"]
            prefill = out.usage.prompt_tokens - out.usage.prompt_tokens_details.cached_tokens
            assert prefill == extra["prefill_tokens"]
            if step == 1:
                assert extra["match"] == "miss"
            else:
                assert extra["match"] == ("slide" if step > WINDOW else "extend"), step
                assert out.usage.prompt_tokens_details.cached_tokens > 0
                assert per_screenshot <= prefill <= per_screenshot + TEXT_SLACK, (step, prefill, per_screenshot)
            # the same turns through the library: forget what left the window, add the screenshot, reply
            if step > WINDOW:
                oldest = next(i for i, m in enumerate(direct.messages) if isinstance(m["content"], list))
                direct.forget([oldest] if keep_replies else [oldest, oldest + 1])
            direct.add("user", direct_turn(history[-1]["content"]))
            assert out.choices[0].message.content == direct.generate(REPLY_TOKENS).text, step
            history.append({"role": "assistant", "content": out.choices[0].message.content})
        assert server.metrics.value("guikv_requests_total", match="slide") == STEPS - WINDOW
        assert len(server.service.store.entries) == 1


def test_a_window_that_drops_a_newer_screenshot_is_a_miss(make_server):
    """Only the oldest screenshots may leave: a request missing a middle one starts a new session."""
    history: list[dict] = []
    with make_server() as server:
        client = server.client()
        for step in range(1, 4):
            history.append(image_message(step))
            out = client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": TASK}, *history],
                                                 max_tokens=REPLY_TOKENS)
            history.append({"role": "assistant", "content": out.choices[0].message.content})
        gap = [{"role": "user", "content": TASK}, history[0], history[1], *history[4:], image_message(9)]
        out = client.chat.completions.create(model=MODEL_NAME, messages=gap, max_tokens=REPLY_TOKENS)
        assert out.model_extra["guikv"]["match"] == "miss"
        assert out.usage.prompt_tokens_details.cached_tokens == 0


def test_an_explicit_session_id_pins_the_conversation(make_server):
    """Two clients sending the same conversation under different X-Session-Id values get separate sessions."""
    messages = [{"role": "user", "content": TASK}, image_message(1)]
    with make_server() as server:
        client = server.client()
        for name in ("a", "b"):
            out = client.chat.completions.create(model=MODEL_NAME, messages=messages, max_tokens=REPLY_TOKENS,
                                                 extra_headers={"X-Session-Id": name})
            assert out.model_extra["guikv"]["session"] == "id:" + name and out.model_extra["guikv"]["match"] == "miss"
        follow = [*messages, {"role": "assistant", "content": out.choices[0].message.content}, image_message(2)]
        out = client.chat.completions.create(model=MODEL_NAME, messages=follow, max_tokens=REPLY_TOKENS, user="b")
        assert out.model_extra["guikv"]["match"] == "extend"
        assert len(server.service.store.entries) == 2
