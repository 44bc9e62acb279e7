"""UI-TARS-1.5 (ByteDance-Seed/UI-TARS-1.5-7B): prompts, history layout, output parsing (specs/models.md A.2-A.6).

History (official layout, A.5), kept append-only for the persistent memory::

    [system "You are a helpful assistant."] [user: prompt text with the instruction]
    then per step: [user: screenshot] [assistant: raw response]

The official runner keeps only the last 5 screenshots; here nothing is dropped by the prompt, the KV memory
(compression) decides what survives.

Output grammar (A.3): optional ``<think>...</think>``, then ``Thought: ...`` (or ``Reflection: ... Action_Summary:
...``), then ``Action: `` and one or more Python-style calls with keyword string arguments, separated by blank
lines. Points are ``<point>x y</point>`` or the older ``(x,y)`` (optionally wrapped in ``<|box_start|>...
<|box_end|>``), absolute pixels on the smart-resized screenshot; a 4-number box means its centre.

Prompt texts come from ByteDance's ``ui-tars`` package (``ui_tars.prompt``, official). Parsing follows the steps of
its ``ui_tars.action_parser.parse_action_to_structure_output`` but is our own code, because that function falls short
for an agent that must act on the result:

* it rewrites ``point=`` and ``<point>..</point>`` anywhere in the text, so typed text such as ``'x point=1'`` is
  corrupted;
* it appends a missing ``)`` to the last call, so an output cut by ``max_new_tokens`` after a closing quote parses as
  if complete (we report truncation instead);
* it accepts any verb and silently drops positional arguments and non-constant values;
* ``<|box_start|>``/``<|box_end|>`` tokens (present when decoding keeps special tokens), ``<bbox>`` boxes, float
  points and raw newlines inside typed text fail;
* calls separated by a single newline fail (it only splits on ``")\\n\\n"``); the unescaped-quote repair only
  covers ``type``;
* failures are ``print``-ed and raised as bare ``AssertionError``/``ValueError``;
* ``nan``, ``inf``, ``1e999`` or a 400-digit number in a point crash it or give a non-finite point.

Every number is checked where it is read (``agent.coords.finite_number`` / ``CoordinateMap.to_screenshot``) and any
failure, including ``MemoryError``/``RecursionError`` from ``ast.parse`` on deeply nested brackets, is a
``ModelOutputError``.

On well-formed outputs both give the same actions and points (tested against the package).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from PIL import Image
from ui_tars.prompt import COMPUTER_USE_DOUBAO, GROUNDING_DOUBAO, MOBILE_USE_DOUBAO

from agent.coords import CONVENTIONS, UI_TARS_PIXEL_LIMITS, Convention, CoordinateMap, short
from agent.errors import ModelOutputError, ModelValueError
from agent.models.base import (
    Message,
    ModelAdapter,
    ParsedOutput,
    check_step,
    check_task,
    check_text,
    image_item,
    normalize_key,
)
from environments.actions import (
    Action,
    CallUser,
    Click,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    Hover,
    LongPress,
    OpenApp,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    Type,
    Wait,
)

# The reference's AgentNetBench prompt (specs/models.md Appendix P.1): COMPUTER_USE plus a <think> block, an output
# example and two extra notes. Two lines end with a space, as in the reference.
COMPUTER_USE_THINK = "\n".join(
    [
        "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the "
        "next action to complete the task.",
        "",
        "## Output Format",
        "You should first think about the reasoning process in the mind and then provide the user with the answer. ",
        "The reasoning process is enclosed within <think> </think> tags",
        "After the <think> tags, you should place final answer, which concludes your summarized thought and your "
        "action.",
        "",
        "For example,",
        "```",
        "<think>detailed reasoning content here</think>",
        "Thought: a small plan and finally summarize your next action (with its target element) in one sentence",
        "Action: ...",
        "```",
        "",
        "## Action Space",
        "",
        "click(point='<point>x1 y1</point>')",
        "left_double(point='<point>x1 y1</point>')",
        "right_single(point='<point>x1 y1</point>')",
        "drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')",
        "hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one "
        "hotkey action.",
        r"""type(content='xxx') # Use escape characters \', \", and \n in content part to ensure we can parse the """
        r"content in normal python string format. If you want to submit your input, use \n at the end of content. ",
        "scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more information on the "
        "`direction` side.",
        "wait() #Sleep for 5s and take a screenshot to check for any changes.",
        r"""finished(content='successful|failure') # Use escape characters \', \", and \n in content part to ensure """
        "we can parse the content in normal python string format.",
        "",
        "## Output Example",
        "Thought: Let's click ...",
        "Action: click(point='<point>100 200</point>')",
        "",
        "## Note",
        "- Use {language} in `Thought` part.",
        "- Write a small plan and finally summarize your next action (with its target element) in one sentence in "
        "`Thought` part.",
        "- If you have executed several same actions (like repeatedly clicking the same point) but the screen keeps "
        "no change, please try to execute a modified action when necessary.",
        "- finished content should be either`successful` or `failure`.",
        "",
        "## User Instruction",
        "{instruction}",
        "",
        "Please generate the next move according to the screenshot and task instruction.",
        "",
    ]
)

