"""Fixtures of the server tests: the tiny Qwen2.5-VL (one instance for the server, an identical one for the direct
``MemorySession`` runs the answers are compared with), a real uvicorn server on 127.0.0.1 (a free port, started and
stopped inside the test) and a client that sends what UI-TARS-desktop sends.

UI-TARS-desktop (packages/ui-tars/sdk, ``processVlmParams``): the first user message is the system prompt plus the
instruction as text, then one user message per screenshot holding only that image, each followed by the model's
reply as an assistant text message; once there are more than 5 screenshots the oldest screenshot messages are
removed and every reply stays.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from agent.serve.app import ServerLimits, create_app
from agent.serve.engine import Engine
from agent.serve.metrics import ServerMetrics
from agent.serve.running import serve_in_thread
from agent.serve.service import ChatService, SessionConfig
from agent.serve.store import SessionStore
from guikv.session import MemorySession
from guikv.testing import synthetic_screenshot
from guikv.testing.registry import tiny_family

MODEL_NAME = "tiny-ui-tars"
TASK = "You are a GUI agent. ## User Instruction\nOpen the settings menu and enable dark mode."
SIZE = (112, 84)


@pytest.fixture(scope="session")
def server_model():
    return tiny_family("qwen2_5_vl").build(seed=0)


@pytest.fixture(scope="session")
def direct_model():
    """The same weights as ``server_model`` (same seed), so direct runs never share hooks with the server's worker."""
    return tiny_family("qwen2_5_vl").build(seed=0)


def screenshot(step: int):
    return synthetic_screenshot(*SIZE, seed=step)


def data_url(image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def image_message(step: int) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(screenshot(step))}}]}


@dataclass
class Server:
    url: str
    service: ChatService
    metrics: ServerMetrics

    def client(self, **kwargs):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0, timeout=120, **kwargs)


@pytest.fixture
def make_server(server_model) -> Iterator[Any]:
    model, processor = server_model

    @contextmanager
    def start(method: str = "gui_kv", budget: float | int | None = 64, *, reuse: bool = True, max_bytes: int = 2**34,
              max_sessions: int = 64, limits: ServerLimits | None = None, max_context: int | None = None,
              max_queued: int = 64) -> Iterator[Server]:
        metrics = ServerMetrics()
        service = ChatService(model, processor, SessionConfig(method, budget, max_context=max_context, reuse=reuse),
                              SessionStore(max_bytes, max_sessions), metrics)
        app = create_app(service, MODEL_NAME, engine=Engine(max_queued=max_queued), limits=limits)
        with serve_in_thread(app) as url:
            yield Server(url, service, metrics)

    return start


def direct_session(direct_model, method: str = "gui_kv", budget: float | int | None = 64) -> MemorySession:
    model, processor = direct_model
    return MemorySession(model, processor, method, budget)


def direct_turn(content: Any) -> tuple[str, Any]:
    """A request message as ``MemorySession.add`` takes it (images decoded back from their PNG)."""
    if isinstance(content, str):
        return content
    return [{"type": "image", "image": screenshot_from(item["image_url"]["url"])} if item["type"] == "image_url"
            else {"type": "text", "text": item["text"]} for item in content]


def screenshot_from(url: str):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))).convert("RGB")
