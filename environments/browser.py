"""A Chromium page driven through Playwright's sync API.

The screenshot is the viewport's real pixels: with ``device_scale_factor`` 2 a 1280x800 CSS viewport gives a 2560x1600
screenshot, and action coordinates (screenshot pixels) are divided by the device scale factor to land on the CSS
pixel the model chose. Every episode runs in a fresh browser context (no cookies or storage carried over).

With ``allowed_origins`` every request goes through one origin filter before it reaches the network (``origins``
says how, and what it covers); the page is checked again before each action and after each capture, and a screenshot
of a refused origin is never shown: the tab goes back (or blank) and the observation is taken again.

``Observation.info`` keys: ``url``, ``title``, ``tabs`` (open pages; the newest is the one shown and driven),
``blocked`` (requests refused by the allowlist since the last observation, as ``{"url", "kind"[, "method",
"redirected_from"]}``; ``kind`` is ``page``, ``popup``, ``frame``, ``observation`` (a page found on a refused origin
and left), or in strict mode a sub-resource type, ``connect`` or ``websocket``: see ``origins.OriginFilter``),
``blocked_omitted`` (only when more than ``origins.MAX_BLOCKED`` were refused: how many more), ``dialogs``
(JavaScript dialogs dismissed since the last observation, as ``"type: message"``), ``cut_short`` (only when
``Env.should_stop`` cut a long action short: how far it got), ``task`` (after reset) and ``error`` (see ``base``).
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import BrowserContext, Dialog, Page, WebSocketRoute
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
from environments.chromium import LAUNCH_ARGS, SYSTEM_CHROMIUMS, Chromium, find_chromium
from environments.errors import OriginNotAllowedError, UnreachableURLError
from environments.keys import PLAYWRIGHT_KEYS, canonical_keys
from environments.origins import OriginFilter, OriginPolicy, allowed_origin, origin, profile_preferences, websocket_matcher

__all__ = ["LAUNCH_ARGS", "SYSTEM_CHROMIUMS", "BrowserConfig", "BrowserEnv", "find_chromium", "origin"]

_SCROLL_VECTORS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
TYPE_CHUNK = 16  # characters typed between two polls of should_stop
POLL_SECONDS = 0.1  # slice of a Wait between two polls of should_stop


@dataclass(frozen=True)
class BrowserConfig:
    """How to run the browser. Times are in seconds.

    start_url: the page every episode starts on (``reset(options={"url": ...})`` overrides it for one episode).
    viewport: ``(width, height)`` in CSS pixels; the screenshot is this times ``device_scale_factor``.
    allowed_origins: when set, every navigation (top level, frames, new tabs, each redirect hop) to any other origin
        is refused before it reaches the network and listed in ``info["blocked"]``; a start page that is or redirects
        outside them is an ``OriginNotAllowedError``. Sub-resources are not filtered unless ``strict_origins``.
    strict_origins: also refuse sub-resources to other origins (images, scripts, fetch/XHR, beacons, WebSockets through
        a ``connect-src`` policy, workers' requests) and block service workers; see ``environments.origins`` for
        exactly what is and is not covered. Needs ``allowed_origins``.
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
    strict_origins: bool = False
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
        if not isinstance(self.strict_origins, bool):
            raise ValueError(f"strict_origins must be true or false, got {self.strict_origins!r}")
        if self.allowed_origins is not None:
            if isinstance(self.allowed_origins, str):
                raise ValueError(f"allowed_origins is a sequence of origins, got the string {self.allowed_origins!r}")
            allowed = tuple(dict.fromkeys(allowed_origin(entry) for entry in self.allowed_origins))
            if not allowed:
                raise ValueError("allowed_origins is empty: no page could load; leave it unset to allow every origin")
            object.__setattr__(self, "allowed_origins", allowed)
            self.check_allowed(self.start_url, "start_url")
        elif self.strict_origins:
            raise ValueError("strict_origins confines sub-resources to allowed_origins: set allowed_origins too")

    @property
    def policy(self) -> OriginPolicy | None:
        """The allowlist as an ``OriginPolicy``, or ``None`` when every origin is allowed."""
        return None if self.allowed_origins is None else OriginPolicy(self.allowed_origins)

    def check_allowed(self, url: str, what: str) -> None:
        """``OriginNotAllowedError`` (a ``ValueError``) when the allowlist refuses ``url`` (named ``what``)."""
        policy = self.policy
        if policy is not None and not policy.allows(url):
            raise OriginNotAllowedError(
                f"{what} {url!r}: origin {origin(url)!r} is not in allowed_origins {self.allowed_origins}", url
            )


class BrowserEnv(Env):
    """One Chromium tab (the newest of the episode's pages) as an environment; see the module docstring."""

    name = "browser"

    def __init__(self, config: BrowserConfig) -> None:
        self.config = config
        self._policy = config.policy
        self._chromium: Chromium | None = None
        self._filter: OriginFilter | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._context_id = ""  # Chromium's id of the episode's context
        self._dialogs: list[str] = []
        self._cut_short: str | None = None

    @property
    def page(self) -> Page:
        """The Playwright page shown to the model (for checks and task set-up; actions go through ``step``)."""
        if self._page is None:
            raise RuntimeError("BrowserEnv has no page before reset()")
        return self._page

    def reset(self, task: str | None = None, *, options: dict[str, Any] | None = None) -> Observation:
        """Open a fresh context on ``start_url`` (or ``options["url"]``).

        ``UnreachableURLError`` if it cannot load; ``OriginNotAllowedError`` if it is, or redirects, outside the
        allowlist (the refused hop never reaches its server).
        """
        url = check_options(options, ("url",)).get("url", self.config.start_url)
        self.config.check_allowed(url, "reset url")
        self._size = None
        if self._chromium is None:
            self._launch()
        if self._context is not None:
            self._context.close()
        self._dialogs.clear()
        self._cut_short = None
        self._context = self._new_context()
        self._page = self._context.new_page()
        session = self._context.new_cdp_session(self._page)
        tab = session.send("Target.getTargetInfo")["targetInfo"]
        self._context_id = tab["browserContextId"]
        if self._filter is not None:
            self._filter.take_blocked()  # what the last episode left behind
            self._filter.main_tab = tab["targetId"]
        try:
            response = self._page.goto(url, wait_until="load", timeout=self.config.navigation_timeout * 1000)
        except PlaywrightError as exc:
            self._raise_if_refused(url)
            raise UnreachableURLError(url, exc.message.splitlines()[0]) from exc
        if response is not None and response.status >= 400:
            raise UnreachableURLError(url, f"the server answered HTTP {response.status} {response.status_text}")
        # A new tab's history starts with about:blank; drop it so that press_back cannot leave the start page.
        session.send("Page.resetNavigationHistory")
        session.detach()
        return self._observe(task=task)

    def close(self) -> None:
        """Close the browser and stop Playwright; idempotent."""
        self._size = None
        self._page = self._context = None
        if self._filter is not None:
            self._filter.close()
            self._filter = None
        if self._chromium is not None:
            self._chromium.close()
            self._chromium = None

    def _raise_if_refused(self, url: str) -> None:
        """``OriginNotAllowedError`` if the start page failed because the filter refused one of its redirect hops."""
        if self._filter is None:
            return
        self._filter.sync()
        blocked, _ = self._filter.take_blocked()
        refused = [entry for entry in blocked if entry["kind"] == "page"]
        if refused:
            hop = refused[0]
            raise OriginNotAllowedError(
                f"start page {url!r} redirects to {hop['url']!r}, whose origin {origin(hop['url'])!r} is not in "
                f"allowed_origins {self.config.allowed_origins}; the redirect was refused before it was sent",
                hop["url"],
            )

    def _launch(self) -> None:
        preferences = profile_preferences(self.config.strict_origins)
        self._chromium = Chromium(executable_path=self.config.executable_path, headless=self.config.headless,
                                  preferences=preferences)
        if self._policy is not None:
            self._filter = OriginFilter(self._chromium.browser, self._policy, strict=self.config.strict_origins)

    def _new_context(self) -> BrowserContext:
        assert self._chromium is not None
        width, height = self.config.viewport
        context = self._chromium.browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=self.config.device_scale_factor,
            service_workers="block" if self.config.strict_origins else "allow",
        )
        context.set_default_timeout(self.config.action_timeout * 1000)
        if self._policy is not None and self.config.strict_origins:
            # The connect-src policy refuses every WebSocket elsewhere (workers too); this route also catches the
            # pages' own, in case a document escaped the policy.
            context.route_web_socket(websocket_matcher(self._policy), self._refuse_websocket)
        context.on("dialog", self._dismiss_dialog)
        return context

    def _refuse_websocket(self, socket: WebSocketRoute) -> None:
        if self._filter is not None:
            self._filter.record(socket.url, "websocket", {"method": "GET"})
        socket.close(code=1008, reason="origin not allowed")

    def _dismiss_dialog(self, dialog: Dialog) -> None:
        # The model sees only the screenshot, where a native dialog never appears: dismiss it and report it.
        self._dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    # -- the second line of defence: the page itself is checked before each action and after each capture ---------
    def _refused_frames(self, page: Page) -> list[str]:
        """URLs of the frames of ``page`` on an origin the allowlist refuses (the main frame first)."""
        if self._policy is None or page.is_closed():
            return []
        return [frame.url for frame in page.frames if not self._policy.allows(frame.url)]

    def _leave_refused(self, page: Page) -> bool:
        """Take ``page`` off any refused origin (back, else blank) and record it; whether anything was refused."""
        refused = self._refused_frames(page)
        if not refused or self._policy is None or self._filter is None:
            return False
        for url in refused:
            self._filter.record(url, "observation")
        with contextlib.suppress(PlaywrightError):
            if not self._policy.allows(page.url):
                page.go_back(wait_until="commit")
            for frame in page.frames:
                if frame.parent_frame is not None and not self._policy.allows(frame.url):
                    frame.goto("about:blank", wait_until="commit")
        if self._refused_frames(page):  # no way back: a blank tab rather than the refused page
            with contextlib.suppress(PlaywrightError):
                page.goto("about:blank", wait_until="commit")
        return True

    def _sync_filter(self) -> None:
        if self._filter is not None:
            self._filter.sync()

    def _css(self, point: Point) -> tuple[float, float]:
        scale = self.config.device_scale_factor
        return point[0] / scale, point[1] / scale

    def _execute(self, action: Action) -> str | None:
        self._sync_filter()
        page = self.page
        if page.is_closed():
            return f"{action.kind}: the tab closed before the action; nothing was done (the next screenshot shows the front tab)"
        if self._leave_refused(page):
            return f"{action.kind}: the page had reached an origin outside the allowlist; it was left and nothing was done"
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
                self._type(page, text, submit)
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
                distance = amount * self.config.scroll_step  # one wheel event whatever the amount: nothing to cut short
                mouse.wheel(dx * distance, dy * distance)
            case Wait(seconds=seconds):
                self._wait(page, min(max(seconds, 0.0), self.config.max_wait))
            case PressBack():
                url = page.url
                if page.go_back() is None and page.url == url:  # None is also a same-document (pushState) back
                    return "press_back: there is no previous page in this tab"
            case _:
                return unsupported(action, self.name)
        return None

    def _type(self, page: Page, text: str, submit: bool) -> None:
        """Type ``text`` in chunks, polling ``should_stop`` between them; a stop skips the rest and the Enter."""
        for start in range(0, len(text), TYPE_CHUNK):
            if self._stop_now():
                self._cut_short = f"type: stopped after {start} of {len(text)} characters" + (
                    "; Enter was not pressed" if submit else ""
                )
                return
            page.keyboard.type(text[start : start + TYPE_CHUNK])
        if submit:
            page.keyboard.press("Enter")

    def _wait(self, page: Page, seconds: float) -> None:
        """Wait through Playwright (its handlers run meanwhile) in slices, polling ``should_stop`` between them."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop_now():
                self._cut_short = f"wait: stopped after {seconds - left:.1f} of {seconds:.1f} s"
                return
            page.wait_for_timeout(min(left, POLL_SECONDS) * 1000)

    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        assert self._context is not None and self._page is not None
        # Playwright runs route and dialog handlers while it waits, so wait through Playwright, not time.sleep.
        if not self._page.is_closed():
            self._page.wait_for_timeout(self.config.settle * 1000)
        self._await_new_tabs()
        for _ in range(3):  # a page found on a refused origin, before or after the shot, is left and shot again
            page = self._front_page()
            with contextlib.suppress(PlaywrightTimeoutError):  # a page that never finishes loading is shown as it is
                page.wait_for_load_state("load", timeout=self.config.load_timeout * 1000)
            self._sync_filter()
            if self._leave_refused(page):
                continue
            png = page.screenshot(type="png", caret="initial")
            self._sync_filter()
            if not self._leave_refused(page):
                break
        else:  # still refused after three tries: show a blank tab, never the refused page
            page = self._front_page()
            page.goto("about:blank")
            png = page.screenshot(type="png", caret="initial")
        info: dict[str, Any] = {
            "url": page.url,
            "title": page.title(),
            "tabs": len(self._context.pages),
            "blocked": [],
            "dialogs": self._dialogs[:],
        }
        if self._filter is not None:
            info["blocked"], omitted = self._filter.take_blocked()
            if omitted:
                info["blocked_omitted"] = omitted
        if self._cut_short is not None:
            info["cut_short"] = self._cut_short
        self._dialogs.clear()
        self._cut_short = None
        return Image.open(io.BytesIO(png)).convert("RGB"), info

    def _await_new_tabs(self) -> None:
        """Wait (up to ``load_timeout``) until Playwright lists every tab Chromium has opened, so a new one is shown."""
        assert self._chromium is not None and self._context is not None
        deadline = time.monotonic() + self.config.load_timeout
        while self._context.pages and time.monotonic() < deadline:
            if len(self._context.pages) >= self._chromium.tabs(self._context_id):
                return
            self._context.pages[0].wait_for_timeout(50)  # Playwright attaches to the new tab meanwhile

    def _front_page(self) -> Page:
        """The page to show: the newest tab (a link opened one, or the shown tab closed); brought to the front."""
        assert self._context is not None
        pages = self._context.pages or [self._context.new_page()]
        if pages[-1] is not self._page:
            self._page = pages[-1]
            self._page.bring_to_front()
        return self._page