# Prompt variants by name; ``{language}`` and ``{instruction}`` are the only placeholders.
UI_TARS_PROMPTS: dict[str, str] = {
    "computer": COMPUTER_USE_DOUBAO,  # official COMPUTER_USE: Thought / Action
    "computer_think": COMPUTER_USE_THINK,  # reference AgentNetBench: <think>, Thought / Action
    "mobile": MOBILE_USE_DOUBAO,  # official MOBILE_USE
    "grounding": GROUNDING_DOUBAO,  # official GROUNDING: Action only
}
LANGUAGES = ("English", "Chinese")
SYSTEM_PROMPT = "You are a helpful assistant."


def render_prompt(template: str, instruction: str, language: str = "English") -> str:
    """The prompt text with its placeholders filled (plain replacement: braces in the instruction stay as typed)."""
    return template.replace("{language}", language).replace("{instruction}", instruction)


@dataclass(frozen=True)
class UITarsAdapter(ModelAdapter):
    """UI-TARS-1.5-7B (stock ``Qwen2_5_VLForConditionalGeneration``).

    ``prompt`` picks a key of ``UI_TARS_PROMPTS``; ``coordinates`` is how the model writes points (UI-TARS-1.5:
    ``absolute`` pixels of the smart-resized screenshot; ``thousandths`` for UI-TARS 1.0-style deployments).
    ``max_new_tokens`` defaults to the reference's AgentNetBench budget (the thinking prompt needs room).
    """

    name: ClassVar[str] = "ui_tars"

    prompt: str = "computer"
    language: str = "English"
    coordinates: Convention = "absolute"
    max_new_tokens: int = 1000
    min_pixels: int = UI_TARS_PIXEL_LIMITS.min_pixels
    max_pixels: int = UI_TARS_PIXEL_LIMITS.max_pixels
    system_prompt: str = SYSTEM_PROMPT

    def __post_init__(self) -> None:
        if self.prompt not in UI_TARS_PROMPTS:
            raise ValueError(f"unknown UI-TARS prompt {self.prompt!r}; expected one of {sorted(UI_TARS_PROMPTS)}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown UI-TARS thought language {self.language!r}; expected one of {LANGUAGES}")
        if self.coordinates not in CONVENTIONS:
            raise ValueError(f"unknown coordinate convention {self.coordinates!r}; expected one of {CONVENTIONS}")
        self.check_common_options()

    @property
    def coordinate_convention(self) -> Convention:
        return self.coordinates

    def prompt_text(self, task: str) -> str:
        return render_prompt(UI_TARS_PROMPTS[self.prompt], task, self.language)

    def system_and_task_messages(self, task: str) -> list[Message]:
        check_task(task)
        return [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": self.prompt_text(task)},
        ]

    def observation_message(self, screenshot: Image.Image, step: int) -> Message:
        check_step(step)
        return {"role": "user", "content": [image_item(screenshot)]}

    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        if not isinstance(text, str):
            raise TypeError(f"model output must be a str, got {type(text).__name__}")
        cmap = self.coordinate_map(screenshot_size)
        try:
            source = check_text(text, "the answer")  # a lone surrogate makes ast.parse raise UnicodeEncodeError
            thought, reflection, calls = split_response(source)
            actions: list[Action] = []
            for call in calls:
                verb, kwargs = parse_call(call)
                converter = VERBS.get(verb)
                if converter is None:
                    raise BadOutput(f"unknown action {short(verb, 80)}; expected one of {sorted(VERBS)}")
                actions.extend(converter(kwargs, cmap))
        except (BadOutput, ModelValueError) as exc:
            raise ModelOutputError(text, str(exc)) from None
        except (RecursionError, MemoryError):  # ast.parse on deeply nested brackets
            raise ModelOutputError(text, "an action call is nested too deeply to read") from None
        return ParsedOutput(thought=thought, reflection=reflection, actions=tuple(actions), raw=text)


