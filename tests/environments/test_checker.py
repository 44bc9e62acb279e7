"""check_env over every registered environment (a real browser on a local page, a real desktop under Xvfb)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from environments import Env, Observation, check_env, make, registered
from environments.actions import Action
from tests.pages import serve_html


@pytest.fixture(scope="module")
def local_page() -> Iterator[str]:
    with serve_html("<!doctype html><title>check</title><p>check_env</p>") as url:
        yield url


@pytest.fixture
def browser_config(local_page: str) -> dict[str, Any]:
    return {"start_url": local_page, "viewport": (640, 480)}


@pytest.fixture
def desktop_config(xvfb: str) -> dict[str, Any]:
    return {"scale": 0.5}


# How each registered environment is configured here; a newly registered one fails until it gets an entry.
CONFIG_FIXTURES = {"browser": "browser_config", "desktop": "desktop_config"}


@pytest.mark.parametrize("name", registered())
def test_check_env_passes_for_every_registered_environment(name: str, request: pytest.FixtureRequest) -> None:
    if name not in CONFIG_FIXTURES:
        pytest.fail(f"environment {name!r} is registered but has no entry in CONFIG_FIXTURES of {__file__}")
    check_env(make(name, **request.getfixturevalue(CONFIG_FIXTURES[name])))


class _Canvas(Env):
    """An in-memory environment to prove that check_env catches contract violations."""

    def __init__(self, raise_off_screen: bool = False, grow: bool = False, fragile_close: bool = False) -> None:
        self.raise_off_screen, self.grow, self.fragile_close = raise_off_screen, grow, fragile_close
        self.width, self.closed = 64, False

    def reset(self, task: str | None = None, *, options: dict[str, Any] | None = None) -> Observation:
        return self._observe(task=task)

    def step(self, action: Action) -> Observation:
        if self.raise_off_screen and any(x >= self.width for x, _ in action.points):
            raise IndexError("off screen")
        return super().step(action)

    def close(self) -> None:
        if self.closed and self.fragile_close:
            raise RuntimeError("closed twice")
        self.closed = True

    def _execute(self, action: Action) -> str | None:
        self.width += 8 if self.grow else 0
        return None

    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        return Image.new("RGB", (self.width, 48)), {}


def test_check_env_accepts_a_conforming_environment() -> None:
    env = _Canvas()
    check_env(env)
    assert env.closed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"raise_off_screen": True}, "off screen"),
        ({"grow": True}, "changed the screenshot size"),
        ({"fragile_close": True}, "closed twice"),
    ],
)
def test_check_env_catches_contract_violations(kwargs: dict[str, bool], message: str) -> None:
    with pytest.raises((AssertionError, IndexError, RuntimeError), match=message):
        check_env(_Canvas(**kwargs))
