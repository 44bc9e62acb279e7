"""A Chromium page driven through Playwright's sync API.

The screenshot is the viewport's real pixels: with ``device_scale_factor`` 2 a 1280x800 CSS viewport gives a 2560x1600
screenshot, and action coordinates (screenshot pixels) are divided by the device scale factor to land on the CSS
pixel the model chose. Every episode runs in a fresh browser context (no cookies or storage carried over).

``Observation.info`` keys: ``url``, ``title``, ``tabs`` (open pages; the newest is the one shown and driven),
``blocked`` (navigations refused by the origin allowlist since the last observation), ``dialogs`` (JavaScript dialogs
dismissed since the last observation, as ``"type: message"``), ``task`` (after reset) and ``error`` (see ``base``).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Playwright, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from environments.actions import (
    Action,
    Click,
    DoubleClick,
    Drag,
    Hotkey,
    Hover,
    MiddleClick,
    Point,
    PressBack,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)
from environments.base import Env, Observation, check_options, unsupported
from environments.errors import BrowserNotFoundError, DisplayNotFoundError, UnreachableURLError
from environments.keys import PLAYWRIGHT_KEYS, canonical_keys

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
_SCROLL_VECTORS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lowercased, default ports dropped (``file:`` URLs give ``file://``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    port = parts.port
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def _allowed_origin(entry: str) -> str:
    parts = urlsplit(entry)
    if not parts.scheme or (not parts.hostname and parts.scheme != "file") or parts.path not in ("", "/"):
        raise ValueError(f"allowed_origins entries are origins like 'https://example.com:8443', got {entry!r}")
    return origin(entry)


@dataclass(frozen=True)
class BrowserConfig:
    """How to run the browser. Times are in seconds.

    start_url: the page every episode starts on (``reset(options={"url": ...})`` overrides it for one episode).
    viewport: ``(width, height)`` in CSS pixels; the screenshot is this times ``device_scale_factor``.
    allowed_origins: when set, navigations (top level or frames, by link or script) to any other origin are aborted
        before any request and listed in ``info["blocked"]``; a server redirect out of the allowlist is caught after it
        loaded (Playwright does not route redirect hops): the tab goes back and the URL is listed in ``blocked``.
        Sub-resources (images, scripts) are not filtered.
    executable_path: a Chromium/Chrome binary; by default the first of ``SYSTEM_CHROMIUMS`` on ``PATH``, else
        Playwright's own Chromium (``playwright install chromium``).
    action_timeout: Playwright's limit for one input action. navigation_timeout: limit for loading the start page.
    settle: pause after each action so that the page reacts before the screenshot; load_timeout: after it, how long to
        wait for a started page load to finish (a page still loading is shot as it is).
    drag_steps: intermediate mouse moves of a drag. scroll_step: CSS pixels per scroll notch.
    max_wait: cap on a ``Wait`` action.
    """

    start_url: str
    viewport: tuple[int, int] = (1280, 800)
    device_scale_factor: float = 1.0
    headless: bool = True
    allowed_origins: tuple[str, ...] | None = None
    executable_path: str | None = None
    action_timeout: float = 10.0
    navigation_timeout: float = 30.0
    settle: float = 0.25
    load_timeout: float = 5.0
    drag_steps: int = 10
    scroll_step: int = 100
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        if not urlsplit(self.start_url).scheme:
            raise ValueError(f"start_url must be an absolute URL like http://127.0.0.1:8000/, got {self.start_url!r}")
        viewport = tuple(self.viewport)
        if len(viewport) != 2 or not all(isinstance(v, int) and v > 0 for v in viewport):
            raise ValueError(f"viewport must be (width, height) in positive CSS pixels, got {self.viewport!r}")
        object.__setattr__(self, "viewport", viewport)
        if not self.device_scale_factor > 0:
            raise ValueError(f"device_scale_factor must be > 0, got {self.device_scale_factor!r}")
        for name in ("action_timeout", "navigation_timeout", "settle", "load_timeout", "max_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.drag_steps < 1 or self.scroll_step < 1:
            raise ValueError(f"drag_steps and scroll_step must be >= 1, got {self.drag_steps}, {self.scroll_step}")
        if self.allowed_origins is not None:
            if isinstance(self.allowed_origins, str):
                raise ValueError(f"allowed_origins is a sequence of origins, got the string {self.allowed_origins!r}")
            allowed = tuple(_allowed_origin(entry) for entry in self.allowed_origins)
            object.__setattr__(self, "allowed_origins", allowed)
            self.check_allowed(self.start_url, "start_url")

    def check_allowed(self, url: str, what: str) -> None:
        """``ValueError`` when the allowlist would block ``url`` (named ``what`` in the message)."""
        if self.allowed_origins is not None and origin(url) not in self.allowed_origins:
            raise ValueError(f"{what} {url!r}: origin {origin(url)!r} is not in allowed_origins {self.allowed_origins}")


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


class BrowserEnv(Env):
    """One Chromium tab (the newest of the episode's pages) as an environment; see the module docstring."""

    name = "browser"

    def __init__(self, config: BrowserConfig) -> None:
        self.config = config
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._blocked: list[str] = []
        self._dialogs: list[str] = []

    @property
    def page(self) -> Page:
        """The Playwright page shown to the model (for checks and task set-up; actions go through ``step``)."""
        if self._page is None:
            raise RuntimeError("BrowserEnv has no page before reset()")
        return self._page

    def reset(self, task: str | None = None, *, options: dict[str, Any] | None = None) -> Observation:
        """Open a fresh context on ``start_url`` (or ``options["url"]``); ``UnreachableURLError`` if it cannot load."""
        url = check_options(options, ("url",)).get("url", self.config.start_url)
        self.config.check_allowed(url, "reset url")
        self._size = None
        if self._browser is None:
            self._launch()
        if self._context is not None:
            self._context.close()
        self._blocked.clear()
        self._dialogs.clear()
        self._context = self._new_context()
        self._page = self._context.new_page()
        try:
            response = self._page.goto(url, wait_until="load", timeout=self.config.navigation_timeout * 1000)
        except PlaywrightError as exc:
            raise UnreachableURLError(url, exc.message.splitlines()[0]) from exc
        if response is not None and response.status >= 400:
            raise UnreachableURLError(url, f"the server answered HTTP {response.status} {response.status_text}")
        # A new tab's history starts with about:blank; drop it so that press_back cannot leave the start page.
        session = self._context.new_cdp_session(self._page)
        session.send("Page.resetNavigationHistory")
        session.detach()
        return self._observe(task=task)

    def close(self) -> None:
        """Close the browser and stop Playwright; idempotent."""
        self._size = None
        self._page = self._context = None
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright = None
            _release_playwright()

    def _launch(self) -> None:
        executable = self.config.executable_path or find_chromium()
        if self.config.executable_path is not None and not Path(self.config.executable_path).is_file():
            raise BrowserNotFoundError(f"executable_path {self.config.executable_path!r} is not a file; {INSTALL_HINT}")
        self._playwright = _acquire_playwright()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable,
                headless=self.config.headless,
                args=list(LAUNCH_ARGS),
                env=dict(os.environ),  # the driver is shared and may predate a change of DISPLAY
            )
        except PlaywrightError as exc:
            self._playwright = None
            _release_playwright()
            if "Executable doesn't exist" in exc.message:
                tried = ", ".join(SYSTEM_CHROMIUMS)
                raise BrowserNotFoundError(f"no Chromium found (tried {tried}, Playwright's); {INSTALL_HINT}") from exc
            if "Missing X server" in exc.message or "$DISPLAY" in exc.message:
                raise DisplayNotFoundError(
                    "a headed browser needs an X display: set DISPLAY or start Xvfb (Xvfb :99 & export DISPLAY=:99), "
                    "or use headless=True"
                ) from exc
            raise

    def _new_context(self) -> BrowserContext:
        assert self._browser is not None
        width, height = self.config.viewport
        context = self._browser.new_context(
            viewport={"width": width, "height": height}, device_scale_factor=self.config.device_scale_factor
        )
        context.set_default_timeout(self.config.action_timeout * 1000)
        if self.config.allowed_origins is not None:
            context.route("**/*", self._filter_navigation)
        context.on("dialog", self._dismiss_dialog)
        return context

    def _filter_navigation(self, route: Route) -> None:
        request = route.request
        if request.is_navigation_request() and origin(request.url) not in (self.config.allowed_origins or ()):
            self._blocked.append(request.url)
            route.abort("aborted")  # ERR_ABORTED: the page stays, no error page replaces it
        else:
            route.continue_()

    def _leave_disallowed_origin(self, page: Page) -> None:
        # Playwright does not route the hops of a redirect, so a redirect out of the allowlist is caught here, after
        # the fact: the tab goes back (or to about:blank) before the model sees the page.
        url = page.url
        if self.config.allowed_origins is None or urlsplit(url).scheme not in ("http", "https"):
            return
        if origin(url) not in self.config.allowed_origins:
            self._blocked.append(url)
            if page.go_back() is None and page.url == url:
                page.goto("about:blank")

    def _dismiss_dialog(self, dialog: Dialog) -> None:
        # The model sees only the screenshot, where a native dialog never appears: dismiss it and report it.
        self._dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _css(self, point: Point) -> tuple[float, float]:
        scale = self.config.device_scale_factor
        return point[0] / scale, point[1] / scale

    def _execute(self, action: Action) -> str | None:
        page = self.page
        mouse = page.mouse
        match action:
            case Click(point=point):
                mouse.click(*self._css(point))
            case DoubleClick(point=point):
                mouse.dblclick(*self._css(point))
            case TripleClick(point=point):
                mouse.click(*self._css(point), click_count=3)
            case RightClick(point=point):
                mouse.click(*self._css(point), button="right")
            case MiddleClick(point=point):
                mouse.click(*self._css(point), button="middle")
            case Hover(point=point):
                mouse.move(*self._css(point))
            case Drag(start=start, end=end):
                mouse.move(*self._css(start))
                mouse.down()
                mouse.move(*self._css(end), steps=self.config.drag_steps)
                mouse.up()
            case Type(text=text, submit=submit):
                page.keyboard.type(text)
                if submit:
                    page.keyboard.press("Enter")
            case Hotkey(keys=keys):
                try:
                    names = canonical_keys(keys)
                except ValueError as exc:
                    return f"hotkey: {exc}"
                page.keyboard.press("+".join(PLAYWRIGHT_KEYS.get(name, name) for name in names))
            case Scroll(direction=direction, point=point, amount=amount):
                if direction not in _SCROLL_VECTORS:
                    return f"scroll: direction must be one of {sorted(_SCROLL_VECTORS)}, got {direction!r}"
                width, height = self.config.viewport
                mouse.move(*(self._css(point) if point is not None else (width / 2, height / 2)))
                dx, dy = _SCROLL_VECTORS[direction]
                distance = amount * self.config.scroll_step
                mouse.wheel(dx * distance, dy * distance)
            case Wait(seconds=seconds):
                page.wait_for_timeout(min(max(seconds, 0.0), self.config.max_wait) * 1000)
            case PressBack():
                url = page.url
                if page.go_back() is None and page.url == url:  # None is also a same-document (pushState) back
                    return "press_back: there is no previous page in this tab"
            case _:
                return unsupported(action, self.name)
        return None

    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        assert self._context is not None and self._page is not None
        # Playwright runs route and dialog handlers while it waits, so wait through Playwright, not time.sleep.
        if not self._page.is_closed():
            self._page.wait_for_timeout(self.config.settle * 1000)
        pages = self._context.pages or [self._context.new_page()]
        if pages[-1] is not self._page:  # a link opened a tab, or the shown tab closed: show the newest one
            self._page = pages[-1]
            self._page.bring_to_front()
        page = self._page
        with contextlib.suppress(PlaywrightTimeoutError):  # a page that never finishes loading is shown as it is
            page.wait_for_load_state("load", timeout=self.config.load_timeout * 1000)
        self._leave_disallowed_origin(page)
        png = page.screenshot(type="png", caret="initial")
        info = {
            "url": page.url,
            "title": page.title(),
            "tabs": len(pages),
            "blocked": self._blocked[:],
            "dialogs": self._dialogs[:],
        }
        self._blocked.clear()
        self._dialogs.clear()
        return Image.open(io.BytesIO(png)).convert("RGB"), info
