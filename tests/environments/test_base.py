"""The environment interface's pure parts: Observation, step's checks, key names, the registry."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from environments import BrowserEnv, DesktopEnv, Env, Observation, make, register, registered
from environments.actions import Click, Drag, Finished, Scroll, Wait
from environments.base import point_error
from environments.keys import PLAYWRIGHT_KEYS, canonical_key, canonical_keys


def test_observation_derives_size_and_requires_rgb() -> None:
    observation = Observation(Image.new("RGB", (30, 20)), {"url": "x"})
    assert observation.size == (30, 20) and observation.error is None
    assert Observation(Image.new("RGB", (1, 1)), {"error": "bad"}).error == "bad"
    with pytest.raises(ValueError, match="RGB PIL image, got RGBA"):
        Observation(Image.new("RGBA", (2, 2)))
    with pytest.raises(ValueError, match="RGB PIL image, got bytes"):
        Observation(b"png")  # type: ignore[arg-type]


def test_point_error_checks_every_point() -> None:
    assert point_error(Click((0, 0)), (10, 5)) is None
    assert point_error(Click((9, 4)), (10, 5)) is None
    assert "point (10, 4) is outside the 10x5 screenshot" in point_error(Click((10, 4)), (10, 5))
    assert "(-1, 0)" in point_error(Drag((1, 1), (-1, 0)), (10, 5))
    assert point_error(Scroll("down"), (10, 5)) is None
    assert point_error(Finished(), (10, 5)) is None


class _Recorder(Env):
    def __init__(self) -> None:
        self.executed: list[Any] = []

    def reset(self, task: str | None = None, *, options: dict[str, Any] | None = None) -> Observation:
        return self._observe(task=task)

    def close(self) -> None:
        pass

    def _execute(self, action: Any) -> str | None:
        self.executed.append(action)
        return None

    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        return Image.new("RGB", (10, 10)), {}


def test_step_skips_terminal_and_off_screen_actions() -> None:
    with _Recorder() as env:
        assert env.reset("task").info == {"task": "task"}
        assert env.step(Finished("done")).info == {}
        assert "outside" in env.step(Click((10, 0))).error
        assert env.step(Wait(0.0)).error is None
        assert env.executed == [Wait(0.0)]


def test_key_names_are_canonical() -> None:
    assert canonical_keys(("Control", "Shift", "ESC", "arrowLeft", "PgDn", "cmd", "Return", "a", "A", "+")) == (
        "ctrl", "shift", "esc", "left", "pagedown", "win", "enter", "a", "A", "+",
    )  # fmt: skip
    assert canonical_key(" ") == "space" and canonical_key("F5") == "f5"
    assert {PLAYWRIGHT_KEYS[k] for k in ("ctrl", "win", "esc", "left", "f12")} == {
        "Control",
        "Meta",
        "Escape",
        "ArrowLeft",
        "F12",
    }
    with pytest.raises(ValueError, match="unknown key name 'hyper'; use an ASCII character or a key name: alt, apps"):
        canonical_key("hyper")
    with pytest.raises(ValueError, match="unknown key name 'é'"):
        canonical_key("é")
    with pytest.raises(ValueError, match="at least one key"):
        canonical_keys(())


def test_registry_makes_environments_by_name() -> None:
    assert {"browser", "desktop"} <= set(registered())
    assert isinstance(make("browser", start_url="http://127.0.0.1:1/"), BrowserEnv)
    assert isinstance(make("desktop", scale=0.5), DesktopEnv)
    with pytest.raises(ValueError, match="unknown environment 'android'; registered: browser, desktop"):
        make("android")
    with pytest.raises(ValueError, match=r"BrowserConfig: unknown field\(s\) \['url'\], missing field\(s\) \['start_url'\]"):
        make("browser", url="http://x/")
    with pytest.raises(ValueError, match="already registered"):
        register("browser", _Recorder)