class BadOutput(ValueError):
    """Internal: why a piece of model text is unusable (re-raised as ``ModelOutputError`` with the whole text)."""


# ---------------------------------------------------------------------------------------------------------------
# Text -> calls

_SPECIAL_TOKENS = ("<|box_start|>", "<|box_end|>", "<|im_end|>", "<|endoftext|>", "[EOS]")
_ACTION_LINE = re.compile(r"^[ \t]*Action:[ \t]*", re.MULTILINE)
_ACTION_ANYWHERE = re.compile(r"Action:[ \t]*")
_CALL_BOUNDARY = re.compile(r"\)[ \t]*\n\s*(?=[A-Za-z_]\w*\s*\()")
_CALL = re.compile(r"([A-Za-z_]\w*)\s*\((.*)\)", re.DOTALL)
_CONTENT_CALL = re.compile(r"([A-Za-z_]\w*)\(content='(.*)'\)", re.DOTALL)
_UNESCAPED_QUOTE = re.compile(r"(?<!\\)'")


def split_response(text: str) -> tuple[str, str | None, list[str]]:
    """``(thought, reflection, call strings)`` of a UI-TARS response; raises ``BadOutput``."""
    body = text.strip()
    for token in _SPECIAL_TOKENS:
        body = body.replace(token, "")
    think = ""
    if "<think>" in body or "</think>" in body:
        if "</think>" not in body:
            raise BadOutput("the <think> block is never closed (output truncated?)")
        before, _, body = body.rpartition("</think>")
        think = before.split("<think>", 1)[-1].strip()
    matches = list(_ACTION_LINE.finditer(body)) or list(_ACTION_ANYWHERE.finditer(body))
    if not matches:
        raise BadOutput("no 'Action:' in the output (expected 'Thought: ...' then 'Action: <call>'; truncated?)")
    marker = matches[-1]
    head, action_text = body[: marker.start()], body[marker.end() :].strip()
    thought, reflection = _thought_of(head)
    if not thought:
        thought = think
    if not action_text:
        raise BadOutput("nothing after 'Action:' (output truncated?)")
    return thought, reflection, split_calls(action_text)


def _thought_of(head: str) -> tuple[str, str | None]:
    if "Reflection:" in head:
        after = head.split("Reflection:", 1)[1]
        reflection, _, summary = after.partition("Action_Summary:")
        return summary.strip(), reflection.strip()
    for label in ("Action_Summary:", "Thought:"):
        if label in head:
            return head.split(label, 1)[1].strip(), None
    return head.strip(), None


def split_calls(action_text: str) -> list[str]:
    """One string per call (the official format separates calls by a blank line).

    Quote-aware first, so parentheses and blank lines inside typed text stay inside their call; when the quotes do
    not balance (an unescaped ``'`` in content, or a cut), fall back to splitting at a ``)`` that ends a line and is
    followed by ``name(``.
    """
    calls = _scan_calls(action_text)
    if calls is None:
        pieces = _CALL_BOUNDARY.split(action_text)
        calls = [piece.strip() + ")" for piece in pieces[:-1]] + [pieces[-1].strip()]
    last = calls[-1]
    if not last.endswith(")"):
        if "(" in last:
            raise BadOutput(f"the call {short(last, 80)} is not closed (output truncated?)")
        if re.fullmatch(r"[A-Za-z_]\w*", last):
            raise BadOutput(f"{short(last, 80)} is a bare name, not a call (output truncated?)")
        raise BadOutput(f"{short(last, 80)} is not a call; expected e.g. click(point='<point>x y</point>')")
    return calls


