"""Qwen3-VL's official GUI tools ``computer_use`` and ``mobile_use``, and the system prompt that declares them.

In the model layer because both the agent's adapter (``agent.models.qwen3_vl``) and eval's benchmark prompts send it.

Verbatim from Qwen's cookbook, ``QwenLM/Qwen3-VL`` @ 9658872 ``cookbooks/utils/agent_function_call.py`` (classes
``ComputerUse`` and ``MobileUse``: description f-strings ``.strip()``-ed, ``parameters`` dicts in their key order).
``cookbooks/computer_use.ipynb`` builds the system message with ``ComputerUse(cfg={"display_width_px": 1000,
"display_height_px": 1000})`` and Qwen-Agent's ``NousFnCallPrompt().preprocess_fncall_messages`` (``QwenLM/Qwen-Agent``
@ 31a4d36 ``qwen_agent/llm/fncall_prompts/nous_fncall_prompt.py``): the system items ``"You are a helpful
assistant."`` and ``"\\n\\n" + FN_CALL_TEMPLATE`` with each tool as ``json.dumps({"type": "function", "function":
{"name", "description", "parameters"}}, ensure_ascii=False)`` (``BaseTool.function``; qwen_agent/tools/base.py). The
chat template joins the two text items into one system turn, which is also exactly what the Qwen3-VL-Instruct
template renders itself when given ``tools=[...]``.

The mobile notebook (``cookbooks/mobile_agent.ipynb``) instead pastes a hand-written prompt saying "The screen's
resolution is 999x999", lists ``answer`` but not ``key``/``open``, adds a "# Response format" block, and rescales with
``x / 999``. The sources disagree; here both tools state the same 1000x1000 grid the computer_use notebook uses, with
the reusable ``MobileUse`` definition, so one coordinate rule serves both.
"""

from __future__ import annotations

import json
from typing import Any

GRID = 1000  # "The screen's resolution is 1000x1000": points are thousandths of the screenshot's width and height

FN_CALL_TEMPLATE = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tool_descs}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""

_COMPUTER_DESCRIPTION = """Use a mouse and keyboard to interact with a computer, and take screenshots.
* This is an interface to a desktop GUI. You do not have access to a terminal or applications menu. You must click on \
desktop icons to start applications.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots \
to see the results of your actions. E.g. if you click on Firefox and a window doesn't open, try wait and taking another \
screenshot.
* The screen's resolution is {width}x{height}.
* Whenever you intend to move the cursor to click on an element like an icon, you should consult a screenshot to \
determine the coordinates of the element before moving the cursor.
* If you tried clicking on a program or link but it failed to load, even after waiting, try adjusting your cursor \
position so that the tip of the cursor visually falls on the element that you want to click.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click \
boxes on their edges."""

_COMPUTER_PARAMETERS: dict[str, Any] = {
    "properties": {
        "action": {
            "description": """The action to perform. The available actions are:
* `key`: Performs key down presses on the arguments passed in order, then performs key releases in reverse order.
* `type`: Type a string of text on the keyboard.
* `mouse_move`: Move the cursor to a specified (x, y) pixel coordinate on the screen.
* `left_click`: Click the left mouse button at a specified (x, y) pixel coordinate on the screen.
* `left_click_drag`: Click and drag the cursor to a specified (x, y) pixel coordinate on the screen.
* `right_click`: Click the right mouse button at a specified (x, y) pixel coordinate on the screen.
* `middle_click`: Click the middle mouse button at a specified (x, y) pixel coordinate on the screen.
* `double_click`: Double-click the left mouse button at a specified (x, y) pixel coordinate on the screen.
* `triple_click`: Triple-click the left mouse button at a specified (x, y) pixel coordinate on the screen (simulated \
as double-click since it's the closest action).
* `scroll`: Performs a scroll of the mouse scroll wheel.
* `hscroll`: Performs a horizontal scroll (mapped to regular scroll).
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status.
* `answer`: Answer a question.""",
            "enum": [
                "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click",
                "double_click", "triple_click", "scroll", "hscroll", "wait", "terminate", "answer",
            ],
            "type": "string",
        },
        "keys": {"description": "Required only by `action=key`.", "type": "array"},
        "text": {"description": "Required only by `action=type` and `action=answer`.", "type": "string"},
        "coordinate": {
            "description": "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to "
            "move the mouse to.",
            "type": "array",
        },
        "pixels": {
            "description": "The amount of scrolling to perform. Positive values scroll up, negative values scroll down. "
            "Required only by `action=scroll` and `action=hscroll`.",
            "type": "number",
        },
        "time": {"description": "The seconds to wait. Required only by `action=wait`.", "type": "number"},
        "status": {
            "description": "The status of the task. Required only by `action=terminate`.",
            "type": "string",
            "enum": ["success", "failure"],
        },
    },
    "required": ["action"],
    "type": "object",
}

