"""Fixtures of the agent tests: a local test page that reports what happens on it, a real Chromium on it, a scripted
policy, and the tiny random Qwen2.5-VL saved as a model folder.

The page (320x240 CSS pixels) has a button "Go" centred at (80, 40) and a text field centred at (120, 115); a click on
Go writes ``go:<field text>`` into ``#log`` and reports it to the server (``/event?kind=go&value=...``), so a test
can read the effect from the DOM (same process) or from the server (a CLI subprocess).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.loop import PolicyOutput
from environments import BrowserConfig, BrowserEnv
from environments.actions import Action
from environments.base import Observation
from tests.environments.conftest import xvfb  # noqa: F401  (a real Xvfb, the environment tests' fixture)

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


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Qwen2.5-VL with its processor, written with save_pretrained (what ``--model`` gets)."""
    from guikv.testing import save_tiny_qwen2_5_vl

    return save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen2.5-vl"))
