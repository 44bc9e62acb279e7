"""Launching Chromium for ``BrowserEnv``: the binary, the flags, a throw-away profile, the shared Playwright driver.

The browser runs on a fresh temporary profile whose ``Default/Preferences`` are written before launch (the origin
filter relies on some, see ``origins.profile_preferences``); Playwright only lets a profile be chosen through
``launch_persistent_context``, so ``Chromium`` launches that way, keeps the persistent context unused and hands out
the ``Browser``, on which each episode opens a fresh incognito context.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, CDPSession, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from environments.errors import BrowserNotFoundError, DisplayNotFoundError

# System browsers tried in order before Playwright's own download (Debian/Ubuntu package names, then Chrome).
SYSTEM_CHROMIUMS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_ARGS = (
    "--no-sandbox",  # containers and CI run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-smooth-scrolling",  # a wheel scroll is finished when the screenshot is taken
)
INSTALL_HINT = "install Debian's chromium: apt-get install -y chromium, or run `playwright install chromium`"

# Playwright's sync API runs one driver per thread at most: the environments of a thread share it, the last to close
# stops it.
_DRIVERS = threading.local()


def _acquire_playwright() -> Playwright:
    if getattr(_DRIVERS, "users", 0) == 0:
        _DRIVERS.playwright = sync_playwright().start()
        _DRIVERS.users = 0
    _DRIVERS.users += 1
    return _DRIVERS.playwright


def _release_playwright() -> None:
    _DRIVERS.users -= 1
    if _DRIVERS.users == 0:
        _DRIVERS.playwright.stop()
        _DRIVERS.playwright = None


def find_chromium() -> str | None:
    """Path of the first system Chromium/Chrome on ``PATH``, or ``None`` (then Playwright's own is used)."""
    for name in SYSTEM_CHROMIUMS:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


class Chromium:
    """A running Chromium on a throw-away profile; ``browser`` opens the contexts; ``close()`` ends it (idempotent)."""

    def __init__(self, *, executable_path: str | None, headless: bool, preferences: dict[str, Any]) -> None:
        if executable_path is not None and not Path(executable_path).is_file():
            raise BrowserNotFoundError(f"executable_path {executable_path!r} is not a file; {INSTALL_HINT}")
        self._profile: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(prefix="guikv-chromium-")
        default = Path(self._profile.name, "Default")
        default.mkdir()
        (default / "Preferences").write_text(json.dumps(preferences), encoding="utf-8")
        self._playwright: Playwright | None = _acquire_playwright()
        self._launcher: BrowserContext | None = None
        self._session: CDPSession | None = None
        try:
            self._launcher = self._playwright.chromium.launch_persistent_context(
                self._profile.name,
                executable_path=executable_path or find_chromium(),
                headless=headless,
                args=list(LAUNCH_ARGS),
                env=dict(os.environ),  # the driver is shared and may predate a change of DISPLAY
            )
        except PlaywrightError as exc:
            self.close()
            if "Executable doesn't exist" in exc.message:
                tried = ", ".join(SYSTEM_CHROMIUMS)
                raise BrowserNotFoundError(f"no Chromium found (tried {tried}, Playwright's); {INSTALL_HINT}") from exc
            if "Missing X server" in exc.message or "$DISPLAY" in exc.message:
                raise DisplayNotFoundError(
                    "a headed browser needs an X display: set DISPLAY or start Xvfb (Xvfb :99 & export DISPLAY=:99), "
                    "or use headless=True"
                ) from exc
            raise
        browser = self._launcher.browser  # Playwright names the browser that owns a persistent Chromium context
        if browser is None:
            self.close()
            raise BrowserNotFoundError(f"Playwright gave no browser for the launched Chromium; {INSTALL_HINT}")
        self.browser: Browser = browser
        self._session = browser.new_browser_cdp_session()

    def tabs(self, context_id: str) -> int:
        """How many tabs Chromium has open in the browser context ``context_id`` (Playwright lists a new one later)."""
        if self._session is None:
            return 0
        targets = self._session.send("Target.getTargets")["targetInfos"]
        return sum(1 for target in targets if target["type"] == "page" and target.get("browserContextId") == context_id)

    def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(PlaywrightError):
                self._session.detach()
            self._session = None
        if self._launcher is not None:
            with contextlib.suppress(PlaywrightError):
                self._launcher.close()
            self._launcher = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None
        if self._playwright is not None:
            self._playwright = None
            _release_playwright()
