"""Acceptance 4 of issue 11: every bad input gets an OpenAI error object with the right status, and the server keeps
serving (``/health`` fine, the next good request answered, a cached conversation still reused)."""

from __future__ import annotations

import base64
import io
import threading
import time

import httpx
import openai
import pytest

from agent.serve.app import ServerLimits
from agent.serve.canonical import ImageLimits
from guikv.testing import synthetic_screenshot
from tests.agent.serve.conftest import MODEL_NAME, TASK, data_url, image_message

LIMITS = ServerLimits(max_body_bytes=200_000, max_tokens=64, default_max_tokens=8, max_messages=20,
                      images=ImageLimits(max_images=3, max_image_bytes=50_000, max_pixels=400 * 400))


def _image_part(url: str) -> dict:
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}


def _png_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    synthetic_screenshot(width, height).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD = [{"role": "user", "content": TASK}]
BAD_BODIES = {
    "empty message list": ({"model": MODEL_NAME, "messages": []}, 422),
    "messages not a list": ({"model": MODEL_NAME, "messages": "hello"}, 422),
    "unknown role": ({"model": MODEL_NAME, "messages": [{"role": "robot", "content": "x"}]}, 422),
    "unknown model": ({"model": "gpt-9", "messages": GOOD}, 404),
    "undecodable image": ({"model": MODEL_NAME, "messages": [_image_part(
        "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n not really a png").decode())]}, 400),
    "invalid base64": ({"model": MODEL_NAME, "messages": [_image_part("data:image/png;base64,@@@@")]}, 400),
    "not an image url": ({"model": MODEL_NAME, "messages": [_image_part("file:///etc/passwd")]}, 400),
    "remote image refused": ({"model": MODEL_NAME, "messages": [_image_part("http://127.0.0.1:1/x.png")]}, 400),
    "image over the byte cap": ({"model": MODEL_NAME, "messages": [_image_part(
        "data:image/png;base64," + base64.b64encode(b"\0" * 60_000).decode())]}, 413),
    "image over the pixel cap": ({"model": MODEL_NAME, "messages": [_image_part(
        "data:image/png;base64," + base64.b64encode(_png_bytes(500, 400)).decode())]}, 413),
    "too many images": ({"model": MODEL_NAME, "messages": [image_message(i) for i in range(4)]}, 413),
    "gif image": ({"model": MODEL_NAME, "messages": [_image_part(data_url(synthetic_screenshot(60, 40), "GIF"))]}, 400),
    "image in an assistant message": ({"model": MODEL_NAME, "messages": [
        GOOD[0], {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]},
        GOOD[0]]}, 400),
    "ends with an assistant turn": ({"model": MODEL_NAME, "messages": [GOOD[0], {"role": "assistant", "content": "x"}]},
                                    400),
    "system message not first": ({"model": MODEL_NAME, "messages": [GOOD[0], {"role": "system", "content": "x"}]},
                                 400),
    "temperature out of range": ({"model": MODEL_NAME, "messages": GOOD, "temperature": 5}, 422),
    "max_tokens over the cap": ({"model": MODEL_NAME, "messages": GOOD, "max_tokens": 10_000}, 400),
    "max_tokens zero": ({"model": MODEL_NAME, "messages": GOOD, "max_tokens": 0}, 422),
    "n > 1": ({"model": MODEL_NAME, "messages": GOOD, "n": 2}, 400),
    "bad stop": ({"model": MODEL_NAME, "messages": GOOD, "stop": ["a", "b", "c", "d", "e"]}, 400),
    "too many messages": ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "x"}] * 21}, 413),
    "context over the limit": ({"model": MODEL_NAME, "messages": [{"role": "user", "content": "word " * 300}]}, 400),
}


def _assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]


def test_each_bad_input_gets_its_status_and_the_server_keeps_serving(make_server):
    with make_server(limits=LIMITS, max_context=200) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        # a conversation cached before the bad requests must still be reused after them
        first = http.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": [*GOOD, image_message(0)],
                                                        "max_tokens": 4})
        assert first.status_code == 200
        for name, (body, status) in BAD_BODIES.items():
            _assert_error(http.post("/v1/chat/completions", json=body), status)
            assert http.get("/health").json()["status"] == "ok", name
        _assert_error(http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}),
                      400)
        _assert_error(http.post("/v1/chat/completions", content=b"\xff\xfe", headers={"content-type": "application/json"}),
                      400)
        _assert_error(http.post("/v1/chat/completions", content=b"x" * 300_000), 413)
        _assert_error(http.get("/v1/nothing-here"), 404)
        _assert_error(http.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": [
            *GOOD, image_message(0), {"role": "assistant", "content": first.json()["choices"][0]["message"]["content"]},
            {"role": "user", "content": "word " * 300}]}), 400)  # an extension over the context limit: rolled back
        again = http.post("/v1/chat/completions", json={"model": MODEL_NAME, "max_tokens": 4, "messages": [
            *GOOD, image_message(0), {"role": "assistant", "content": first.json()["choices"][0]["message"]["content"]},
            image_message(1)]})
        assert again.status_code == 200 and again.json()["guikv"]["match"] == "extend"
        assert again.json()["usage"]["prompt_tokens_details"]["cached_tokens"] > 0
        metrics = http.get("/metrics").text
        assert 'guikv_errors_total{status="413"}' in metrics and 'guikv_errors_total{status="422"}' in metrics


def test_the_openai_client_sees_typed_errors(make_server):
    with make_server(limits=LIMITS) as server:
        client = server.client()
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="gpt-9", messages=GOOD)
        assert caught.value.body["code"] == "model_not_found"
        with pytest.raises(openai.UnprocessableEntityError):
            client.chat.completions.create(model=MODEL_NAME, messages=[])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model=MODEL_NAME, messages=GOOD, stream=True, n=2)
        assert client.chat.completions.create(model=MODEL_NAME, messages=GOOD, max_tokens=2).choices[0].message


def test_a_full_queue_answers_429(make_server):
    """One request decoding, one waiting, a third refused while the queue holds one (``max_queued=1``)."""
    with make_server(max_queued=1) as server:
        client = server.client()
        long_stream = client.chat.completions.create(model=MODEL_NAME, messages=GOOD, max_tokens=60, stream=True)
        next(iter(long_stream))  # the first chunk: that request is on the model now
        waiting = threading.Thread(target=lambda: client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": "another"}], max_tokens=2), daemon=True)
        waiting.start()
        deadline = time.monotonic() + 30
        while _queued(server) < 1:
            assert time.monotonic() < deadline, "the second request never reached the queue"
            time.sleep(0.01)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": "third"}], max_tokens=2)
        for _ in long_stream:
            pass
        waiting.join(60)
        assert not waiting.is_alive()
        assert httpx.get(server.url + "/health").json()["status"] == "ok"


def _queued(server) -> int:
    return httpx.get(server.url + "/health").json()["queued"]
