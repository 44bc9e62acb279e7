"""Fixtures of the environment tests: local pages (``tests/pages.py``), a real X server (Xvfb) and a Tk app on it.

Nothing is skipped: without Chromium or Xvfb the tests fail with a message naming the package to install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TK_APP = Path(__file__).with_name("tk_app.py")


class TkApp:
    """The Tk window of ``tk_app.py`` running on the test display; ``wait_for`` reads its event log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines() if line.endswith("}")]

    def wait_for(self, condition: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
        """The events once ``condition(events)`` holds; fails the test with the events seen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if condition(events):
                return events
            if time.monotonic() > deadline:
                pytest.fail(f"the Tk app did not get the expected events within {timeout} s; it got {events}")
            time.sleep(0.02)


@pytest.fixture
def tk_app(xvfb: str, tmp_path: Path) -> Iterator[TkApp]:
    """A fresh Tk window at the top-left of the Xvfb screen (layout in ``tk_app.py``)."""
    app = TkApp(tmp_path / "events.jsonl")
    process = subprocess.Popen([sys.executable, str(TK_APP), str(app.log)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not any(event["type"] == "ready" for event in app.events()):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                stderr = process.communicate()[1].decode(errors="replace")
                pytest.fail(f"the Tk test app did not start (is python3-tk installed? apt-get install -y python3-tk): {stderr}")
            time.sleep(0.02)
        yield app
    finally:
        process.terminate()
        process.wait(timeout=10)
