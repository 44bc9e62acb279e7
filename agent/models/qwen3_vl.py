"""Qwen3-VL (dense and MoE: Qwen3-VL-8B/32B/30B-A3B-Instruct and GUI models on it) with its own ``computer_use`` /
``mobile_use`` tool calls.

Sources: Qwen's cookbook ``QwenLM/Qwen3-VL`` @ 9658872 (``cookbooks/utils/agent_function_call.py``,
``cookbooks/computer_use.ipynb``, ``cookbooks/mobile_agent.ipynb``) and Qwen-Agent's ``NousFnCallPrompt`` (@ 31a4d36);
the tool texts and how the system prompt is built are in ``guikv.models.qwen3_vl_tools``.

History, append-only::

    [system: "You are a helpful assistant.\\n\\n# Tools ... <tools>{computer_use}</tools> ... </tool_call>"]
    [user: the task instruction, verbatim]
    then per step: [user: screenshot] [assistant: full raw response]

The cookbook's single-step call sends one user turn ``[screenshot, instruction]`` (computer use) or ``[query,
screenshot]`` (mobile); later screenshots go in image-only user turns, as Qwen3-VL multi-step agents send them. The
``ModelAdapter`` contract gives the instruction before the first screenshot, so it is its own user turn here.

Output: free text (``Thought: ...`` / ``Action: "..."`` in the mobile notebook's verbatim answer, or a ``<think>``
block), then one or more ``<tool_call>\\n{"name": "computer_use", "arguments": {"action": ..., ...}}\\n</tool_call>``
blocks (parsed by ``guikv.models.tool_calls``: bounded, strict JSON). Arguments are checked as the cookbook's tool
checks them (``jsonschema`` types and enums, then the keys its ``call`` reads), plus bounds: points in [0, 1000],
``|pixels|`` <= ``MAX_SCROLL``, times in [0, ``MAX_SECONDS``], at most ``MAX_KEYS`` keys, ``MAX_TEXT_CHARS`` of text.
Within those bounds, scrolls and waits are then clamped to the caps every adapter shares (``MAX_SCROLL_AMOUNT``
notches, ``MAX_WAIT_SECONDS``; ``agent.models.base``), as the other adapters clamp ``scroll(10**9)``. Model values
quoted in a reason are cut short (``agent.coords.short``): the reason goes back to the model.

Coordinates are thousandths of the screenshot ("The screen's resolution is 1000x1000"): the notebook draws
``x / 1000 * resized_width`` on the smart-resized image (factor 32); scaled back to the screenshot that is
``x / 1000 * resized_width * width / resized_width = x / 1000 * width`` exactly, so the resize cancels and only
rounding to a pixel remains (``agent.coords`` ``thousandths``; tested). The processor's limits are the checkpoint's
``preprocessor_config.json`` (patch 16, merge 2, 65,536 to 16,777,216 pixels); the notebook's own ``smart_resize(...,
min_pixels=3136, max_pixels=12845056)`` only sizes its drawing.

Choices where the format leaves a gap:

* ``left_click_drag`` drags "the cursor" to ``coordinate``. Environments report no cursor, and adapters keep no state
  between steps, so the start is the last point this response put the pointer on (``mouse_move``, a click, a drag's
  end); without one the answer is a model error asking for a ``mouse_move`` first. Clicks and scrolls without a
  ``coordinate`` act at that point too (a scroll without any point scrolls where the pointer is).
* ``scroll``/``hscroll``: positive ``pixels`` scroll up / right (pyautogui's sign, which the tool description and
  Qwen3-VL agents executing ``pyautogui.scroll(pixels)`` use); ``|pixels|`` becomes the number of wheel notches
  (at most ``MAX_SCROLL_AMOUNT``).
* ``terminate`` is ``Finished(status)``; ``answer`` is ``Finished(text)``.
* ``mobile_use``: ``swipe`` is a ``Drag``, ``long_press`` a ``LongPress`` (its required time is checked, not kept),
  ``system_button`` Back/Home/Enter are ``PressBack``/``PressHome``/``Hotkey(enter)``, ``open`` is ``OpenApp``,
  ``key`` takes adb key names that are keyboard keys (or back/home); Menu and keys such as ``volume_up`` have no
  environment action and are model errors saying so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from PIL import Image

from agent.coords import QWEN3_VL_PIXEL_LIMITS, Convention, CoordinateMap, short
from agent.errors import ModelOutputError
from agent.models.base import (
    MAX_SCROLL_AMOUNT,
    MAX_WAIT_SECONDS,
    Message,
    ModelAdapter,
    ParsedOutput,
    check_step,
    check_task,
    image_item,
    normalize_key,
)
from environments.actions import (
    Action,
    Click,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    Hover,
    LongPress,
    MiddleClick,
    OpenApp,
    Point,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)
from environments.keys import canonical_key
from guikv.models.qwen3_vl_tools import DEFAULT_SYSTEM, GRID, TOOLS, render_system_prompt
from guikv.models.tool_calls import BadToolCall, check_text, parse_tool_call, split_tool_calls

MAX_TEXT_CHARS = 10_000
MAX_KEYS = 8
MAX_KEY_CHARS = 32
MAX_SCROLL = 1_000  # wheel notches
MAX_SECONDS = 600.0

Tool = Literal["computer_use", "mobile_use"]


@dataclass(frozen=True)
class Qwen3VLAdapter(ModelAdapter):
    """Qwen3-VL (``Qwen3VLForConditionalGeneration`` / ``Qwen3VLMoeForConditionalGeneration``) with its GUI tools.

    ``tool`` picks the tool the system prompt declares (``computer_use`` or ``mobile_use``); answers calling either
    tool are read. ``system_prompt`` is the text before the tools block.
    """

    name: ClassVar[str] = "qwen3_vl"
    image_factor: ClassVar[int] = QWEN3_VL_PIXEL_LIMITS.factor

    tool: Tool = "computer_use"
    max_new_tokens: int = 1000
    min_pixels: int = QWEN3_VL_PIXEL_LIMITS.min_pixels
    max_pixels: int = QWEN3_VL_PIXEL_LIMITS.max_pixels
    system_prompt: str = DEFAULT_SYSTEM

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise ValueError(f"unknown Qwen3-VL tool {self.tool!r}; expected one of {sorted(TOOLS)}")
        if not isinstance(self.system_prompt, str):
            raise ValueError(f"system_prompt must be a str, got {type(self.system_prompt).__name__}")
        self.check_common_options()

    @property
    def coordinate_convention(self) -> Convention:
        return "thousandths"

    def system_text(self) -> str:
        return render_system_prompt(self.tool, self.system_prompt)

    def system_and_task_messages(self, task: str) -> list[Message]:
        check_task(task)
        return [{"role": "system", "content": self.system_text()}, {"role": "user", "content": task}]

    def observation_message(self, screenshot: Image.Image, step: int) -> Message:
        check_step(step)
        return {"role": "user", "content": [image_item(screenshot)]}

    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        if not isinstance(text, str):
            raise TypeError(f"model output must be a str, got {type(text).__name__}")
        cmap = self.coordinate_map(screenshot_size)
        try:
            check_text(text, "the output")
            head, bodies = split_tool_calls(text)
            thought, summary = split_head(head)
            pointer = _Pointer(cmap)
            actions: list[Action] = []
            for body in bodies:
                call = parse_tool_call(body)
                handlers = ACTIONS.get(call.name)
                if handlers is None:
                    raise BadToolCall(f"unknown tool {short(call.name)}; expected one of {sorted(ACTIONS)}")
                action = call.arguments.get("action")
                if not isinstance(action, str) or action not in handlers:
                    raise BadToolCall(f"{call.name} has no action {short(action)}; expected one of {sorted(handlers)}")
                actions.append(handlers[action](_Args(call.arguments, f"{call.name} {action}"), pointer))
        except BadToolCall as exc:
            raise ModelOutputError(text, str(exc)) from None
        return ParsedOutput(thought=thought, reflection=None, actions=tuple(actions), raw=text, action_summary=summary)


def split_head(head: str) -> tuple[str, str | None]:
    """``(thought, action summary)`` of the text before the first tool call; raises ``BadToolCall``.

    ``<think>...</think>`` (thinking checkpoints) gives the thought unless a ``Thought:`` label follows;
    ``Action: "..."`` (the mobile notebook's format) gives the summary, without its quotes.
    """
    body = head.strip()
    think = ""
    if "<think>" in body or "</think>" in body:
        if "</think>" not in body:
            raise BadToolCall("the <think> block is never closed (output truncated?)")
        before, _, body = body.rpartition("</think>")
        think, body = before.split("<think>", 1)[-1].strip(), body.strip()
    summary = None
    if "Action:" in body:
        body, _, summary = body.partition("Action:")
        summary = summary.strip()
        if len(summary) >= 2 and summary[0] == summary[-1] == '"':
            summary = summary[1:-1].strip()
    thought = body.split("Thought:", 1)[1] if "Thought:" in body else body
    return thought.strip() or think, summary


# ---------------------------------------------------------------------------------------------------------------
# Arguments -> typed actions


@dataclass
class _Pointer:
    """Where this response last put the pointer (the start of ``left_click_drag``), and the coordinate map."""

    cmap: CoordinateMap
    point: Point | None = None

    def at(self, point: Point) -> Point:
        self.point = point
        return point


class _Args:
    """The ``arguments`` of one call, read with the checks the cookbook's tool schema implies (plus bounds)."""

    def __init__(self, arguments: dict[str, Any], call: str) -> None:
        self.arguments = arguments
        self.call = call

    def has(self, key: str) -> bool:
        return self.arguments.get(key) is not None

    def value(self, key: str) -> Any:
        if not self.has(key):
            raise BadToolCall(f"{self.call} needs {key!r}")
        return self.arguments[key]

    def number(self, key: str) -> float:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise BadToolCall(f"{self.call}: {key!r} must be a number, got {short(value)}")
        return float(value)

    def seconds(self, key: str = "time") -> float:
        value = self.number(key)
        if not 0 <= value <= MAX_SECONDS:
            raise BadToolCall(f"{self.call}: {key!r} must be between 0 and {MAX_SECONDS:g} seconds, got {value:g}")
        return value

    def text(self, key: str = "text") -> str:
        value = self.value(key)
        if not isinstance(value, str):
            raise BadToolCall(f"{self.call}: {key!r} must be a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT_CHARS:
            raise BadToolCall(f"{self.call}: {key!r} has {len(value)} characters (at most {MAX_TEXT_CHARS})")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.value(key)
        if value not in options:
            raise BadToolCall(f"{self.call}: {key!r} must be one of {list(options)}, got {short(value)}")
        return value

    def point(self, pointer: _Pointer, key: str = "coordinate") -> Point:
        """The screenshot pixel of ``[x, y]`` on the 1000x1000 grid; the pointer moves there."""
        value = self.value(key)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in value)
        ):
            raise BadToolCall(f"{self.call}: {key!r} must be [x, y], two numbers, got {short(value)}")
        x, y = value
        if not (0 <= x <= GRID and 0 <= y <= GRID):
            raise BadToolCall(f"{self.call}: {key!r} {short(value)} is outside the {GRID}x{GRID} screen")
        return pointer.at(pointer.cmap.to_screenshot(x, y))

    def here(self, pointer: _Pointer) -> Point:
        """``coordinate``, else where this response left the pointer."""
        if self.has("coordinate"):
            return self.point(pointer)
        if pointer.point is None:
            raise BadToolCall(f"{self.call} needs 'coordinate' [x, y] (the pointer was not placed earlier in this answer)")
        return pointer.point


