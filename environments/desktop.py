"""The X11 desktop: ``mss`` screenshots of one monitor, ``pyautogui`` mouse and keyboard.

A screenshot pixel maps to the screen pixel under its centre (``to_screen``): scaled by monitor size / screenshot size
(``scale`` and ``max_size`` downscale the screenshot) and shifted by the monitor's left/top offset.

The environment drives the X display named by ``$DISPLAY``, as pyautogui, mss and every X client do; pyautogui is
imported on the first ``reset`` because it connects to that display when imported. Its fail-safe stays on: a person
who moves the mouse into a corner of the screen stops the run; the next pyautogui call raises
``pyautogui.FailSafeException``, which ``step`` turns into ``environments.errors.FailSafeError`` (the loop stops
cleanly). The environment itself never puts the pointer in a corner: every point is kept inside the virtual screen
and at least 1 pixel away from each of its four corners (``safe_point``), so a model clicking at ``(-5, -5)`` clicks
next to the corner instead of tripping the fail-safe.

Long actions are cut into chunks (``SCROLL_CHUNK`` notches, ``TYPE_CHUNK`` characters, drag and wait segments of
``STEP_SECONDS``) and ``Env.should_stop`` is polled between them, so a stop (Ctrl+C, SIGTERM, ``--max-seconds``) takes
effect within a fraction of a second whatever the action asked for; ``info["cut_short"]`` then says how far it got
(a drag releases the button where it stopped, cut-short typing never presses Enter).

``Observation.info`` keys: ``monitor`` (``left``, ``top``, ``width``, ``height`` of the captured monitor in screen
pixels), ``window`` (title of the focused window, or of the one under the pointer, when X knows one), ``task`` (after
reset), ``cut_short`` (a long action stopped early) and ``error`` (see ``base``).
"""

from __future__ import annotations

import math
import os
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mss
from PIL import Image
from Xlib.display import Display
from Xlib.error import DisplayError, XError

from environments.actions import (
    Action,
    Click,
    DoubleClick,
    Drag,
    Hotkey,
    Hover,
    MiddleClick,
    Point,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)
from environments.base import Env, Observation, check_options, unsupported
from environments.errors import DisplayNotFoundError, EnvError, FailSafeError
from environments.keys import canonical_keys

DISPLAY_HINT = "set DISPLAY to a running X server, or start Xvfb: Xvfb :99 -screen 0 1920x1080x24 & export DISPLAY=:99"
# What pyautogui.write can type on X11: printable ASCII, newline (Enter) and tab.
TYPABLE = frozenset(string.printable) - {"\x0b", "\x0c"}
_MSS = getattr(mss, "MSS", None) or mss.mss  # mss >= 10.2 renamed the factory
SCROLL_CHUNK = 10  # wheel notches sent between two polls of should_stop (pyautogui sends ~1,500 a second)
TYPE_CHUNK = 16  # characters typed between two polls
STEP_SECONDS = 0.1  # longest stretch of a drag or a wait between two polls


@dataclass(frozen=True)
class DesktopConfig:
    """How to capture and drive the desktop. Times are in seconds.

    monitor: mss monitor index: 1 is the first monitor, 2 the second..., 0 all monitors as one image.
    scale: screenshot size / monitor size (e.g. 0.5 for a 4K monitor); max_size: cap on the screenshot's longest
        side in pixels, applied after ``scale``.
    pause: pause after each action so that applications react before the screenshot.
    drag_duration: time the mouse takes to move from a drag's start to its end, button held.
    max_wait: cap on a ``Wait`` action.
    """

    monitor: int = 1
    scale: float = 1.0
    max_size: int | None = None
    pause: float = 0.1
    drag_duration: float = 0.3
    max_wait: float = 10.0

    def __post_init__(self) -> None:
        for name in ("scale", "pause", "drag_duration", "max_wait"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise ValueError(f"{name} must be a number, got {value!r}")
        if self.max_size is not None and (isinstance(self.max_size, bool) or not isinstance(self.max_size, int)):
            raise ValueError(f"max_size must be a whole number of pixels or None, got {self.max_size!r}")
        if not isinstance(self.monitor, int) or self.monitor < 0:
            raise ValueError(f"monitor is an mss monitor index >= 0 (1 = first monitor), got {self.monitor!r}")
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale!r}")
        if self.max_size is not None and self.max_size < 1:
            raise ValueError(f"max_size must be a positive pixel count or None, got {self.max_size!r}")
        for name in ("pause", "drag_duration", "max_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {getattr(self, name)!r}")


