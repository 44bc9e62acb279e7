"""BrowserEnv against pages served on 127.0.0.1: every action changes the page as expected, read back from the DOM."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from environments.actions import (
    Click,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    Hover,
    LongPress,
    MiddleClick,
    OpenApp,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)
from environments.browser import BrowserConfig, BrowserEnv, origin
from environments.errors import BrowserNotFoundError, DisplayNotFoundError, OriginNotAllowedError, UnreachableURLError
from tests.pages import serve_html, serve_pages

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)

# Every mouse, key and form event is recorded in window.events with its CSS client coordinates.
PAGE = """<!doctype html>
<html><head><title>test page</title><style>
  body { margin: 0; width: 3000px; height: 3000px; background: #fff; }
  div, form, a, button { position: absolute; }
</style></head><body>
  <div id="target" style="left: 20px; top: 20px; width: 200px; height: 100px; background: #eee"></div>
  <div id="red" style="left: 300px; top: 20px; width: 40px; height: 40px; background: rgb(255, 0, 0)"></div>
  <div id="blue" style="left: 340px; top: 20px; width: 40px; height: 40px; background: rgb(0, 0, 255)"></div>
  <div id="pad" style="left: 20px; top: 150px; width: 300px; height: 100px; background: #ddd"></div>
  <form id="form" style="left: 20px; top: 300px"><input id="text" style="width: 200px; height: 30px"></form>
  <a id="next" href="next.html" style="left: 20px; top: 360px">next</a>
  <a id="popup" href="next.html" target="_blank" style="left: 120px; top: 360px">popup</a>
  <a id="away" href="AWAY" style="left: 220px; top: 360px">away</a>
  <a id="redirect" href="/redirect" style="left: 320px; top: 360px">redirect</a>
  <button id="alert" onclick="alert('hello')" style="left: 20px; top: 400px">alert</button>
<script>
  window.events = [];
  for (const type of ["click", "dblclick", "contextmenu", "auxclick", "mousedown", "mouseup", "mousemove"]) {
    document.addEventListener(type, e => window.events.push(
      {type, x: e.clientX, y: e.clientY, button: e.button, buttons: e.buttons, detail: e.detail, target: e.target.id}));
  }
  document.addEventListener("contextmenu", e => e.preventDefault());
  document.addEventListener("keydown", e => window.events.push(
    {type: "keydown", key: e.key, ctrl: e.ctrlKey, shift: e.shiftKey, alt: e.altKey, meta: e.metaKey}));
  document.getElementById("form").addEventListener("submit", e => {
    e.preventDefault();
    window.events.push({type: "submit", value: document.getElementById("text").value});
  });
</script></body></html>
"""
NEXT = "<!doctype html><title>next</title><p>the next page</p>"
AWAY = "<!doctype html><title>away</title><p>another origin</p>"


@pytest.fixture(scope="module")
def away_url() -> Iterator[str]:
    with serve_html(AWAY) as url:
        yield url


@pytest.fixture(scope="module")
def page_url(away_url: str) -> Iterator[str]:
    pages = {"index.html": PAGE.replace("AWAY", away_url), "next.html": NEXT}
    with serve_pages(pages, redirects={"/redirect": away_url}) as base:
        yield base + "index.html"


@pytest.fixture(scope="module")
def browser(page_url: str) -> Iterator[BrowserEnv]:
    with BrowserEnv(BrowserConfig(page_url, viewport=(800, 600))) as env:
        yield env


@pytest.fixture
def env(browser: BrowserEnv) -> BrowserEnv:
    """The module's browser, reset to a fresh context on the test page."""
    observation = browser.reset("test")
    assert observation.info["title"] == "test page"
    return browser


def events(env: BrowserEnv, *types: str) -> list[dict[str, Any]]:
    return [event for event in env.page.evaluate("window.events") if not types or event["type"] in types]


def test_reset_observes_the_start_page(browser: BrowserEnv, page_url: str) -> None:
    observation = browser.reset("find the button")
    assert observation.size == (800, 600)
    assert observation.info["url"] == page_url
    assert observation.info["task"] == "find the button"
    assert observation.info["tabs"] == 1 and observation.info["blocked"] == [] and observation.error is None


def test_screenshot_is_the_viewports_pixels(env: BrowserEnv) -> None:
    screenshot = env.step(Wait(0.0)).screenshot
    assert screenshot.size == (800, 600)
    assert screenshot.getpixel((320, 40)) == RED  # inside #red (CSS x 300..340, y 20..60)
    assert screenshot.getpixel((339, 59)) == RED
    assert screenshot.getpixel((340, 20)) == BLUE  # the first pixel of #blue
    assert screenshot.getpixel((700, 550)) == WHITE


def test_click_lands_on_the_chosen_pixel(env: BrowserEnv) -> None:
    observation = env.step(Click((50, 60)))
    assert observation.error is None
    assert events(env, "click") == [
        {"type": "click", "x": 50, "y": 60, "button": 0, "buttons": 0, "detail": 1, "target": "target"}
    ]


def test_double_triple_right_and_middle_clicks(env: BrowserEnv) -> None:
    env.step(DoubleClick((40, 40)))
    assert [(e["x"], e["y"]) for e in events(env, "dblclick")] == [(40, 40)]
    env.step(TripleClick((41, 41)))
    assert max(e["detail"] for e in events(env, "mousedown") if e["x"] == 41) == 3
    env.step(RightClick((42, 42)))
    assert [(e["x"], e["y"], e["button"]) for e in events(env, "contextmenu")] == [(42, 42, 2)]
    env.step(MiddleClick((43, 43)))
    assert [(e["x"], e["y"], e["button"]) for e in events(env, "auxclick") if e["button"] == 1] == [(43, 43, 1)]


def test_hover_moves_without_pressing(env: BrowserEnv) -> None:
    env.step(Hover((150, 80)))
    last = events(env, "mousemove")[-1]
    assert (last["x"], last["y"], last["target"]) == (150, 80, "target")
    assert events(env, "mousedown", "click") == []


def test_drag_presses_moves_and_releases(env: BrowserEnv) -> None:
    env.step(Drag((30, 170), (250, 220)))
    down, up = events(env, "mousedown"), events(env, "mouseup")
    assert [(e["x"], e["y"], e["target"]) for e in down] == [(30, 170, "pad")]
    assert [(e["x"], e["y"]) for e in up] == [(250, 220)]
    held = [e for e in events(env, "mousemove") if e["buttons"] == 1]
    assert len(held) >= 2 and held[-1]["x"] == 250 and held[-1]["y"] == 220
    assert all(30 <= e["x"] <= 250 for e in held)


def test_type_and_submit(env: BrowserEnv) -> None:
    env.step(Click((100, 315)))
    observation = env.step(Type("hello world", submit=True))
    assert observation.error is None
    assert events(env, "submit") == [{"type": "submit", "value": "hello world"}]


def test_hotkey_presses_keys_together(env: BrowserEnv) -> None:
    env.step(Click((100, 315)))
    env.step(Type("abc"))
    assert env.step(Hotkey(("ctrl", "a"))).error is None  # select all, then typing replaces it
    env.step(Type("x"))
    assert env.page.input_value("#text") == "x"
    assert {"type": "keydown", "key": "a", "ctrl": True, "shift": False, "alt": False, "meta": False} in events(env)
    env.step(Hotkey(("Control", "shift", "ArrowLeft")))  # aliases and case are accepted
    last = events(env, "keydown")[-1]
    assert (last["key"], last["ctrl"], last["shift"]) == ("ArrowLeft", True, True)


def test_unknown_key_is_reported_not_pressed(env: BrowserEnv) -> None:
    observation = env.step(Hotkey(("ctrl", "hyper")))
    assert "unknown key name 'hyper'" in observation.error
    assert "unknown key name 'é'; use an ASCII character" in env.step(Hotkey(("ctrl", "é"))).error
    assert events(env, "keydown") == []


def test_scroll_moves_the_page_in_each_direction(env: BrowserEnv) -> None:
    def position() -> list[int]:
        return env.page.evaluate("[window.scrollX, window.scrollY]")

    env.step(Scroll("down", (400, 300), amount=3))
    assert position() == [0, 300]
    env.step(Scroll("up", None, amount=1))
    assert position() == [0, 200]
    env.step(Scroll("right", (400, 300), amount=2))
    assert position() == [200, 200]
    env.step(Scroll("left", (400, 300), amount=5))
    assert position() == [0, 200]
    assert "direction must be one of" in env.step(Scroll("sideways", (400, 300))).error  # type: ignore[arg-type]


def test_point_outside_the_screenshot_is_reported_not_clicked(env: BrowserEnv) -> None:
    observation = env.step(Click((800, 10)))
    assert (
        observation.error == "click: point (800, 10) is outside the 800x600 screenshot; x must be in [0, 799] and y in [0, 599]"
    )
    assert "outside" in env.step(Drag((10, 10), (10, -1))).error
    assert events(env, "mousedown") == []


def test_mobile_actions_are_reported_as_unsupported(env: BrowserEnv, page_url: str) -> None:
    for action in (LongPress((10, 10)), OpenApp("Settings"), PressHome()):
        observation = env.step(action)
        assert observation.error == f"{action.kind} is not supported by the browser environment; nothing was done"
        assert observation.info["url"] == page_url
    assert events(env, "mousedown") == []


def test_press_back_goes_back_in_history(env: BrowserEnv, page_url: str) -> None:
    assert "no previous page" in env.step(PressBack()).error
    observation = env.step(Click((25, 365)))  # the "next" link
    assert observation.info["url"].endswith("/next.html") and observation.info["title"] == "next"
    observation = env.step(PressBack())
    assert observation.error is None and observation.info["url"] == page_url


def test_a_new_tab_becomes_the_observed_page(env: BrowserEnv) -> None:
    observation = env.step(Click((130, 365)))  # the target=_blank link
    assert observation.info["tabs"] == 2 and observation.info["title"] == "next"
    assert env.page.url.endswith("/next.html")


def test_dialogs_are_dismissed_and_reported(env: BrowserEnv) -> None:
    observation = env.step(Click((30, 410)))
    assert observation.info["dialogs"] == ["alert: hello"]
    assert env.step(Wait(0.0)).info["dialogs"] == []


def test_wait_finished_and_call_user_change_nothing(env: BrowserEnv) -> None:
    started = time.monotonic()
    assert env.step(Wait(0.3)).error is None
    assert time.monotonic() - started >= 0.3
    assert env.step(Finished("done")).error is None
    assert events(env) == []


def test_wait_is_capped(page_url: str) -> None:
    with BrowserEnv(BrowserConfig(page_url, viewport=(200, 100), max_wait=0.1)) as env:
        env.reset()
        started = time.monotonic()
        env.step(Wait(60.0))
        assert time.monotonic() - started < 10


def test_device_scale_factor_doubles_the_screenshot_and_halves_coordinates(page_url: str) -> None:
    with BrowserEnv(BrowserConfig(page_url, viewport=(400, 300), device_scale_factor=2.0)) as env:
        observation = env.reset()
        assert observation.size == (800, 600)
        assert observation.screenshot.getpixel((2 * 320, 2 * 40)) == RED
        assert observation.screenshot.getpixel((2 * 340, 2 * 20)) == BLUE
        env.step(Click((2 * 50, 2 * 60)))
        assert [(e["x"], e["y"]) for e in events(env, "click")] == [(50, 60)]  # type: ignore[arg-type]
        assert "outside the 800x600 screenshot" in env.step(Click((800, 0))).error


def test_allowlist_blocks_and_reports_other_origins(page_url: str, away_url: str) -> None:
    # Without an allowlist the link leaves the origin, so the blocked case below is a real refusal.
    with BrowserEnv(BrowserConfig(page_url, viewport=(800, 600))) as env:
        env.reset()
        assert env.step(Click((225, 365))).info["url"] == away_url
        env.step(PressBack())
        assert env.step(Click((330, 365))).info["url"] == away_url  # the server redirects /redirect there
    with BrowserEnv(BrowserConfig(page_url, viewport=(800, 600), allowed_origins=(origin(page_url),))) as env:
        env.reset()
        observation = env.step(Click((225, 365)))
        assert observation.info["blocked"] == [{"url": away_url, "kind": "page", "method": "GET"}]
        assert observation.info["url"] == page_url
        observation = env.step(Click((330, 365)))  # the redirect hop is refused before it is sent: the tab stays
        redirect = page_url.replace("index.html", "redirect")
        assert observation.info["blocked"] == [{"url": away_url, "kind": "page", "method": "GET", "redirected_from": redirect}]
        assert observation.info["url"] == page_url and observation.info["title"] == "test page"
        assert env.step(Click((25, 365))).info["url"].endswith("/next.html")  # the same origin is allowed
        with pytest.raises(OriginNotAllowedError, match="not in allowed_origins"):
            env.reset(options={"url": away_url})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_url_raises_with_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    with BrowserEnv(BrowserConfig(url)) as env, pytest.raises(UnreachableURLError, match=url.replace(".", r"\.")) as caught:
        env.reset()
    assert caught.value.url == url and "ERR_CONNECTION_REFUSED" in caught.value.reason


def test_missing_page_raises(page_url: str) -> None:
    url = page_url.replace("index.html", "missing.html")
    with BrowserEnv(BrowserConfig(url)) as env, pytest.raises(UnreachableURLError, match="HTTP 404"):
        env.reset()


def test_missing_browser_says_how_to_install_one(page_url: str) -> None:
    with pytest.raises(BrowserNotFoundError, match="apt-get install -y chromium"):
        BrowserEnv(BrowserConfig(page_url, executable_path="/nonexistent/chromium")).reset()


def test_headed_browser_runs_on_an_x_display(xvfb: str, page_url: str) -> None:
    with BrowserEnv(BrowserConfig(page_url, viewport=(400, 300), headless=False)) as env:
        observation = env.reset()
        assert observation.size == (400, 300) and observation.screenshot.getpixel((320, 40)) == RED


def test_headed_browser_without_display_says_how_to_get_one(page_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(DisplayNotFoundError, match="start Xvfb"):
        BrowserEnv(BrowserConfig(page_url, headless=False)).reset()


def test_bad_calls_raise(page_url: str, browser: BrowserEnv) -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        BrowserEnv(BrowserConfig(page_url)).step(Wait(0.0))
    browser.reset()
    with pytest.raises(TypeError, match=r"takes an environments\.actions\.Action"):
        browser.step({"type": "click", "point": [1, 2]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['seed'\]"):
        browser.reset(options={"seed": 1})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_url": "example.com"}, "absolute URL"),
        ({"start_url": "http://a.test/", "viewport": (0, 600)}, "viewport"),
        ({"start_url": "http://a.test/", "device_scale_factor": 0}, "device_scale_factor"),
        ({"start_url": "http://a.test/", "allowed_origins": "http://a.test"}, "sequence of origins"),
        ({"start_url": "http://a.test/", "allowed_origins": ("http://a.test/path",)}, "origins like"),
        ({"start_url": "http://a.test/", "allowed_origins": ("http://b.test",)}, "not in allowed_origins"),
        ({"start_url": "http://a.test/", "settle": -1}, "settle"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BrowserConfig(**kwargs)


def test_origin_normalises_urls() -> None:
    assert origin("HTTP://Example.COM:80/a?b#c") == "http://example.com"
    assert origin("https://example.com:8443/") == "https://example.com:8443"
    assert origin("http://[::1]:8000/x") == "http://[::1]:8000"
    config = BrowserConfig("http://a.test:8000/start", allowed_origins=["HTTP://A.test:8000/"])  # type: ignore[arg-type]
    assert config.allowed_origins == ("http://a.test:8000",)
