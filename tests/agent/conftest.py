"""Fixtures of the agent tests: a local test page that reports what happens on it, a real Chromium on it, a scripted
policy, and the tiny random Qwen2.5-VL saved as a model folder.

The page (320x240 CSS pixels) has a button "Go" centred at (80, 40) and a text field centred at (120, 115); a click on
Go writes ``go:<field text>`` into ``#log`` and reports it to the server (``/event?kind=go&value=...``), so a test
can read the effect from the DOM (same process) or from the server (a CLI subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.loop import PolicyOutput
from environments import BrowserConfig, BrowserEnv
from environments.actions import Action
from environments.base import Observation

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = (320, 240)
GO_BUTTON = (80, 40)
TEXT_FIELD = (120, 115)
TINY_PIXELS = ("--min-pixels", str(28 * 28 * 4), "--max-pixels", str(28 * 28 * 64))

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>agent test page</title>
<style>body{margin:0;font:16px sans-serif;background:#fff}</style></head><body>
<button id="go" style="position:absolute;left:20px;top:20px;width:120px;height:40px">Go</button>
<input id="name" style="position:absolute;left:20px;top:100px;width:200px;height:30px">
<div id="log" style="position:absolute;left:20px;top:160px"></div>
<script>
const entries = [];
document.getElementById('go').addEventListener('click', () => {
  const value = document.getElementById('name').value;
  entries.push('go:' + value);
  document.getElementById('log').textContent = entries.join(' ');
  fetch('/event?' + new URLSearchParams({kind: 'go', value: value}));
});
</script></body></html>"""


@dataclass
class PageSite:
    url: str
    events: list[dict[str, str]] = field(default_factory=list)

    def wait_for_events(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        """The events once ``count`` arrived; fails the test with what arrived after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"the test page reported {self.events}, expected {count} event(s) within {timeout} s")
            time.sleep(0.02)
        return list(self.events)


@pytest.fixture(scope="session")
def site() -> Iterator[PageSite]:
    """The test page over HTTP on 127.0.0.1; ``site.events`` collects what the page reports (clear it per test)."""
    state = PageSite("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/event":
                state.events.append({k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()})
                self.send_response(204)
                self.end_headers()
                return
            if parts.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser(site: PageSite) -> Iterator[BrowserEnv]:
    """One Chromium for a test module; every ``reset`` opens a fresh context on the test page."""
    env = BrowserEnv(BrowserConfig(start_url=site.url, viewport=VIEWPORT, settle=0.05))
    try:
        yield env
    finally:
        env.close()


def page_log(env: BrowserEnv) -> str:
    return env.page.eval_on_selector("#log", "el => el.textContent")


def field_value(env: BrowserEnv) -> str:
    return env.page.eval_on_selector("#name", "el => el.value")


class ScriptedPolicy:
    """Plays back a list of decisions (``PolicyOutput`` or a sequence of actions), one per step."""

    def __init__(self, script: Sequence[PolicyOutput | Sequence[Action]], on_act=None) -> None:
        self.script = [s if isinstance(s, PolicyOutput) else PolicyOutput(tuple(s), thought=f"step {i}")
                       for i, s in enumerate(script)]
        self.on_act = on_act
        self.seen: list[Observation] = []
        self.tasks: list[str] = []
        self.closed = False

    def reset(self, task: str) -> None:
        self.tasks.append(task)
        self.seen.clear()

    def act(self, observation: Observation) -> PolicyOutput:
        self.seen.append(observation)
        if self.on_act is not None:
            self.on_act(len(self.seen) - 1)
        if len(self.seen) > len(self.script):
            pytest.fail(f"the loop asked for step {len(self.seen) - 1} but the script has {len(self.script)} step(s)")
        return self.script[len(self.seen) - 1]

    def close(self) -> None:
        self.closed = True


class ScriptedSession:
    """Stands in for ``guikv.MemorySession`` when a test needs the model to write chosen text (no real model writes a
    chosen malformed answer, so the model is what is mocked here): ``add`` keeps the turns, ``generate`` returns the
    next scripted reply, ``state`` reports a cache that grows by 10 tokens a turn; the press is the real one.

    ``scripted_sessions(replies)`` is the ``session_factory`` of a ``ModelPolicy``: every session of the policy
    (one per task) reads from the same reply stream.
    """

    def __init__(self, replies: Iterator[str], model: Any, processor: Any, *, method: str = "gui_kv",
                 budget: float | int = 0.1, mode: str = "persistent", max_screenshots: int = 5,
                 method_kwargs: dict[str, Any] | None = None) -> None:
        from guikv.presses.registry import make_press

        self.replies = replies
        self.press = make_press(method, budget=budget, **(method_kwargs or {}))
        self.messages: list[dict[str, Any]] = []
        self.tokens = 0
        self.closed = False

    def add(self, role: str, content: Any) -> None:
        self.messages.append({"role": role, "content": content})
        self.tokens += 10

    def generate(self, max_new_tokens: int = 256, **_: Any):
        from guikv.session import Reply

        text = next(self.replies, None)
        if text is None:
            pytest.fail("the loop asked the model for more answers than the test scripted")
        ids = tuple(range(min(len(text), max_new_tokens)))
        self.messages.append({"role": "assistant", "content": text})
        self.tokens += len(ids) + 1
        return Reply(text, ids, 10, 0.001, 0.001, True)

    def state(self):
        from guikv.session import SessionState

        return SessionState([self.tokens, self.tokens], 64 * self.tokens, self.tokens, {}, {})

    def close(self) -> None:
        self.closed = True


def scripted_sessions(replies: Iterable[str]) -> Callable[..., ScriptedSession]:
    stream = iter(replies)
    return lambda model, processor, **options: ScriptedSession(stream, model, processor, **options)


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2.5-VL with its processor, written with save_pretrained (what ``--model`` gets)."""
    from guikv.testing import save_tiny_qwen2_5_vl

    return save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen2.5-vl"))


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: this checkout first on the path, a wide terminal."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250", **extra}


def scripted_cli_command(replies: list, folder: Path, *args: str) -> list[str]:
    """The command line of ``tests/agent/scripted_cli.py``: the real CLI with the model's answers scripted."""
    path = folder / "replies.json"
    path.write_text(json.dumps(replies), encoding="utf-8")
    return [sys.executable, "-m", "tests.agent.scripted_cli", str(path), *args]


def run_scripted_cli(replies: list, folder: Path, *args: str, timeout: float = 240, **env: str):
    return subprocess.run(scripted_cli_command(replies, folder, *args), cwd=ROOT, env=cli_env(**env),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