def screenshot_size(monitor_size: tuple[int, int], scale: float = 1.0, max_size: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of the screenshot of a monitor of ``monitor_size`` pixels."""
    width, height = monitor_size
    factor = scale if max_size is None else min(scale, max_size / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


def to_screen(point: Point, size: tuple[int, int], monitor: Mapping[str, int]) -> tuple[int, int]:
    """The screen pixel under the centre of screenshot pixel ``point``.

    size: ``(width, height)`` of the screenshot; monitor: mss monitor dict (``left``, ``top``, ``width``, ``height``).
    """
    (x, y), (width, height) = point, size
    column = min(monitor["width"] - 1, int((x + 0.5) * monitor["width"] / width))
    row = min(monitor["height"] - 1, int((y + 0.5) * monitor["height"] / height))
    return monitor["left"] + column, monitor["top"] + row


def safe_point(point: tuple[int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """``point`` clamped into a ``screen`` of ``(width, height)`` pixels and moved 1 pixel inwards (on each axis) when
    it lands on a corner: pyautogui's fail-safe fires whenever the pointer sits on one of the four corner pixels."""
    width, height = screen
    x, y = min(max(point[0], 0), width - 1), min(max(point[1], 0), height - 1)
    if width >= 3 and height >= 3 and x in (0, width - 1) and y in (0, height - 1):
        x, y = (1 if x == 0 else width - 2), (1 if y == 0 else height - 2)
    return x, y


def _import_pyautogui(display: str) -> Any:
    import pyautogui  # connects to $DISPLAY on first import

    bound = getattr(getattr(pyautogui, "platformModule", None), "_display", None)
    if bound is not None and bound.get_display_name() != display:
        raise EnvError(
            f"pyautogui drives X display {bound.get_display_name()!r} (DISPLAY when it was first imported) but DISPLAY "
            f"is now {display!r}; one process can drive one display, start a new process for another"
        )
    return pyautogui


class DesktopEnv(Env):
    """One monitor of the X display in ``$DISPLAY``; see the module docstring."""

    name = "desktop"

    def __init__(self, config: DesktopConfig | None = None) -> None:
        self.config = config or DesktopConfig()
        self._xdisplay: Display | None = None
        self._shooter: Any = None
        self._gui: Any = None
        self._monitor: dict[str, int] = {}
        self._screen_size: tuple[int, int] = (0, 0)
        self._cut_short: str | None = None

    def reset(self, task: str | None = None, *, options: dict[str, Any] | None = None) -> Observation:
        """Connect on first use and observe the screen as it is (the desktop has no state to restore)."""
        check_options(options, ())
        if self._gui is None:
            self._connect()
        return self._observe(task=task)

    def close(self) -> None:
        """Release the X connections; idempotent."""
        self._size = None
        self._gui = None
        if self._shooter is not None:
            self._shooter.close()
            self._shooter = None
        if self._xdisplay is not None:
            self._xdisplay.close()
            self._xdisplay = None

    def _connect(self) -> None:
        display = os.environ.get("DISPLAY")
        if not display:
            raise DisplayNotFoundError(f"no X display: DISPLAY is not set; {DISPLAY_HINT}")
        try:
            self._xdisplay = Display(display)
        except DisplayError as exc:
            raise DisplayNotFoundError(f"cannot open X display {display!r} ({exc}); {DISPLAY_HINT}") from exc
        try:
            self._gui = _import_pyautogui(display)
            self._shooter = _MSS()
            monitors = self._shooter.monitors
            if self.config.monitor >= len(monitors):
                raise ValueError(
                    f"monitor {self.config.monitor} does not exist on display {display!r}; it has monitors "
                    f"1..{len(monitors) - 1} (0 = all): {monitors[1:]}"
                )
        except BaseException:
            self.close()
            raise
        self._monitor = {key: monitors[self.config.monitor][key] for key in ("left", "top", "width", "height")}
        width, height = self._gui.size()  # the virtual screen, whose corners are the fail-safe points
        self._screen_size = (int(width), int(height))

    def _screen(self, point: Point) -> tuple[int, int]:
        assert self._size is not None
        return safe_point(to_screen(point, self._size, self._monitor), self._screen_size)

    def _execute(self, action: Action) -> str | None:
        self._cut_short = None
        try:
            error = self._perform(action)
        except self._gui.FailSafeException as exc:
            raise FailSafeError(
                f"pyautogui's fail-safe fired during {action.kind}: the mouse pointer is in a corner of the screen "
                f"({self._pointer()}), which is how a person stops the agent"
            ) from exc
        if self._cut_short is None:
            time.sleep(self.config.pause)
        return error

    def _pointer(self) -> str:
        try:
            x, y = self._gui.position()
        except Exception:  # the position only goes into the message
            return "position unknown"
        return f"at {x}, {y}"

    def _perform(self, action: Action) -> str | None:
        # Every pyautogui call gets _pause=False: the pause is ours (config.pause), pyautogui.PAUSE stays untouched.
        gui = self._gui
        match action:
            case Click(point=point):
                gui.click(*self._screen(point), _pause=False)
            case DoubleClick(point=point):
                gui.doubleClick(*self._screen(point), _pause=False)
            case TripleClick(point=point):
                gui.tripleClick(*self._screen(point), _pause=False)
            case RightClick(point=point):
                gui.rightClick(*self._screen(point), _pause=False)
            case MiddleClick(point=point):
                gui.middleClick(*self._screen(point), _pause=False)
            case Hover(point=point):
                gui.moveTo(*self._screen(point), _pause=False)
            case Drag(start=start, end=end):
                self._drag(self._screen(start), self._screen(end))
            case Type(text=text, submit=submit):
                untypable = "".join(sorted(set(text) - TYPABLE))
                if untypable:
                    return f"type: the desktop can type printable ASCII only, not {untypable!r}; nothing was typed"
                self._type(text, submit)
            case Hotkey(keys=keys):
                try:
                    names = canonical_keys(keys)
                except ValueError as exc:
                    return f"hotkey: {exc}"
                gui.hotkey(*names, _pause=False)
            case Scroll(direction=direction, point=point, amount=amount):
                if direction not in ("up", "down", "left", "right"):
                    return f"scroll: direction must be one of down, left, right, up, got {direction!r}"
                if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
                    return f"scroll: amount must be a positive whole number of notches, got {amount!r}"
                self._scroll(direction, self._screen(point) if point is not None else None, amount)
            case Wait(seconds=seconds):
                self._wait(min(max(seconds, 0.0), self.config.max_wait))
            case _:
                return unsupported(action, self.name)
        return None

    # -- long actions, in chunks between polls of should_stop ------------------------------------------------------
    def _scroll(self, direction: str, at: tuple[int, int] | None, amount: int) -> None:
        gui, sign = self._gui, 1 if direction in ("up", "right") else -1
        scroll = gui.scroll if direction in ("up", "down") else gui.hscroll
        x, y = at if at is not None else (None, None)
        done = 0
        while done < amount:
            if self._stop_now():
                self._cut_short = f"scroll: {done} of {amount} notches, then the run was asked to stop"
                return
            chunk = min(SCROLL_CHUNK, amount - done)
            scroll(sign * chunk, x=x, y=y, _pause=False)
            done += chunk

    def _type(self, text: str, submit: bool) -> None:
        for start in range(0, len(text), TYPE_CHUNK):
            if self._stop_now():
                self._cut_short = f"type: {start} of {len(text)} characters, then the run was asked to stop; Enter " \
                                  "was not pressed"
                return
            self._gui.write(text[start : start + TYPE_CHUNK], _pause=False)
        if submit:
            self._gui.press("enter", _pause=False)

    def _drag(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Press at ``start``, move to ``end`` over ``drag_duration`` in segments, release where the pointer is."""
        gui = self._gui
        gui.moveTo(*start, _pause=False)
        gui.mouseDown(button="left", _pause=False)
        try:
            segments = max(1, math.ceil(self.config.drag_duration / STEP_SECONDS))
            for index in range(1, segments + 1):
                if self._stop_now():
                    self._cut_short = f"drag: {index - 1} of {segments} segments, then the run was asked to stop; " \
                                      "the button was released there"
                    break
                x = round(start[0] + (end[0] - start[0]) * index / segments)
                y = round(start[1] + (end[1] - start[1]) * index / segments)
                gui.moveTo(x, y, duration=self.config.drag_duration / segments, _pause=False)
        finally:
            try:
                gui.mouseUp(button="left", _pause=False)
            except gui.FailSafeException:  # still release the button, then report the fail-safe
                x, y = gui.position()
                gui.platformModule._mouseUp(x, y, "left")
                raise

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop_now():
                self._cut_short = f"wait: {seconds - left:.1f} of {seconds:g} s, then the run was asked to stop"
                return
            time.sleep(min(STEP_SECONDS, left))

    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        shot = self._shooter.grab(self._monitor)
        image = Image.frombytes("RGB", shot.size, shot.rgb)
        size = screenshot_size(shot.size, self.config.scale, self.config.max_size)
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        info: dict[str, Any] = {"monitor": dict(self._monitor)}
        if self._cut_short is not None:  # set by the action this observation follows
            info["cut_short"], self._cut_short = self._cut_short, None
        window = self._window_title()
        if window:
            info["window"] = window
        return image, info

    def _window_title(self) -> str | None:
        """Title of the focused top-level window, or of the one under the pointer when focus follows the pointer."""
        assert self._xdisplay is not None
        root = self._xdisplay.screen().root
        try:
            window = self._xdisplay.get_input_focus().focus
            # X.NONE or X.PointerRoot (ints), or the root itself (the focused window closed and focus reverted to
            # its parent): no window holds the focus, so the one under the pointer is the one acted on
            if isinstance(window, int) or window.id == root.id:
                window = root.query_pointer().child
            net_wm_name = self._xdisplay.get_atom("_NET_WM_NAME")
            utf8 = self._xdisplay.get_atom("UTF8_STRING")
            while window and window.id != root.id:
                name = window.get_full_text_property(net_wm_name, utf8) or window.get_wm_name()
                if name:
                    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
                window = window.query_tree().parent
        except XError:  # the window closed while we looked
            return None
        return None