Handler = Callable[[_Args, _Pointer], Action]


def _at(cls: Callable[[Point], Action]) -> Handler:
    return lambda args, pointer: cls(args.here(pointer))


def _move(args: _Args, pointer: _Pointer) -> Action:
    return Hover(args.point(pointer))


def _drag(args: _Args, pointer: _Pointer) -> Action:
    start = pointer.point
    end = args.point(pointer)
    if start is None:
        raise BadToolCall(
            f"{args.call} drags from the cursor, which this answer never placed; move it first "
            "(mouse_move to the start, then left_click_drag to the end, in the same answer)"
        )
    return Drag(start, end)


def _key_names(value: Any, call: str) -> tuple[str, ...]:
    if isinstance(value, str):
        if len(value) > 1 and "+" in value:  # the "ctrl+c" slip; "ctrl++" is ctrl and the plus key
            plus = value.endswith("++")
            value = (value[:-2] if plus else value).split("+") + (["+"] if plus else [])
        else:
            value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(k, str) and k.strip() for k in value):
        raise BadToolCall(f"{call}: 'keys' must be a non-empty array of key names, got {short(value)}")
    if len(value) > MAX_KEYS or any(len(k) > MAX_KEY_CHARS for k in value):
        raise BadToolCall(f"{call}: at most {MAX_KEYS} keys of at most {MAX_KEY_CHARS} characters, got {short(value)}")
    return tuple(normalize_key(k) for k in value)


