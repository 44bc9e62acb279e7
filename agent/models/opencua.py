"""OpenCUA-7B (xlangai/OpenCUA-7B): L2 prompt, history layout, ``## Code`` parsing (specs/models.md B.2-B.5, P.2).

History, adapted to an append-only conversation::

    [system: L2 prompt] [user: "# Task Instruction:\\n{instruction}\\n"]
    then per step: [user: screenshot, "\\nPlease generate the next move according to the screenshot, task
                    instruction and previous steps (if provided).\\n"] [assistant: full raw response]

The official agent (B.5) puts ``# Task Instruction`` with the request in the *current* user turn only and rewrites
past steps as ``# Step k:\\n## Action: ...`` summaries with at most 3 screenshots. An append-only memory cannot move
or rewrite earlier turns (the cached tokens of the generated responses must stay valid), so the instruction comes
once before the first screenshot, every screenshot is followed by the official request sentence, and assistant
turns carry the full response as generated.

Output (L2): ``## Thought:`` / ``## Action:`` / ``## Code:`` with a fenced python block of ``pyautogui.*`` and
``computer.*`` calls. The code is read with ``ast`` (never executed): each call maps to a typed action; a ``moveTo``
directly followed by ``dragTo`` is one ``Drag``, and ``click()``/``scroll()`` without coordinates act where the last
``moveTo`` went. ``press([...])`` presses the keys one after another (pyautogui semantics; the reference scores it
as a hotkey). Coordinates are absolute pixels of the smart-resized screenshot (factor 28, min 3,136, max 12,845,056
pixels); ``coordinates="relative"`` reads [0, 1] fractions (OpenCUA-Qwen2-7B) and ``"auto"`` treats a point whose
two values both lie in [0, 1] as relative (OSWorld's ``qwen25`` projection).

Numbers are bounded as they are read: coordinates must be finite and near the screen (``agent.coords``), a scroll's
clicks are clamped to ``MAX_SCROLL_AMOUNT`` notches, ``presses`` may not exceed ``MAX_REPEAT`` and a sleep is clamped
to ``MAX_WAIT_SECONDS`` (``agent.models.base``); ``nan``, ``inf``, ``1e999`` and integers too large for a float are
model errors, as is code nested too deeply for ``ast.parse``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from PIL import Image

from agent.coords import OPENCUA_PIXEL_LIMITS, Convention, CoordinateMap, finite_number, short
from agent.errors import ModelOutputError, ModelValueError
from agent.models.base import (
    MAX_REPEAT,
    Message,
    ModelAdapter,
    ParsedOutput,
    check_step,
    check_task,
    check_text,
    image_item,
    normalize_key,
    scroll_amount,
    wait_seconds,
)
from environments.actions import (
    Action,
    Click,
    DoubleClick,
    Drag,
    Finished,
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

_TRIPLE_CLICK_SPEC = (
    '{"name": "computer.triple_click", "description": "Triple click on the screen", "parameters": {"type": "object", '
    '"properties": {"x": {"type": "number", "description": "The x coordinate of the triple click"}, "y": {"type": '
    '"number", "description": "The y coordinate of the triple click"}}, "required": ["x", "y"]}}'
)
_TERMINATE_SPEC = (
    '{"name": "computer.terminate", "description": "Terminate the current task and report its completion status", '
    '"parameters": {"type": "object", "properties": {"status": {"type": "string", "enum": ["success", "failure"], '
    '"description": "The status of the task"}}, "required": ["status"]}}'
)

# OpenCUA's "L2" system prompt (Appendix P.2 up to the function list; no trailing newline, as in the official agent).
L2_SYSTEM_PROMPT = "\n".join(
    [
        "You are a GUI agent. You are given a task and a screenshot of the screen. You need to perform a series of "
        "pyautogui actions to complete the task.",
        "",
        "For each step, provide your response in this format:",
        "",
        "Thought:",
        "  - Step by Step Progress Assessment:",
        "    - Analyze completed task parts and their contribution to the overall goal",
        "    - Reflect on potential errors, unexpected results, or obstacles",
        "    - If previous action was incorrect, predict a logical recovery step",
        "  - Next Action Analysis:",
        "    - List possible next actions based on current state",
        "    - Evaluate options considering current state and previous actions",
        "    - Propose most logical next action",
        "    - Anticipate consequences of the proposed action",
        "  - For Text Input Actions:",
        "    - Note current cursor position",
        "    - Consolidate repetitive actions (specify count for multiple keypresses)",
        "    - Describe expected final text outcome",
        "    - Use first-person perspective in reasoning",
        "",
        "Action:",
        "  Provide clear, concise, and actionable instructions:",
        "  - If the action involves interacting with a specific target:",
        "    - Describe target explicitly without using coordinates",
        "    - Specify element names when possible (use original language if non-English)",
        "    - Describe features (shape, color, position) if name unavailable",
        '    - For window control buttons, identify correctly (minimize "—", maximize "□", close "X")',
        "  - if the action involves keyboard actions like 'press', 'write', 'hotkey':",
        "    - Consolidate repetitive keypresses with count",
        "    - Specify expected text outcome for typing actions",
        "",
        "Finally, output the action as PyAutoGUI code or the following functions:",
        f"- {_TRIPLE_CLICK_SPEC}",
        f"- {_TERMINATE_SPEC}",
    ]
)
TASK_TEMPLATE = "# Task Instruction:\n{instruction}\n"
STEP_REQUEST = (
    "\nPlease generate the next move according to the screenshot, task instruction and previous steps (if provided).\n"
)

CoordinateMode = Literal["absolute", "relative", "auto"]
COORDINATE_MODES: tuple[str, ...] = ("absolute", "relative", "auto")


@dataclass(frozen=True)
class OpenCUAAdapter(ModelAdapter):
    """OpenCUA-7B (remote-code ``OpenCUAForConditionalGeneration``; Qwen2.5-VL ViT + Qwen2 LM with 1-D RoPE)."""

    name: ClassVar[str] = "opencua"

    coordinates: CoordinateMode = "absolute"
    max_new_tokens: int = 1000
    min_pixels: int = OPENCUA_PIXEL_LIMITS.min_pixels
    max_pixels: int = OPENCUA_PIXEL_LIMITS.max_pixels
    system_prompt: str = L2_SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if self.coordinates not in COORDINATE_MODES:
            raise ValueError(f"unknown OpenCUA coordinate mode {self.coordinates!r}; expected one of {COORDINATE_MODES}")
        self.check_common_options()

    @property
    def coordinate_convention(self) -> Convention:
        """The convention of non-unit points (``auto`` reads points outside [0, 1] as absolute)."""
        return "relative" if self.coordinates == "relative" else "absolute"

    def system_and_task_messages(self, task: str) -> list[Message]:
        check_task(task)
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": TASK_TEMPLATE.replace("{instruction}", task)},
        ]

    def observation_message(self, screenshot: Image.Image, step: int) -> Message:
        check_step(step)
        return {"role": "user", "content": [image_item(screenshot), {"type": "text", "text": STEP_REQUEST}]}

    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        if not isinstance(text, str):
            raise TypeError(f"model output must be a str, got {type(text).__name__}")
        to_point = self._point_mapper(screenshot_size)
        try:
            source = check_text(text, "the answer")  # a lone surrogate makes ast.parse raise UnicodeEncodeError
            sections, code = split_response(source)
            actions = read_code(code, to_point)
        except (BadOutput, ModelValueError) as exc:
            raise ModelOutputError(text, str(exc)) from None
        except (RecursionError, MemoryError):  # ast.parse / literal_eval on deeply nested code
            raise ModelOutputError(text, "the code is nested too deeply to read") from None
        return ParsedOutput(
            thought=sections.get("Thought", ""),
            reflection=None,
            actions=actions,
            raw=text,
            action_summary=sections.get("Action"),
        )

    def _point_mapper(self, screenshot_size: tuple[int, int]) -> Callable[[float, float], Point]:
        main = self.coordinate_map(screenshot_size)
        if self.coordinates != "auto":
            return main.to_screenshot
        unit = CoordinateMap(main.screenshot_size, main.model_size, "relative")

        def to_point(x: float, y: float) -> Point:
            fx, fy = finite_number(x, "x coordinate"), finite_number(y, "y coordinate")
            return (unit if 0 <= fx <= 1 and 0 <= fy <= 1 else main).to_screenshot(fx, fy)

        return to_point


class BadOutput(ValueError):
    """Internal: why a piece of model text is unusable (re-raised as ``ModelOutputError`` with the whole text)."""


# ---------------------------------------------------------------------------------------------------------------
# Text -> sections and code

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_SECTION = re.compile(r"^[ \t]*##[ \t]*(Observation|Thought|Action|Code)[ \t]*:[ \t]*\n?", re.MULTILINE)
_CODE_TAGS = ("python", "py", "code", "")
_CODE_LINE_PREFIXES = ("pyautogui.", "computer.")


def split_response(text: str) -> tuple[dict[str, str], str]:
    """``({"Thought": ..., "Action": ..., ...}, code)``; raises ``BadOutput`` when no code can be found."""
    if text.count("```") % 2:
        raise BadOutput("a ``` code fence is never closed (output truncated?)")
    fences = list(_FENCE.finditer(text))
    inside = [(m.start(), m.end()) for m in fences]
    headers = [m for m in _SECTION.finditer(text) if not any(a <= m.start() < b for a, b in inside)]
    sections: dict[str, str] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        sections.setdefault(header.group(1), text[header.end() : end].strip())
    code_start = next((h.end() for h in headers if h.group(1) == "Code"), 0)
    candidates = [m for m in fences if m.start() >= code_start] or fences
    tagged = [m for m in candidates if m.group(1).lower() in _CODE_TAGS]
    if tagged or candidates:
        return sections, (tagged or candidates)[-1].group(2)
    lines = [line.strip() for line in text[code_start:].splitlines()]
    code_lines = [line for line in lines if line.startswith(_CODE_LINE_PREFIXES)]
    if not code_lines:
        raise BadOutput(
            "no code: expected '## Code:' with a ```python block of pyautogui.* / computer.* calls (truncated?)"
        )
    return sections, "\n".join(code_lines)


# ---------------------------------------------------------------------------------------------------------------
# Code -> typed actions


@dataclass
class _Pointer:
    """Mouse state while reading one response's code: where the last ``moveTo`` left the cursor."""

    to_point: Callable[[float, float], Point]
    actions: list[Action] = field(default_factory=list)
    cursor: Point | None = None
    hover_index: int | None = None  # a Hover from moveTo that the very next cursor-using call replaces

    def emit(self, action: Action) -> None:
        self.actions.append(action)
        self.hover_index = None

    def move(self, point: Point) -> None:
        self.emit(Hover(point))
        self.cursor = point
        self.hover_index = len(self.actions) - 1

    def at_cursor(self, verb: str, make: Callable[[Point], Action]) -> None:
        if self.cursor is None:
            raise BadOutput(f"{verb} has no coordinates and no moveTo before it")
        action = make(self.cursor)
        if self.hover_index is not None and self.hover_index == len(self.actions) - 1:
            self.actions[self.hover_index] = action
            self.hover_index = None
        else:
            self.emit(action)


