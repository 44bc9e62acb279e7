"""Qwen3-VL ``computer_use`` tool calls, read the way the benchmarks score them (issue 10).

Qwen3-VL answers ``<tool_call>\\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}
\\n</tool_call>`` with points on a 0-1000 grid of the whole image ("The screen's resolution is 1000x1000"; Qwen's
cookbook ``QwenLM/Qwen3-VL`` ``cookbooks/computer_use.ipynb``, which maps ``x / 1000 * width``). The grid is relative to
the image, so a point divided by ``GRID`` is already normalized the way eval's scorers compare (no smart-resize frame
enters, unlike UI-TARS' and OpenCUA's absolute pixels). The tool-call text is read by the model layer's bounded, strict
reader (``guikv.models.tool_calls``), which the agent's adapter uses too; every problem is an ``ActionParseError``.
"""

from __future__ import annotations

from typing import Any

from eval.parsing import ActionParseError
from guikv.models.qwen3_vl_tools import GRID, TOOLS
from guikv.models.tool_calls import BadToolCall, ToolCall, parse_tool_call, split_tool_calls

Point = tuple[float, float]

CLICK_ACTIONS = ("left_click", "double_click", "triple_click", "right_click", "middle_click", "mouse_move", "left_click_drag")
"""``computer_use`` actions that carry a target point (ScreenSpot's grounding reads the first of them)."""


def qwen3_vl_calls(text: str) -> list[ToolCall]:
    """Every ``<tool_call>`` block of the output, parsed; ``ActionParseError`` for none, a cut or malformed block, or a
    tool the prompt did not declare."""
    try:
        _, bodies = split_tool_calls(text)
        calls = [parse_tool_call(body) for body in bodies]
    except BadToolCall as error:
        raise ActionParseError(str(error)) from error
    for call in calls:
        if call.name not in TOOLS:
            raise ActionParseError(f"tool call of {call.name!r}; the prompt declares {', '.join(TOOLS)}")
    return calls


def grid_point(value: Any, what: str = "coordinate") -> Point:
    """``[x, y]`` on the 0-1000 grid as a normalized ``(x / 1000, y / 1000)``; ``ActionParseError`` unless two numbers."""
    if not isinstance(value, list) or len(value) != 2:
        raise ActionParseError(f"{what} must be [x, y], got {str(value)[:60]}")
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in value):
        raise ActionParseError(f"{what} must hold two numbers, got {str(value)[:60]}")
    return (value[0] / GRID, value[1] / GRID)


def action_of(call: ToolCall) -> str:
    action = call.arguments.get("action")
    if not isinstance(action, str):
        raise ActionParseError(f"the {call.name} call needs a string 'action', got {str(action)[:60]}")
    return action


def qwen3_vl_click_points(text: str) -> list[Point]:
    """Normalized points of every click-like call, in order (ScreenSpot v2 / Pro grounding)."""
    return [
        grid_point(call.arguments.get("coordinate"))
        for call in qwen3_vl_calls(text)
        if action_of(call) in CLICK_ACTIONS and "coordinate" in call.arguments
    ]