def _scan_calls(text: str) -> list[str] | None:
    """Split at every ``)`` that closes a top-level call; ``None`` if quotes or parentheses never balance."""
    calls: list[str] = []
    depth, quote, escaped, start = 0, "", False, 0
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                calls.append(text[start : index + 1].strip())
                start = index + 1
    if quote or depth or not calls:
        return None
    rest = text[start:].strip()
    return [*calls, rest] if rest else calls


def parse_call(call: str) -> tuple[str, dict[str, str]]:
    """``(verb, keyword arguments)`` of one call, parsed with ``ast`` (never evaluated); empty values dropped."""
    if not _CALL.fullmatch(call):
        raise BadOutput(f"{short(call, 80)} is not a call; expected verb(name='value', ...)")
    node = _parse_expression(call)
    if node is None:
        repaired = _repair_content_quotes(call)
        node = _parse_expression(repaired) if repaired else None
    if node is None:
        raise BadOutput(f"cannot parse {short(call, 80)} as a call (unbalanced parentheses or quotes?)")
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise BadOutput(f"{short(call, 80)} is not a plain call verb(...)")
    if node.args:
        raise BadOutput(f"{short(call, 80)} has positional arguments; the grammar uses keywords, e.g. point='<point>x y</point>'")
    kwargs: dict[str, str] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise BadOutput(f"{short(call, 80)} uses **kwargs; expected name='value' arguments")
        value = keyword.value
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str | int | float)):
            raise BadOutput(f"argument {keyword.arg!r} of {short(call, 80)} is not a string")
        if value.value != "":
            kwargs[keyword.arg] = value.value if isinstance(value.value, str) else _number_text(value.value)
    return node.func.id, kwargs


def _number_text(value: int | float) -> str:
    """A bare number argument as text (``point=5``); an integer too long to print is not a coordinate."""
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        raise BadOutput(f"a number of about {int(value.bit_length() * 0.30103)} digits is not a coordinate") from None