Handler = Callable[[_Pointer, dict[str, Any], str], None]


def read_code(code: str, to_point: Callable[[float, float], Point]) -> tuple[Action, ...]:
    """Typed actions of a block of pyautogui/computer calls, in order; the code is parsed, never run."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise BadOutput(f"the code does not parse ({exc.msg}, line {exc.lineno}): {short(code, 200)}") from None
    except ValueError as exc:  # null bytes on older Pythons
        raise BadOutput(f"the code does not parse ({exc})") from None
    pointer = _Pointer(to_point)
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom | ast.Pass):
            continue
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
            raise BadOutput(f"unsupported statement {_source(statement)}; expected one call per line")
        call = statement.value
        name = _qualified_name(call.func)
        if name not in FUNCTIONS:
            raise BadOutput(f"unknown call {_source(call.func)}; expected one of {sorted(FUNCTIONS)}")
        params, handler = FUNCTIONS[name]
        handler(pointer, _bind(name, params, call), name)
    if not pointer.actions:
        raise BadOutput(f"the code has no action: {short(code, 200)}")
    return tuple(pointer.actions)


def _source(node: ast.AST) -> str:
    """Short source text of ``node`` for a message (``ast.unparse`` recurses: a deep tree cannot be printed)."""
    try:
        return short(ast.unparse(node), 120)
    except (RecursionError, MemoryError):
        return f"<a {type(node).__name__} nested too deeply to print>"


def _qualified_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return None


def _literal(node: ast.expr, name: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise BadOutput(f"an argument of {name} is not a literal: {_source(node)}") from None


def _bind(name: str, params: tuple[str, ...], call: ast.Call) -> dict[str, Any]:
    """Arguments by parameter name; ``"*"`` in ``params`` collects the remaining positional ones as ``"*"``."""
    if any(isinstance(arg, ast.Starred) for arg in call.args):
        raise BadOutput(f"{name} uses *args")
    bound: dict[str, Any] = {}
    positional = [_literal(arg, name) for arg in call.args]
    for index, value in enumerate(positional):
        if index < len(params) and params[index] == "*":
            bound["*"] = positional[index:]
            break
        if index >= len(params):
            raise BadOutput(f"{name} takes at most {len(params)} positional argument(s), got {len(positional)}")
        bound[params[index]] = value
    for keyword in call.keywords:
        if keyword.arg is None:
            raise BadOutput(f"{name} uses **kwargs")
        bound[keyword.arg] = _literal(keyword.value, name)
    return bound


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _xy(args: dict[str, Any], name: str) -> tuple[float, float] | None:
    x, y = args.get("x"), args.get("y")
    if isinstance(x, tuple | list) and y is None:  # pyautogui.click((x, y))
        if len(x) != 2:
            raise BadOutput(f"{name} point {short(x)} needs two numbers")
        x, y = x
    if x is None and y is None:
        return None
    if not (_number(x) and _number(y)):
        raise BadOutput(f"{name} needs numeric x and y, got x={short(x)}, y={short(y)}")
    return finite_number(x, f"{name} x"), finite_number(y, f"{name} y")


def _clicker(cls: type[Action]) -> Handler:
    def handle(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
        xy = _xy(args, name)
        if xy is None:
            pointer.at_cursor(name, cls)
            return
        pointer.emit(cls(pointer.to_point(*xy)))
        pointer.cursor = pointer.actions[-1].point

    return handle


_CLICKS: dict[int, type[Action]] = {1: Click, 2: DoubleClick, 3: TripleClick}
_BUTTONS: dict[str, type[Action]] = {"right": RightClick, "middle": MiddleClick}


def _click(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    button, clicks = args.get("button", "left"), args.get("clicks", 1)
    if isinstance(button, str) and button in _BUTTONS:
        cls = _BUTTONS[button]
    elif button in ("left", "primary") and isinstance(clicks, int) and not isinstance(clicks, bool) and clicks in _CLICKS:
        cls = _CLICKS[clicks]
    else:
        raise BadOutput(f"{name} with button={short(button)}, clicks={short(clicks)} is not a supported click")
    _clicker(cls)(pointer, args, name)


def _move_to(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    xy = _xy(args, name)
    if xy is None:
        raise BadOutput(f"{name} needs x and y")
    pointer.move(pointer.to_point(*xy))


def _drag_to(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    xy = _xy(args, name)
    if xy is None:
        raise BadOutput(f"{name} needs x and y")
    end = pointer.to_point(*xy)
    pointer.at_cursor(name, lambda start: Drag(start, end))
    pointer.cursor = end


def _scroller(positive: str, negative: str) -> Handler:
    def handle(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
        count = scroll_amount(args.get("clicks"), f"{name} clicks")  # clamped to MAX_SCROLL_AMOUNT notches
        direction = positive if count > 0 else negative
        amount = abs(count)
        xy = _xy(args, name)
        if xy is not None:
            pointer.emit(Scroll(direction, pointer.to_point(*xy), amount))  # type: ignore[arg-type]
        elif pointer.cursor is not None:
            pointer.at_cursor(name, lambda point: Scroll(direction, point, amount))  # type: ignore[arg-type]
        else:
            pointer.emit(Scroll(direction, None, amount))  # type: ignore[arg-type]

    return handle


def _write(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    message = args.get("message")
    if not isinstance(message, str):
        raise BadOutput(f"{name} needs message='text', got {short(message)}")
    if message.endswith("\n"):
        pointer.emit(Type(message[:-1], submit=True))
    else:
        pointer.emit(Type(message))


def _key_list(value: Any, name: str) -> list[str]:
    keys = [value] if isinstance(value, str) else value
    if not isinstance(keys, list | tuple) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise BadOutput(f"{name} needs key names (a string or a list of strings), got {short(value)}")
    return [normalize_key(k) for k in keys]


def _press(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    keys = _key_list(args.get("keys"), name)
    presses = args.get("presses", 1)
    if not (isinstance(presses, int) and not isinstance(presses, bool) and 1 <= presses <= MAX_REPEAT):
        raise BadOutput(f"{name} presses must be an int in [1, {MAX_REPEAT}], got {short(presses)}")
    for _ in range(presses):
        for key in keys:
            pointer.emit(Hotkey((key,)))


def _hotkey(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    keys = args["keys"] if "keys" in args else args.get("*", [])
    if isinstance(keys, list | tuple) and len(keys) == 1 and isinstance(keys[0], list | tuple):
        keys = keys[0]  # hotkey(['ctrl', 'c'])
    pointer.emit(Hotkey(tuple(_key_list(keys, name))))


def _terminate(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    status = args.get("status")
    if not isinstance(status, str) or not status:
        raise BadOutput(f"{name} needs status='success' or 'failure', got {short(status)}")
    pointer.emit(Finished(status))


def _sleep(pointer: _Pointer, args: dict[str, Any], name: str) -> None:
    pointer.emit(Wait(wait_seconds(args.get("secs"), name)))  # clamped to MAX_WAIT_SECONDS


_XY = ("x", "y")
FUNCTIONS: dict[str, tuple[tuple[str, ...], Handler]] = {
    "pyautogui.click": (("x", "y", "clicks", "interval", "button"), _click),
    "pyautogui.leftClick": (_XY, _clicker(Click)),
    "pyautogui.doubleClick": (_XY, _clicker(DoubleClick)),
    "pyautogui.tripleClick": (_XY, _clicker(TripleClick)),
    "pyautogui.rightClick": (_XY, _clicker(RightClick)),
    "pyautogui.middleClick": (_XY, _clicker(MiddleClick)),
    "computer.triple_click": (_XY, _clicker(TripleClick)),
    "pyautogui.moveTo": (_XY, _move_to),
    "pyautogui.dragTo": (_XY, _drag_to),
    "pyautogui.scroll": (("clicks", "x", "y"), _scroller("up", "down")),
    "pyautogui.vscroll": (("clicks", "x", "y"), _scroller("up", "down")),
    "pyautogui.hscroll": (("clicks", "x", "y"), _scroller("right", "left")),
    "pyautogui.write": (("message", "interval"), _write),
    "pyautogui.typewrite": (("message", "interval"), _write),
    "pyautogui.press": (("keys", "presses", "interval"), _press),
    "pyautogui.hotkey": (("*",), _hotkey),
    "computer.terminate": (("status", "answer"), _terminate),
    # computer.wait is documented by OpenCUA's later prompts as a 20 s wait.
    "computer.wait": ((), lambda pointer, args, name: pointer.emit(Wait(20.0))),
    "time.sleep": (("secs",), _sleep),
}
"""Call name -> (positional parameter names, handler). Anything else in the code is rejected, nothing is executed."""
