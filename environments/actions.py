"""Typed GUI actions, independent of any model's text format.

Coordinates are integer pixels on the observation's screenshot (the image the environment returned); each environment
maps them to its own device space (CSS pixels, a monitor's screen pixels). Model adapters translate text <-> actions.
Every action serialises to a dict with a ``type`` tag, the format of run records, replays and eval rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal

Point = tuple[int, int]
Direction = Literal["up", "down", "left", "right"]


@dataclass(frozen=True)
class Action:
    """Base of all actions; ``kind`` is the serialised ``type`` tag."""

    kind: ClassVar[str] = "action"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return {"type": self.kind, **data}

    @property
    def points(self) -> tuple[Point, ...]:
        """Every screen point the action touches (for drawing and bounds checks)."""
        values = (getattr(self, f.name) for f in fields(self) if f.name in ("point", "start", "end"))
        return tuple(value for value in values if value is not None)


@dataclass(frozen=True)
class Click(Action):
    kind: ClassVar[str] = "click"
    point: Point


@dataclass(frozen=True)
class DoubleClick(Action):
    kind: ClassVar[str] = "double_click"
    point: Point


@dataclass(frozen=True)
class TripleClick(Action):
    kind: ClassVar[str] = "triple_click"
    point: Point


@dataclass(frozen=True)
class RightClick(Action):
    kind: ClassVar[str] = "right_click"
    point: Point


@dataclass(frozen=True)
class MiddleClick(Action):
    kind: ClassVar[str] = "middle_click"
    point: Point


@dataclass(frozen=True)
class Hover(Action):
    kind: ClassVar[str] = "hover"
    point: Point


@dataclass(frozen=True)
class Drag(Action):
    kind: ClassVar[str] = "drag"
    start: Point
    end: Point


@dataclass(frozen=True)
class Type(Action):
    """Type ``text``; a trailing newline in the model's text becomes ``submit`` (press Enter after typing)."""

    kind: ClassVar[str] = "type"
    text: str
    submit: bool = False


@dataclass(frozen=True)
class Hotkey(Action):
    """Press keys together, e.g. ``("ctrl", "c")``; names are lowercase pyautogui-style key names."""

    kind: ClassVar[str] = "hotkey"
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Scroll(Action):
    """Scroll ``amount`` notches towards ``direction`` (the content moves to show more on that side)."""

    kind: ClassVar[str] = "scroll"
    direction: Direction
    point: Point | None = None
    amount: int = 5


@dataclass(frozen=True)
class Wait(Action):
    kind: ClassVar[str] = "wait"
    seconds: float = 5.0


@dataclass(frozen=True)
class Finished(Action):
    """The model declares the task done; ``content`` is its answer or status (e.g. ``successful``)."""

    kind: ClassVar[str] = "finished"
    content: str = ""


@dataclass(frozen=True)
class CallUser(Action):
    """The model asks for a person (task unsolvable or needs help)."""

    kind: ClassVar[str] = "call_user"
    reason: str = ""


@dataclass(frozen=True)
class LongPress(Action):
    kind: ClassVar[str] = "long_press"
    point: Point


@dataclass(frozen=True)
class OpenApp(Action):
    kind: ClassVar[str] = "open_app"
    app_name: str


@dataclass(frozen=True)
class PressHome(Action):
    kind: ClassVar[str] = "press_home"


@dataclass(frozen=True)
class PressBack(Action):
    kind: ClassVar[str] = "press_back"


ACTION_TYPES: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        Click, DoubleClick, TripleClick, RightClick, MiddleClick, Hover, Drag, Type, Hotkey, Scroll, Wait,
        Finished, CallUser, LongPress, OpenApp, PressHome, PressBack,
    )
}
TERMINAL_ACTIONS = (Finished, CallUser)


def action_from_dict(data: dict[str, Any]) -> Action:
    """Inverse of ``Action.to_dict``; raises ``ValueError`` naming the bad record."""
    if not isinstance(data, dict) or "type" not in data:
        raise ValueError(f"an action record needs a 'type' key, got {data!r}")
    cls = ACTION_TYPES.get(data["type"])
    if cls is None:
        raise ValueError(f"unknown action type {data['type']!r}; expected one of {sorted(ACTION_TYPES)}")
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        try:
            if f.name in ("point", "start", "end") and value is not None:
                if len(value) != 2:
                    raise ValueError("a point is [x, y]")
                value = (int(value[0]), int(value[1]))
            elif f.name == "keys":
                if isinstance(value, str) or not all(isinstance(key, str) for key in value):
                    raise ValueError("keys is a list of key names")
                value = tuple(value)
        except (TypeError, ValueError, OverflowError) as exc:  # a hand-written or damaged record: 1e999, "x", [1]
            raise ValueError(f"action record {data!r}: {f.name} {value!r} is not usable ({exc})") from None
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"action record {data!r} does not fit {cls.__name__}: {exc}") from exc