def _key(args: _Args, pointer: _Pointer) -> Action:
    return Hotkey(_key_names(args.value("keys"), args.call))


def _type(args: _Args, pointer: _Pointer) -> Action:
    text = args.text()
    return Type(text[:-1], submit=True) if text.endswith("\n") else Type(text)


def _scroller(positive: str, negative: str) -> Handler:
    def handle(args: _Args, pointer: _Pointer) -> Action:
        pixels = args.number("pixels")
        amount = round(abs(pixels))
        if amount == 0 or amount > MAX_SCROLL:
            raise BadToolCall(f"{args.call}: 'pixels' must be a non-zero amount up to {MAX_SCROLL}, got {pixels:g}")
        point = args.point(pointer) if args.has("coordinate") else pointer.point
        direction = positive if pixels > 0 else negative
        return Scroll(direction, point, min(amount, MAX_SCROLL_AMOUNT))  # type: ignore[arg-type]

    return handle


def _terminate(args: _Args, pointer: _Pointer) -> Action:
    return Finished(args.choice("status", ("success", "failure")))


def _answer(args: _Args, pointer: _Pointer) -> Action:
    return Finished(args.text())


def _wait(args: _Args, pointer: _Pointer) -> Action:
    return Wait(min(args.seconds(), MAX_WAIT_SECONDS))