def _parse_expression(call: str) -> ast.expr | None:
    try:
        # Raw newlines can only sit inside string values (calls are one line): make them escapes, as the official
        # parser does, so type(content='a<newline>') means "a\n".
        return ast.parse(call.replace("\n", "\\n"), mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: null bytes on older Pythons
        return None


def _repair_content_quotes(call: str) -> str | None:
    """``type(content='it's')`` -> ``type(content='it\\'s')`` (the official repair, for every content verb)."""
    match = _CONTENT_CALL.fullmatch(call)
    if match is None:
        return None
    verb, content = match.groups()
    escaped = _UNESCAPED_QUOTE.sub(r"\\'", content)
    return f"{verb}(content='{escaped}')"


# ---------------------------------------------------------------------------------------------------------------
# Calls -> typed actions

_POINT_WRAPPERS = ("<point>", "</point>", "<bbox>", "</bbox>", "(", ")", "[", "]")
_ARG_ALIASES = {"point": "start_box", "start_point": "start_box", "end_point": "end_box"}
DIRECTIONS = ("up", "down", "left", "right")


def model_point(value: str) -> tuple[float, float]:
    """The point of a box argument: ``<point>x y</point>``, ``(x,y)``, or the centre of ``(x1,y1,x2,y2)``."""
    inner = value
    for wrapper in _POINT_WRAPPERS:
        inner = inner.replace(wrapper, " ")
    parts = inner.replace(",", " ").split()
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise BadOutput(f"point {short(value, 80)} is not numbers; expected '<point>x y</point>' or '(x,y)'") from None
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    if len(numbers) == 4:
        return (numbers[0] + numbers[2]) / 2, (numbers[1] + numbers[3]) / 2
    raise BadOutput(f"point {short(value, 80)} has {len(numbers)} number(s); expected 2 (x y) or 4 (a box)")


def _args(kwargs: dict[str, str]) -> dict[str, str]:
    return {_ARG_ALIASES.get(name, name): value for name, value in kwargs.items()}


def _point(kwargs: dict[str, str], cmap: CoordinateMap, name: str = "start_box", *, verb: str) -> tuple[int, int]:
    args = _args(kwargs)
    if name not in args:
        label = "point" if name == "start_box" else name.replace("_box", "_point")
        raise BadOutput(f"{verb} needs {label}='<point>x y</point>'")
    return cmap.to_screenshot(*model_point(args[name]))


def _pointer(cls: type[Action]) -> Callable[[dict[str, str], CoordinateMap], tuple[Action, ...]]:
    def convert(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
        return (cls(_point(kwargs, cmap, verb=cls.kind)),)

    return convert


def _drag(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    args = _args(kwargs)
    if "end_box" not in args:
        # Mind2Web's select(point=..., content=...) (choose a dropdown option) has no typed action.
        raise BadOutput("drag/select needs start_point and end_point")
    return (Drag(_point(kwargs, cmap, verb="drag"), _point(kwargs, cmap, "end_box", verb="drag")),)


def _keys(kwargs: dict[str, str], *names: str, verb: str) -> tuple[str, ...]:
    spec = next((kwargs[name] for name in names if name in kwargs), "")
    keys: list[str] = []
    for part in spec.split():
        # 'ctrl+c' is not the grammar but a frequent slip; '+' alone stays a key.
        keys.extend(part.split("+") if len(part) > 1 and "+" in part.strip("+") else [part])
    keys = [normalize_key(key) for key in keys if key]
    if not keys:
        raise BadOutput(f"{verb} needs key='...' (keys split by spaces, e.g. key='ctrl c')")
    return tuple(keys)


def _hotkey(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    return (Hotkey(_keys(kwargs, "key", "hotkey", verb="hotkey")),)


def _press(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    return (Hotkey(_keys(kwargs, "key", "press", verb="press")),)


def _type(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    content = kwargs.get("content", "")
    # A trailing newline submits. The official converter also accepts an over-escaped literal backslash-n.
    for ending in ("\n", "\\n"):
        if content.endswith(ending):
            return (Type(content[: -len(ending)], submit=True),)
    return (Type(content),)


def _scroll(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    direction = kwargs.get("direction", "").strip().lower()
    if direction not in DIRECTIONS:
        named = [d for d in DIRECTIONS if d in direction]
        if len(named) != 1:
            raise BadOutput(f"scroll needs direction= one of {DIRECTIONS}, got {short(kwargs.get('direction', ''), 80)}")
        direction = named[0]
    point = _point(kwargs, cmap, verb="scroll") if "start_box" in _args(kwargs) else None
    return (Scroll(direction, point),)  # type: ignore[arg-type]


def _open_app(kwargs: dict[str, str], cmap: CoordinateMap) -> tuple[Action, ...]:
    if "app_name" not in kwargs:
        raise BadOutput("open_app needs app_name='...'")
    return (OpenApp(kwargs["app_name"]),)


Converter = Callable[[dict[str, str], CoordinateMap], tuple[Action, ...]]

VERBS: dict[str, Converter] = {
    "click": _pointer(Click),
    "left_single": _pointer(Click),
    "left_double": _pointer(DoubleClick),
    "right_single": _pointer(RightClick),
    "hover": _pointer(Hover),
    "long_press": _pointer(LongPress),
    "drag": _drag,
    "select": _drag,
    "hotkey": _hotkey,
    "press": _press,
    "keydown": _press,
    "type": _type,
    "scroll": _scroll,
    "wait": lambda kwargs, cmap: (Wait(),),
    "finished": lambda kwargs, cmap: (Finished(kwargs.get("content", "")),),
    "call_user": lambda kwargs, cmap: (CallUser(kwargs.get("content", "")),),
    "open_app": _open_app,
    "press_home": lambda kwargs, cmap: (PressHome(),),
    "press_back": lambda kwargs, cmap: (PressBack(),),
}
"""UI-TARS verb -> converter of its keyword arguments to typed actions (points in screenshot pixels)."""
