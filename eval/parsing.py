"""Model-output parsers with the behaviour the GUI-KV reference drivers score with (specs/benchmarks.md §6.2, §1.4).

Kept inside ``eval`` on purpose: the live agent's parsers (``agent/models``) may be stricter or smarter, but a benchmark
replay must read the text exactly as the reference did, quirks included, or its numbers stop being comparable.

* UI-TARS: :func:`parse_ui_tars` follows ``ui_tars.action_parser.parse_action_to_structure_output`` as the reference
  copies it (the only difference from the PyPI package: no ``Action:`` gives ``[]`` instead of an assertion error).
* OpenCUA: :func:`parse_opencua_actions` follows the reference's ``extract_actions`` (line-wise regexes over
  ``pyautogui.`` / ``computer.`` lines); :func:`opencua_click_points` its grounding helper for ScreenSpot.

Coordinates come back **normalized**: model pixels divided by the smart-resized width/height of the original image
(``agent.coords.smart_resize``). ``limits`` are the pixel limits the run's image processor resized with, since that
is the frame the model answered in; the default is UI-TARS' limits, which the reference uses for both models.
Every failure the reference's ``try`` blocks would swallow surfaces here as :class:`ActionParseError`, so a scorer
records it as a model error instead of crashing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guikv.models.pixels import PixelLimits, resized_size  # the Qwen2.5-VL rule (spec A.4)
from guikv.models.pixels import smart_resize as smart_resize  # re-exported: the rule the parsers divide by
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

Point = tuple[float, float]
OpenCUAAction = tuple[str, Any]


class ActionParseError(ValueError):
    """The model's text could not be read as an action (a model error: record it, do not crash)."""


# --- UI-TARS --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UITarsAction:
    """One parsed UI-TARS call. ``inputs`` keeps the written argument order (some drivers read it positionally);
    box arguments (``start_box``/``end_box``) are strings of 4 normalized numbers, e.g. ``"[0.1, 0.2, 0.1, 0.2]"``."""

    action_type: str | None
    inputs: Mapping[str, str] = field(default_factory=dict)
    thought: str | None = None
    reflection: str | None = None


_POINT_TAG = re.compile(r"<point>(\d+)\s+(\d+)</point>")
_TYPE_CALL = re.compile(r"type\(content='(.*?)'\)")
_UNESCAPED_QUOTE = re.compile(r"(?<!\\)'")


def _thought_of(text: str) -> tuple[str | None, str | None]:
    """(reflection, thought) the way the UI-TARS parser extracts them; only for records, never scored."""
    if text.startswith("Reflection:"):
        match = re.search(r"Reflection: (.+?)Action_Summary: (.+?)(?=\s*Action: |$)", text, re.DOTALL)
        return (match.group(1).strip(), match.group(2).strip()) if match else (None, None)
    label = "Action_Summary" if text.startswith("Action_Summary:") else "Thought"
    pattern = label + r": (.+?)(?=\s*Action: |$)"
    match = re.search(pattern, text, re.DOTALL)
    return (None, match.group(1).strip()) if match else (None, None)


def _call_of(source: str) -> tuple[str | None, dict[str, Any]]:
    """(function name, keyword constants) of one Python call expression; non-constant values become None."""
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError) as error:
        raise ActionParseError(f"action is not a Python call: {source!r}") from error
    if not isinstance(node, ast.Call):
        raise ActionParseError(f"action is not a function call: {source!r}")
    name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else None
    if any(kw.arg is None for kw in node.keywords):
        raise ActionParseError(f"action has a ** argument: {source!r}")
    kwargs = {kw.arg: kw.value.value if isinstance(kw.value, ast.Constant) else None for kw in node.keywords}
    return name, kwargs