COMPUTER_ACTIONS: dict[str, Handler] = {
    "key": _key,
    "type": _type,
    "mouse_move": _move,
    "left_click": _at(Click),
    "left_click_drag": _drag,
    "right_click": _at(RightClick),
    "middle_click": _at(MiddleClick),
    "double_click": _at(DoubleClick),
    "triple_click": _at(TripleClick),
    "scroll": _scroller("up", "down"),
    "hscroll": _scroller("right", "left"),
    "wait": _wait,
    "terminate": _terminate,
    "answer": _answer,
}


def _long_press(args: _Args, pointer: _Pointer) -> Action:
    args.seconds()  # checked (the cookbook's tool requires it), not kept: LongPress has no duration
    return LongPress(args.point(pointer))


def _swipe(args: _Args, pointer: _Pointer) -> Action:
    start = args.point(pointer)
    return Drag(start, args.point(pointer, "coordinate2"))


_SYSTEM_BUTTONS: dict[str, Callable[[], Action]] = {
    "Back": PressBack,
    "Home": PressHome,
    "Enter": lambda: Hotkey(("enter",)),
}


def _system_button(args: _Args, pointer: _Pointer) -> Action:
    button = args.choice("button", ("Back", "Home", "Menu", "Enter"))
    if button not in _SYSTEM_BUTTONS:
        raise BadToolCall(f"{args.call}: the {button} button has no action in the environments (only Back, Home, Enter)")
    return _SYSTEM_BUTTONS[button]()


def _mobile_key(args: _Args, pointer: _Pointer) -> Action:
    name = args.text()
    lowered = name.strip().lower().removeprefix("keycode_")
    if lowered in ("back", "home"):
        return PressBack() if lowered == "back" else PressHome()
    try:
        return Hotkey((canonical_key(lowered),))
    except ValueError:
        raise BadToolCall(
            f"{args.call}: the key event {short(name)} has no action in the environments (keyboard keys, back and home do)"
        ) from None


def _open(args: _Args, pointer: _Pointer) -> Action:
    name = args.text().strip()
    if not name:
        raise BadToolCall(f"{args.call} needs the app name in 'text'")
    return OpenApp(name)


MOBILE_ACTIONS: dict[str, Handler] = {
    "key": _mobile_key,
    "click": _at(Click),
    "long_press": _long_press,
    "swipe": _swipe,
    "type": _type,
    "system_button": _system_button,
    "open": _open,
    "wait": _wait,
    "terminate": _terminate,
    "answer": _answer,  # in the mobile notebook's prompt, not in MobileUse's enum
}

ACTIONS: dict[str, dict[str, Handler]] = {"computer_use": COMPUTER_ACTIONS, "mobile_use": MOBILE_ACTIONS}
"""Tool name -> action -> handler of its arguments (points in screenshot pixels)."""
