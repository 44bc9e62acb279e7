"""DesktopEnv on a real X server (Xvfb, 800x600) with a real Tk window: the capture shows it, input reaches it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from environments.actions import (
    Click,
    DoubleClick,
    Drag,
    Hotkey,
    LongPress,
    MiddleClick,
    PressBack,
    RightClick,
    Scroll,
    Type,
    Wait,
)
from environments.desktop import TYPE_CHUNK, DesktopConfig, DesktopEnv, safe_point, screenshot_size, to_screen
from environments.errors import DisplayNotFoundError, FailSafeError
from tests.pointer import move_pointer, pointer_position

if TYPE_CHECKING:
    from tests.environments.conftest import TkApp

GREEN = (0, 255, 0)
# Screen pixels of the Tk app's widgets (tk_app.py): the canvas spans x 100..300, y 100..200; the entry y 250..280.
CANVAS_POINT = (150, 120)
ENTRY_POINT = (200, 265)


@pytest.fixture
def desktop(xvfb: str) -> Iterator[DesktopEnv]:
    with DesktopEnv(DesktopConfig(pause=0.05)) as env:
        yield env


def test_capture_shows_the_window(desktop: DesktopEnv, tk_app: TkApp) -> None:
    observation = desktop.reset("look")
    assert observation.size == (800, 600)
    assert observation.info["monitor"] == {"left": 0, "top": 0, "width": 800, "height": 600}
    assert observation.info["task"] == "look"
    screenshot = observation.screenshot
    assert screenshot.getpixel((100, 100)) == GREEN and screenshot.getpixel((299, 199)) == GREEN
    assert screenshot.getpixel((99, 150)) != GREEN and screenshot.getpixel((300, 150)) != GREEN
    assert screenshot.getpixel((200, 99)) != GREEN and screenshot.getpixel((200, 200)) != GREEN


def test_click_reaches_the_chosen_pixel(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    observation = desktop.step(Click(CANVAS_POINT))
    assert observation.error is None
    events = tk_app.wait_for(lambda events: any(e["type"] == "release" for e in events))
    assert [(e["type"], e["x"], e["y"]) for e in events if e["type"] in ("press", "release")] == [
        ("press", *CANVAS_POINT),
        ("release", *CANVAS_POINT),
    ]
    assert observation.info["window"] == "guikv tk test"  # the pointer is over the Tk window


def test_double_right_and_middle_clicks(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(DoubleClick((160, 130)))
    desktop.step(RightClick((170, 140)))
    desktop.step(MiddleClick((180, 150)))
    events = tk_app.wait_for(lambda events: any(e["type"] == "middle" for e in events))
    assert [(e["x"], e["y"]) for e in events if e["type"] == "double"] == [(160, 130)]
    assert [(e["x"], e["y"]) for e in events if e["type"] == "right"] == [(170, 140)]
    assert [(e["x"], e["y"]) for e in events if e["type"] == "middle"] == [(180, 150)]


def test_click_then_type_fills_the_entry(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(Click(ENTRY_POINT))
    assert desktop.step(Type("Hello, world!", submit=True)).error is None
    events = tk_app.wait_for(lambda events: any(e["type"] == "submit" for e in events))
    assert [e["text"] for e in events if e["type"] == "submit"] == ["Hello, world!"]


def test_hotkey_presses_keys_together(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(Click(ENTRY_POINT))
    assert desktop.step(Hotkey(("Control", "k"))).error is None
    tk_app.wait_for(lambda events: any(e["type"] == "hotkey" for e in events))
    assert "unknown key name 'hyper'" in desktop.step(Hotkey(("hyper",))).error
    assert "unknown key name 'é'" in desktop.step(Hotkey(("ctrl", "é"))).error


def test_drag_presses_at_start_and_releases_at_end(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    assert desktop.step(Drag((120, 110), (280, 190))).error is None
    events = tk_app.wait_for(lambda events: any(e["type"] == "release" for e in events))
    assert [(e["type"], e["x"], e["y"]) for e in events if e["type"] in ("press", "release")] == [
        ("press", 120, 110),
        ("release", 280, 190),
    ]


def test_scroll_turns_the_wheel_at_the_point(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(Scroll("down", CANVAS_POINT, amount=3))
    desktop.step(Scroll("up", CANVAS_POINT, amount=2))
    events = tk_app.wait_for(lambda events: sum(e["type"] == "wheel_up" for e in events) == 2)
    assert [(e["type"], e["x"], e["y"]) for e in events if e["type"].startswith("wheel")] == [
        ("wheel_down", *CANVAS_POINT)
    ] * 3 + [("wheel_up", *CANVAS_POINT)] * 2
    assert "direction must be one of" in desktop.step(Scroll("sideways", CANVAS_POINT)).error  # type: ignore[arg-type]


def test_model_mistakes_are_reported_not_executed(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(Click(ENTRY_POINT))
    assert "outside the 800x600 screenshot" in desktop.step(Click((CANVAS_POINT[0], 600))).error
    assert "printable ASCII only, not 'é'" in desktop.step(Type("café")).error
    for action in (LongPress(CANVAS_POINT), PressBack()):
        assert desktop.step(action).error == f"{action.kind} is not supported by the desktop environment; nothing was done"
    desktop.step(Type("ok"))
    desktop.step(Wait(0.0))
    events = tk_app.wait_for(lambda events: any(e.get("text") == "ok" for e in events))
    assert all(e["type"] not in ("press", "right") or (e["x"], e["y"]) == ENTRY_POINT for e in events)
    assert all(e.get("text", "ok") in ("o", "ok") for e in events)


def test_scale_maps_screenshot_pixels_to_screen_pixels(xvfb: str, tk_app: TkApp) -> None:
    with DesktopEnv(DesktopConfig(scale=0.5, pause=0.05)) as env:
        observation = env.reset()
        assert observation.size == (400, 300)
        assert observation.screenshot.getpixel((75, 60)) == GREEN  # screen (150, 120)
        env.step(Click((75, 60)))  # the centre of screenshot pixel (75, 60) is screen pixel (151, 121)
        events = tk_app.wait_for(lambda events: any(e["type"] == "press" for e in events))
        assert [(e["x"], e["y"]) for e in events if e["type"] == "press"] == [(151, 121)]
    with DesktopEnv(DesktopConfig(max_size=200)) as env:
        assert env.reset().size == (200, 150)


def test_mapping_adds_the_monitor_offset() -> None:
    right_monitor = {"left": 1920, "top": 100, "width": 2560, "height": 1440}
    assert to_screen((0, 0), (1280, 720), right_monitor) == (1921, 101)
    assert to_screen((640, 360), (1280, 720), right_monitor) == (1920 + 1281, 100 + 721)
    assert to_screen((1279, 719), (1280, 720), right_monitor) == (1920 + 2559, 100 + 1439)
    assert to_screen((5, 7), (2560, 1440), right_monitor) == (1925, 107)
    left_monitor = {"left": -1024, "top": 0, "width": 1024, "height": 768}
    assert to_screen((10, 20), (1024, 768), left_monitor) == (-1014, 20)


def test_screenshot_size() -> None:
    assert screenshot_size((1920, 1080)) == (1920, 1080)
    assert screenshot_size((3840, 2160), scale=0.5) == (1920, 1080)
    assert screenshot_size((3840, 2160), max_size=1280) == (1280, 720)
    assert screenshot_size((3840, 2160), scale=0.25, max_size=1280) == (960, 540)


def test_no_display_says_how_to_start_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(DisplayNotFoundError, match=r"DISPLAY is not set; .*Xvfb :99"):
        DesktopEnv().reset()
    unused = next(n for n in range(4242, 5000) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    monkeypatch.setenv("DISPLAY", f":{unused}")
    with pytest.raises(DisplayNotFoundError, match=f"cannot open X display ':{unused}'"):
        DesktopEnv().reset()


def test_bad_monitor_and_options(xvfb: str) -> None:
    with pytest.raises(ValueError, match=r"monitor 3 does not exist on display .* it has monitors 1\.\.1"):
        DesktopEnv(DesktopConfig(monitor=3)).reset()
    with DesktopEnv() as env, pytest.raises(ValueError, match=r"unknown reset option\(s\) \['url'\]"):
        env.reset(options={"url": "http://x"})
    assert os.environ["DISPLAY"] == xvfb


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"monitor": -1}, "monitor"), ({"scale": 0}, "scale"), ({"max_size": 0}, "max_size"), ({"pause": -1}, "pause")],
)
def test_config_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DesktopConfig(**kwargs)


# -- the fail-safe corners, and long actions that a stop cuts short ---------------------------------------------------
@pytest.mark.parametrize(
    ("point", "expected"),
    [((0, 0), (1, 1)), ((799, 0), (798, 1)), ((0, 599), (1, 598)), ((799, 599), (798, 598)), ((-5, -9), (1, 1)),
     ((900, 700), (798, 598)), ((0, 300), (0, 300)), ((400, 0), (400, 0)), ((1, 0), (1, 0))],
)
def test_safe_points_keep_off_the_corners(point, expected) -> None:
    assert safe_point(point, (800, 600)) == expected


def test_clicks_at_the_corners_run_next_to_them_and_the_run_goes_on(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    for corner, near in (((0, 0), (1, 1)), ((799, 0), (798, 1)), ((0, 599), (1, 598)), ((799, 599), (798, 598))):
        assert desktop.step(Click(corner)).error is None
        assert pointer_position() == near
    assert desktop.step(Click(CANVAS_POINT)).error is None  # no fail-safe: the pointer never sat on a corner
    tk_app.wait_for(lambda events: any(e["type"] == "release" for e in events))


def test_the_fail_safe_corner_is_a_fail_safe_error(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    move_pointer(0, 0)  # a person pushes the mouse into the corner
    with pytest.raises(FailSafeError, match="corner of the screen"):
        desktop.step(Click(CANVAS_POINT))
    assert not any(e["type"] == "press" for e in tk_app.events())  # the click never happened
    move_pointer(400, 300)
    assert desktop.step(Click(CANVAS_POINT)).error is None  # the environment is usable again


class StopAfter:
    """``should_stop`` that says stop from its ``calls``-th poll on (counts polls, not seconds)."""

    def __init__(self, calls: int) -> None:
        self.calls, self.polls = calls, 0

    def __call__(self) -> bool:
        self.polls += 1
        return self.polls > self.calls


def test_a_huge_scroll_stops_within_a_second_of_the_request(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    asked = time.monotonic() + 0.5
    desktop.should_stop = lambda: time.monotonic() >= asked
    observation = desktop.step(Scroll("down", CANVAS_POINT, amount=1_000_000_000))
    assert time.monotonic() < asked + 1.0
    assert observation.error is None and "of 1000000000 notches" in observation.info["cut_short"]
    tk_app.wait_for(lambda events: any(e["type"] == "wheel_down" for e in events))


def test_long_typing_stops_between_chunks_and_never_presses_enter(desktop: DesktopEnv, tk_app: TkApp) -> None:
    desktop.reset()
    desktop.step(Click(ENTRY_POINT))
    desktop.should_stop = StopAfter(1)
    text = "abcdefghijklmnopqrstuvwxyz" * 4
    observation = desktop.step(Type(text, submit=True))
    assert f"{TYPE_CHUNK} of {len(text)} characters" in observation.info["cut_short"]
    events = tk_app.wait_for(lambda events: any(e.get("text") == text[:TYPE_CHUNK] for e in events))
    assert not any(e["type"] == "submit" for e in events)
    desktop.should_stop = None
    assert "cut_short" not in desktop.step(Type("x")).info


def test_a_stopped_drag_releases_the_button_where_it_stopped(xvfb: str, tk_app: TkApp) -> None:
    with DesktopEnv(DesktopConfig(pause=0.0, drag_duration=1.0)) as env:
        env.reset()
        env.should_stop = StopAfter(3)
        observation = env.step(Drag((110, 110), (290, 190)))
        assert "3 of 10 segments" in observation.info["cut_short"]
        events = tk_app.wait_for(lambda events: any(e["type"] == "release" for e in events))
        (press,) = [(e["x"], e["y"]) for e in events if e["type"] == "press"]
        (release,) = [(e["x"], e["y"]) for e in events if e["type"] == "release"]
        assert press == (110, 110) and 110 < release[0] < 290 and 110 < release[1] < 190


def test_a_long_wait_stops_when_asked(desktop: DesktopEnv) -> None:
    desktop.reset()
    desktop.should_stop = StopAfter(2)
    observation = desktop.step(Wait(10.0))
    assert "of 10 s" in observation.info["cut_short"]


def test_a_replayed_scroll_with_a_bad_amount_is_refused(desktop: DesktopEnv) -> None:
    desktop.reset()
    assert "positive whole number" in desktop.step(Scroll("down", None, amount=0)).error


@pytest.mark.parametrize(("kwargs", "message"), [({"pause": "abc"}, "pause must be a number"),
                                                 ({"scale": float("nan")}, "scale must be a number"),
                                                 ({"max_size": 1.5}, "max_size must be a whole number")])
def test_config_rejects_values_of_the_wrong_type(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DesktopConfig(**kwargs)