def model_frame(width: int, height: int, limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> tuple[int, int]:
    """``(width, height)`` the model saw a ``width`` x ``height`` screenshot at; ActionParseError when none exists."""
    try:
        return resized_size((width, height), limits)
    except ValueError as error:
        raise ActionParseError(str(error)) from error


def parse_ui_tars(text: str, width: int, height: int, limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> list[UITarsAction]:
    """Every action after the last ``Action: ``; ``[]`` when the text has no ``Action:``.

    ``width``/``height``: the original screenshot size; points are divided by its smart-resized size under ``limits``.
    """
    text = text.strip()
    if "<point>" in text:
        text = _POINT_TAG.sub(lambda m: f"({m.group(1)},{m.group(2)})", text.replace("[EOS]", "")).strip()
    text = text.replace("start_point=", "start_box=").replace("end_point=", "end_box=").replace("point=", "start_box=")
    resized_width, resized_height = model_frame(width, height, limits)
    reflection, thought = _thought_of(text)
    if "Action:" not in text:
        return []
    calls = []
    for call in text.split("Action: ")[-1].split(")\n\n"):
        if "type(content" in call:
            if not call.strip().endswith(")"):
                call = call.strip() + ")"
            if not _TYPE_CALL.search(call):
                raise ActionParseError(f"type(content='...') not found in {call!r}")
            content = _TYPE_CALL.sub(lambda m: m.group(1), call)
            call = "type(content='" + _UNESCAPED_QUOTE.sub(r"\\'", content) + "')"
        if not call.strip().endswith(")"):
            call = call.strip() + ")"
        calls.append(call)
    actions = []
    for call in calls:
        name, kwargs = _call_of(call.replace("\n", "\\n").lstrip())
        inputs: dict[str, str] = {}
        for key, value in kwargs.items():
            if value == "":
                continue
            if not isinstance(value, str):
                raise ActionParseError(f"argument {key}={value!r} of {call!r} is not a string")
            value = value.lstrip()
            inputs[key.strip()] = value
            if "start_box" in key or "end_box" in key:
                inputs[key.strip()] = str(_normalize_box(value, resized_width, resized_height))
        actions.append(UITarsAction(name, inputs, thought, reflection))
    return actions


def _normalize_box(value: str, resized_width: int, resized_height: int) -> list[float]:
    try:
        numbers = [float(n) for n in value.replace("(", "").replace(")", "").split(",")]
    except ValueError as error:
        raise ActionParseError(f"box {value!r} is not a list of numbers") from error
    scaled = [n / (resized_height if i % 2 else resized_width) for i, n in enumerate(numbers)]
    return scaled * 2 if len(scaled) == 2 else scaled


def box_point(value: Any) -> Point | None:
    """(x, y) of a parsed box string ``"[x1, y1, x2, y2]"`` (its first two numbers); None when it is not one."""
    if isinstance(value, (list, tuple)):
        return (float(value[0]), float(value[1])) if len(value) >= 2 else None
    if not isinstance(value, str):
        return None
    try:
        numbers = [float(n.strip()) for n in value.strip("[]").split(",")]
    except ValueError:
        return None
    return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


def literal_point(value: Any) -> Point | None:
    """(x, y) of a box argument as the drivers read it: a Python literal list/tuple (or one already parsed)."""
    try:
        parsed = ast.literal_eval(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError, TypeError):
        return None
    return box_point(list(parsed)) if isinstance(parsed, (list, tuple)) else None


def first_ui_tars_action(text: str, width: int, height: int, limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> UITarsAction:
    """The first parsed call of a UI-TARS output (the drivers score only it); ``ActionParseError`` when there is none."""
    parsed = parse_ui_tars(text, width, height, limits)
    if not parsed:
        raise ActionParseError("no 'Action:' in the output")
    return parsed[0]


# --- OpenCUA --------------------------------------------------------------------------------------------------------

_XY = re.compile(r"x=([\d.]+),\s*y=([\d.]+)")
_MESSAGE = re.compile(r"message=['\"](.+?)['\"]")
_MESSAGE_LITERAL = re.compile(r"message=((['\"])(?:\\.|(?!\2).)*\2)")
_WRITE_POSITIONAL = re.compile(r"pyautogui\.write\((['\"])(.*?)\1\)")
_WRITE_POSITIONAL_LITERAL = re.compile(r"pyautogui\.write\(((['\"])(?:\\.|(?!\2).)*\2)")
_KEYS = re.compile(r"keys=\[(.*?)\]")
_QUOTED_OR_WORD = re.compile(r"['\"]([^'\"]*)['\"]|(\w+)")
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")
_SCROLL = re.compile(r"pyautogui\.scroll\(([-\d]+)\)")
_NUMBER = re.compile(r"[-+]?\d*\.\d+|[-+]?\d+")
_CLICK_PREFIXES = (
    "pyautogui.click", "pyautogui.moveTo", "pyautogui.dragTo", "pyautogui.doubleClick", "pyautogui.rightClick",
    "pyautogui.middleClick", "pyautogui.tripleClick", "computer.tripleClick",
)


def _mac_to_ctrl(key: str) -> str:
    return "ctrl" if key.strip().lower() in ("cmd", "command") else key.strip()


def _string_literal(literal: str) -> str:
    try:
        return ast.literal_eval(literal)
    except (SyntaxError, ValueError):
        return literal[1:-1]


def opencua_code_lines(text: str) -> list[str]:
    """Lines of the output that start with ``pyautogui.`` or ``computer.`` (stripped), in order."""
    return [line.strip() for line in text.split("\n") if line.strip().startswith(("pyautogui.", "computer."))]


def parse_opencua_actions(
    text: str, width: int, height: int, *, decode_strings: bool = False, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> list[OpenCUAAction]:
    """``(type, value)`` tuples, one or more per code line, as the reference's ``extract_actions`` reads them.

    Types: ``terminate`` (status), ``triple_click``/``click``/``moveTo``/``doubleClick``/``rightClick``/``dragTo``
    (normalized point), ``write`` (text), ``hotkey``/``press`` (key list, cmd/command -> ctrl), ``scroll`` (int).
    ``decode_strings=False`` keeps the reference's regex (text up to the first quote, escapes left as written);
    ``True`` reads the whole quoted literal and decodes its escapes (``'it\\'s\\n'`` -> ``it's`` + newline).
    """
    resized_width, resized_height = model_frame(width, height, limits)
    actions: list[OpenCUAAction] = []
    for raw in text.strip().split("\n"):
        line = raw.strip()
        if line.startswith("computer.terminate"):
            status = re.search(r"status=['\"](\w+)['\"]", line)
            if status:
                actions.append(("terminate", status.group(1)))
                continue
        if line.startswith("computer.triple_click"):
            xy = _XY.search(line)
            if xy:
                actions.append(("triple_click", _scaled(xy, resized_width, resized_height)))
                continue
        if line.startswith("pyautogui."):
            actions.extend(_pyautogui_line(line, resized_width, resized_height, decode_strings))
    return actions


def _scaled(match: re.Match, resized_width: int, resized_height: int) -> Point:
    try:
        x, y = float(match.group(1)), float(match.group(2))
    except ValueError as error:
        raise ActionParseError(f"coordinates {match.group(0)!r} are not numbers") from error
    return (x / resized_width, y / resized_height)


def _pyautogui_line(line: str, resized_width: int, resized_height: int, decode_strings: bool) -> list[OpenCUAAction]:
    actions: list[OpenCUAAction] = []
    xy = _XY.search(line)
    if xy:
        point = _scaled(xy, resized_width, resized_height)
        # Substring tests in the reference's order: "tripleClick"/"middleClick" match none of them.
        if "click" in line and "doubleClick" not in line and "rightClick" not in line:
            actions.append(("click", point))
        elif "moveTo" in line:
            actions.append(("moveTo", point))
        elif "doubleClick" in line:
            actions.append(("doubleClick", point))
        elif "rightClick" in line:
            actions.append(("rightClick", point))
        elif "dragTo" in line:
            actions.append(("dragTo", point))
    if decode_strings:
        message = _MESSAGE_LITERAL.search(line) or _WRITE_POSITIONAL_LITERAL.search(line)
        if message:
            actions.append(("write", _string_literal(message.group(1))))
    else:
        message = _MESSAGE.search(line)
        if message:
            actions.append(("write", message.group(1)))
        else:
            positional = _WRITE_POSITIONAL.search(line)
            if positional:
                actions.append(("write", positional.group(2)))
    keys_match = _KEYS.findall(line)
    if keys_match:
        keys = [quoted or word for quoted, word in _QUOTED_OR_WORD.findall(keys_match[0]) if quoted or word]
        keys = [_mac_to_ctrl(k) for k in keys]
        actions.append(("hotkey" if "hotkey" in line else "press", keys))
    if "hotkey(" in line and "keys=" not in line:
        inside = re.search(r"pyautogui\.hotkey\((.*)\)", line)
        parts = _QUOTED.findall(inside.group(1)) if inside else []
        if parts:
            actions.append(("hotkey", [_mac_to_ctrl(p) for p in parts]))
    if "press(" in line and "keys=" not in line:
        inside = re.search(r"pyautogui\.press\((.*)\)", line)
        if inside:
            argument = inside.group(1).strip()
            if argument.startswith("["):
                keys = [p.strip() for p in _QUOTED.findall(argument)]
            else:
                one = _QUOTED.search(argument)
                keys = [one.group(1).strip()] if one else []
            if keys:
                keys = [_mac_to_ctrl(k) for k in keys]
                actions.append(("hotkey" if len(keys) > 1 else "press", keys))
    scroll = _SCROLL.search(line)
    if scroll:
        try:
            actions.append(("scroll", int(scroll.group(1))))
        except ValueError as error:
            raise ActionParseError(f"scroll amount {scroll.group(1)!r} is not an integer") from error
    return actions


def opencua_click_points(text: str, width: int, height: int, limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> list[Point]:
    """Normalized (x, y) of every click-like line (the reference's ScreenSpot grounding parser).

    A click-like line is one starting with ``pyautogui.click/moveTo/dragTo/doubleClick/rightClick/middleClick/
    tripleClick`` or ``computer.tripleClick``; its first two numbers are x and y, whatever their keywords.
    """
    resized_width, resized_height = model_frame(width, height, limits)
    points = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line.startswith(_CLICK_PREFIXES):
            continue
        numbers = [float(n) for n in _NUMBER.findall(line)][:2]
        if not numbers:
            continue
        if len(numbers) < 2:
            raise ActionParseError(f"click line {line!r} has only one coordinate")
        points.append((numbers[0] / resized_width, numbers[1] / resized_height))
    return points