_MOBILE_DESCRIPTION = """Use a touchscreen to interact with a mobile device, and take screenshots.
* This is an interface to a mobile device with touchscreen. You can perform actions like clicking, typing, swiping, etc.
* Some applications may take time to start or process actions, so you may need to wait and take successive screenshots \
to see the results of your actions.
* The screen's resolution is {width}x{height}.
* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. Don't click \
boxes on their edges unless asked."""

_MOBILE_PARAMETERS: dict[str, Any] = {
    "properties": {
        "action": {
            "description": """The action to perform. The available actions are:
* `key`: Perform a key event on the mobile device.
    - This supports adb's `keyevent` syntax.
    - Examples: "volume_up", "volume_down", "power", "camera", "clear".
* `click`: Click the point on the screen with coordinate (x, y).
* `long_press`: Press the point on the screen with coordinate (x, y) for specified seconds.
* `swipe`: Swipe from the starting point with coordinate (x, y) to the end point with coordinates2 (x2, y2).
* `type`: Input the specified text into the activated input box.
* `system_button`: Press the system button.
* `open`: Open an app on the device.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status.""",
            "enum": ["key", "click", "long_press", "swipe", "type", "system_button", "open", "wait", "terminate"],
            "type": "string",
        },
        "coordinate": {
            "description": "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to "
            "move the mouse to. Required only by `action=click`, `action=long_press`, and `action=swipe`.",
            "type": "array",
        },
        "coordinate2": {
            "description": "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to "
            "move the mouse to. Required only by `action=swipe`.",
            "type": "array",
        },
        "text": {
            "description": "Required only by `action=key`, `action=type`, and `action=open`.",
            "type": "string",
        },
        "time": {
            "description": "The seconds to wait. Required only by `action=long_press` and `action=wait`.",
            "type": "number",
        },
        "button": {
            "description": "Back means returning to the previous interface, Home means returning to the desktop, Menu "
            "means opening the application background menu, and Enter means pressing the enter. Required only by "
            "`action=system_button`",
            "enum": ["Back", "Home", "Menu", "Enter"],
            "type": "string",
        },
        "status": {
            "description": "The status of the task. Required only by `action=terminate`.",
            "type": "string",
            "enum": ["success", "failure"],
        },
    },
    "required": ["action"],
    "type": "object",
}

TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "computer_use": (_COMPUTER_DESCRIPTION, _COMPUTER_PARAMETERS),
    "mobile_use": (_MOBILE_DESCRIPTION, _MOBILE_PARAMETERS),
}
"""Tool name -> (description template with ``{width}``/``{height}``, JSON-schema parameters)."""

DEFAULT_SYSTEM = "You are a helpful assistant."


def tool_function(name: str, width: int = GRID, height: int = GRID) -> dict[str, Any]:
    """``BaseTool.function`` of the cookbook's tool ``name`` on a ``width``x``height`` screen."""
    if name not in TOOLS:
        raise ValueError(f"unknown Qwen3-VL tool {name!r}; expected one of {sorted(TOOLS)}")
    description, parameters = TOOLS[name]
    return {"name": name, "description": description.format(width=width, height=height), "parameters": parameters}


def tools_block(functions: list[dict[str, Any]]) -> str:
    """``FN_CALL_TEMPLATE`` filled as ``NousFnCallPrompt.preprocess_fncall_messages`` fills it."""
    descs = "\n".join(json.dumps({"type": "function", "function": f}, ensure_ascii=False) for f in functions)
    return FN_CALL_TEMPLATE.format(tool_descs=descs)


def render_system_prompt(tool: str, system: str = DEFAULT_SYSTEM) -> str:
    """The system turn of the cookbook: ``system`` + ``"\\n\\n"`` + the tools block (no text: the block alone)."""
    block = tools_block([tool_function(tool)])
    return f"{system}\n\n{block}" if system else block


def enumerated_actions(tool: str) -> tuple[str, ...]:
    """The ``action`` enum the tool declares (what the prompt tells the model it may do)."""
    return tuple(TOOLS[tool][1]["properties"]["action"]["enum"])
