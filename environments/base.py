"""The environment interface: ``reset`` -> ``Observation``, ``step(action)`` -> ``Observation``, ``close``.

In the spirit of Gymnasium's ``Env`` with what a GUI agent needs instead of rewards: an observation is the screenshot
the model sees plus an ``info`` dict of facts about the environment. Coordinates in actions are pixels of the last
screenshot; each environment maps them to its own device space.

Errors are split the way the agent loop needs them: a problem the model caused (a point outside the screenshot, an
unknown key, an action this environment cannot perform) is reported in ``info["error"]`` and nothing is executed;
a broken environment (no browser, no display, an unreachable page) raises an ``EnvError``; a wrong call raises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from PIL import Image

from environments.actions import TERMINAL_ACTIONS, Action


@dataclass(frozen=True)
class Observation:
    """What the model sees after ``reset`` or ``step``.

    screenshot: RGB image, exactly the pixels given to the model; actions address its pixels.
    size: ``(width, height)`` of ``screenshot`` (derived from it).
    info: facts about the environment (each environment documents its keys); ``"error"`` is present only when the
        action could not be executed, with a message meant for the model or the run log.
    """

    screenshot: Image.Image
    size: tuple[int, int] = field(init=False)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.screenshot, Image.Image) or self.screenshot.mode != "RGB":
            got = self.screenshot.mode if isinstance(self.screenshot, Image.Image) else type(self.screenshot).__name__
            raise ValueError(f"an Observation's screenshot must be an RGB PIL image, got {got}")
        object.__setattr__(self, "size", self.screenshot.size)

    @property
    def error(self) -> str | None:
        """Why the last action was not executed, or ``None``."""
        return self.info.get("error")


def point_error(action: Action, size: tuple[int, int]) -> str | None:
    """Message for the first point of ``action`` outside a screenshot of ``size``, else ``None``."""
    width, height = size
    for x, y in action.points:
        if not (0 <= x < width and 0 <= y < height):
            return (
                f"{action.kind}: point ({x}, {y}) is outside the {width}x{height} screenshot; "
                f"x must be in [0, {width - 1}] and y in [0, {height - 1}]"
            )
    return None


def unsupported(action: Action, env_name: str) -> str:
    """The ``info["error"]`` for an action kind that ``env_name`` cannot perform."""
    return f"{action.kind} is not supported by the {env_name} environment; nothing was done"


def check_options(options: Mapping[str, Any] | None, known: Iterable[str]) -> dict[str, Any]:
    """``options`` as a dict; ``ValueError`` naming any key not in ``known``."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; this environment accepts {sorted(known)}")
    return options


_E = TypeVar("_E", bound="Env")


class Env(ABC):
    """A screen the agent acts on.

    Subclasses implement ``reset`` (start an episode; it returns ``self._observe(...)``), ``_execute`` (perform one
    action in device space), ``_capture`` (screenshot and facts) and ``close``. ``step`` is shared: it checks the
    action, skips terminal actions, refuses points outside the last screenshot and reports what ``_execute`` could not
    do. Use as a context manager, or call ``close()`` (idempotent).
    """

    name: str = "env"
    _size: tuple[int, int] | None = None
    should_stop: Callable[[], bool] | None = None
    """Polled between the chunks of a long action (a huge scroll, a long drag, long text): when it returns True the
    action stops early and ``info["cut_short"]`` says how far it got. The runner sets it (``make(..., should_stop=)``)
    from Ctrl+C, SIGTERM and ``--max-seconds``, so a stop takes effect within a second whatever the model asked."""

    def _stop_now(self) -> bool:
        """Whether the runner asked the action in progress to stop."""
        return self.should_stop is not None and bool(self.should_stop())

    @abstractmethod
    def reset(self, task: str | None = None, *, options: Mapping[str, Any] | None = None) -> Observation:
        """Start an episode (acquiring resources on first use) and return the first observation.

        ``task`` is the instruction the agent will follow; it is echoed in ``info["task"]``.
        ``options`` are environment-specific; unknown keys raise ``ValueError``.
        """

    def step(self, action: Action) -> Observation:
        """Execute ``action`` (coordinates in pixels of the last screenshot) and observe the result."""
        if not isinstance(action, Action):
            raise TypeError(f"step() takes an environments.actions.Action, got {type(action).__name__}: {action!r}")
        if self._size is None:
            raise RuntimeError(f"{type(self).__name__}.step() before reset(): call reset() to start an episode")
        error = point_error(action, self._size)
        if error is None and not isinstance(action, TERMINAL_ACTIONS):
            error = self._execute(action)
        return self._observe(error=error)

    @abstractmethod
    def close(self) -> None:
        """Release every resource; calling it again does nothing."""

    @abstractmethod
    def _execute(self, action: Action) -> str | None:
        """Perform a non-terminal action whose points lie on the screenshot; return an error message or ``None``."""

    @abstractmethod
    def _capture(self) -> tuple[Image.Image, dict[str, Any]]:
        """The current screenshot (RGB) and the environment's facts for ``Observation.info``."""

    def _observe(self, **extra: Any) -> Observation:
        """Capture an observation; ``extra`` entries that are ``None`` are left out of ``info``."""
        screenshot, info = self._capture()
        info.update({key: value for key, value in extra.items() if value is not None})
        observation = Observation(screenshot, info)
        self._size = observation.size
        return observation

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.close()
