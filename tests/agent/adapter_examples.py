"""Per-adapter example tables for the adapter contract test (tests/agent/test_adapter_contract.py).

Registering an adapter in ``agent.models.registry.ADAPTERS`` makes the contract test demand an entry here: its action
space (every verb needs a real-format example), outputs in the model's real format with the actions they mean,
malformed outputs, a click writer for the coordinate round trip, and a short history for the append-only check.

Formats: UI-TARS-1.5 ``Thought: ... / Action: verb(...)`` (ui-tars package prompts, specs/models.md A.3); OpenCUA
``## Thought / ## Action / ## Code`` with a python block (B.3); Qwen3-VL ``<tool_call>`` blocks exactly as
Qwen-Agent's ``NousFnCallPrompt`` writes a call (``'<tool_call>\\n' + json.dumps({"name", "arguments"},
ensure_ascii=False) + '\\n</tool_call>'``), after free text, as in the Qwen3-VL cookbook's verbatim mobile answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.models import opencua, qwen3_vl, ui_tars
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
    MiddleClick,
    OpenApp,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)


@dataclass(frozen=True)
class AdapterExamples:
    """``outputs`` are ``(verb, model text, actions)`` for a screenshot of ``screenshot_size``. ``click(x, y)`` writes a
    click on a model-space point (the adapter's coordinate convention) from the numbers' literal text, as the model
    would; ``type_text(text)`` writes typing ``text``."""

    verbs: tuple[str, ...]
    screenshot_size: tuple[int, int]
    outputs: tuple[tuple[str, str, tuple[Action, ...]], ...]
    malformed: tuple[str, ...]
    click: Callable[[str, str], str]
    type_text: Callable[[str], str]
    responses: tuple[str, ...]


# ---------------------------------------------------------------------------------------------------------------
# UI-TARS-1.5: absolute pixels of the smart-resized screenshot; 1932x1092 is its own smart-resized size.


def _tars(call: str) -> str:
    return f"Thought: The next step acts on the page.\nAction: {call}"


UI_TARS = AdapterExamples(
    verbs=tuple(sorted(ui_tars.VERBS)),
    screenshot_size=(1932, 1092),
    outputs=(
        ("click", _tars("click(point='<point>100 200</point>')"), (Click((100, 200)),)),
        ("left_single", _tars("left_single(point='<point>100 200</point>')"), (Click((100, 200)),)),
        ("left_double", _tars("left_double(point='<point>100 200</point>')"), (DoubleClick((100, 200)),)),
        ("right_single", _tars("right_single(point='<point>100 200</point>')"), (RightClick((100, 200)),)),
        ("hover", _tars("hover(point='<point>100 200</point>')"), (Hover((100, 200)),)),
        ("long_press", _tars("long_press(point='<point>100 200</point>')"), (LongPress((100, 200)),)),
        (
            "drag",
            _tars("drag(start_point='<point>10 20</point>', end_point='<point>300 400</point>')"),
            (Drag((10, 20), (300, 400)),),
        ),
        (
            "select",
            _tars("select(start_point='<point>10 20</point>', end_point='<point>300 400</point>')"),
            (Drag((10, 20), (300, 400)),),
        ),
        ("hotkey", _tars("hotkey(key='ctrl c')"), (Hotkey(("ctrl", "c")),)),
        ("press", _tars("press(key='enter')"), (Hotkey(("enter",)),)),
        ("keydown", _tars("keydown(key='shift')"), (Hotkey(("shift",)),)),
        ("type", _tars(r"type(content='hello world\n')"), (Type("hello world", submit=True),)),
        ("scroll", _tars("scroll(point='<point>500 600</point>', direction='down')"), (Scroll("down", (500, 600)),)),
        ("wait", _tars("wait()"), (Wait(),)),
        ("finished", _tars("finished(content='successful')"), (Finished("successful"),)),
        ("call_user", _tars("call_user()"), (CallUser(""),)),
        ("open_app", _tars("open_app(app_name='Settings')"), (OpenApp("Settings"),)),
        ("press_home", _tars("press_home()"), (PressHome(),)),
        ("press_back", _tars("press_back()"), (PressBack(),)),
    ),
    malformed=(
        "",
        "Thought: I will click the box.",
        _tars("fly(point='<point>1 2</point>')"),
        _tars("click(point='<point>one two</point>')"),
        _tars("click()"),
        "<think>never closed Action: click(point='<point>1 2</point>')",
    ),
    click=lambda x, y: _tars(f"click(point='<point>{x} {y}</point>')"),
    type_text=lambda text: _tars(f"type(content='{text}')"),
    responses=(
        _tars("click(point='<point>100 200</point>')"),
        _tars(r"type(content='GUI agents\n')"),
        _tars("finished(content='successful')"),
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# OpenCUA-7B: absolute pixels of the smart-resized screenshot (factor 28, min 3,136 pixels).


def _cua(code: str) -> str:
    return f"## Thought:\nThe file list is open.\n\n## Action:\nAct on it.\n\n## Code:\n```python\n{code}\n```\n"


OPENCUA = AdapterExamples(
    verbs=tuple(sorted(opencua.FUNCTIONS)),
    screenshot_size=(1932, 1092),
    outputs=(
        ("pyautogui.click", _cua("pyautogui.click(x=100, y=200)"), (Click((100, 200)),)),
        ("pyautogui.leftClick", _cua("pyautogui.leftClick(x=100, y=200)"), (Click((100, 200)),)),
        ("pyautogui.doubleClick", _cua("pyautogui.doubleClick(x=100, y=200)"), (DoubleClick((100, 200)),)),
        ("pyautogui.tripleClick", _cua("pyautogui.tripleClick(x=100, y=200)"), (TripleClick((100, 200)),)),
        ("pyautogui.rightClick", _cua("pyautogui.rightClick(x=100, y=200)"), (RightClick((100, 200)),)),
        ("pyautogui.middleClick", _cua("pyautogui.middleClick(x=100, y=200)"), (MiddleClick((100, 200)),)),
        ("computer.triple_click", _cua("computer.triple_click(x=100, y=200)"), (TripleClick((100, 200)),)),
        ("pyautogui.moveTo", _cua("pyautogui.moveTo(x=100, y=200)"), (Hover((100, 200)),)),
        (
            "pyautogui.dragTo",
            _cua("pyautogui.moveTo(x=10, y=20)\npyautogui.dragTo(x=300, y=400)"),
            (Drag((10, 20), (300, 400)),),
        ),
        ("pyautogui.scroll", _cua("pyautogui.scroll(-5, x=500, y=600)"), (Scroll("down", (500, 600), 5),)),
        ("pyautogui.vscroll", _cua("pyautogui.vscroll(3)"), (Scroll("up", None, 3),)),
        ("pyautogui.hscroll", _cua("pyautogui.hscroll(-4)"), (Scroll("left", None, 4),)),
        ("pyautogui.write", _cua(r"pyautogui.write(message='final.txt\n')"), (Type("final.txt", submit=True),)),
        ("pyautogui.typewrite", _cua("pyautogui.typewrite('abc')"), (Type("abc"),)),
        ("pyautogui.press", _cua("pyautogui.press('enter')"), (Hotkey(("enter",)),)),
        ("pyautogui.hotkey", _cua("pyautogui.hotkey('ctrl', 'c')"), (Hotkey(("ctrl", "c")),)),
        ("computer.terminate", _cua("computer.terminate(status='success')"), (Finished("success"),)),
        ("computer.wait", _cua("computer.wait()"), (Wait(20.0),)),
        ("time.sleep", _cua("time.sleep(2)"), (Wait(2.0),)),
    ),
    malformed=(
        "",
        "## Thought:\nI will click.\n",
        _cua("os.system('rm -rf /')"),
        _cua("pyautogui.click(x='a', y=2)"),
        _cua("pyautogui.dragTo(x=1, y=2)"),
        "## Code:\n```python\npyautogui.click(x=1, y=2)\n",
    ),
    click=lambda x, y: _cua(f"pyautogui.click(x={x}, y={y})"),
    type_text=lambda text: _cua(f"pyautogui.write(message='{text}')"),
    responses=(
        _cua("pyautogui.click(x=100, y=200)"),
        _cua("pyautogui.write(message='final.txt')"),
        _cua("computer.terminate(status='success')"),
    ),
)


# ---------------------------------------------------------------------------------------------------------------
# Qwen3-VL: thousandths of the screenshot; on 2000x1000 a grid point (x, y) is pixel (2x, y).


def qwen_call(arguments: dict[str, Any], name: str = "computer_use") -> str:
    """One call as Qwen-Agent's NousFnCallPrompt writes it (also the cookbook's output format)."""
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def _qwen(*calls: dict[str, Any], name: str = "computer_use") -> str:
    return "Action: Act on the page.\n" + "\n".join(qwen_call(c, name) for c in calls)


def _qwen_click(x: str, y: str) -> str:
    """A left_click with the coordinate's numbers written literally (json.dumps could not write NaN as a model does)."""
    arguments = f'{{"action": "left_click", "coordinate": [{x}, {y}]}}'
    return f'Action: Click it.\n<tool_call>\n{{"name": "computer_use", "arguments": {arguments}}}\n</tool_call>'


_MOBILE = "mobile_use"

QWEN3_VL = AdapterExamples(
    verbs=tuple(f"computer_use.{a}" for a in qwen3_vl.COMPUTER_ACTIONS)
    + tuple(f"mobile_use.{a}" for a in qwen3_vl.MOBILE_ACTIONS),
    screenshot_size=(2000, 1000),
    outputs=(
        ("computer_use.key", _qwen({"action": "key", "keys": ["ctrl", "c"]}), (Hotkey(("ctrl", "c")),)),
        ("computer_use.type", _qwen({"action": "type", "text": "hello\n"}), (Type("hello", submit=True),)),
        ("computer_use.mouse_move", _qwen({"action": "mouse_move", "coordinate": [50, 200]}), (Hover((100, 200)),)),
        ("computer_use.left_click", _qwen({"action": "left_click", "coordinate": [50, 200]}), (Click((100, 200)),)),
        (
            "computer_use.left_click_drag",
            _qwen({"action": "mouse_move", "coordinate": [5, 20]}, {"action": "left_click_drag", "coordinate": [150, 400]}),
            (Hover((10, 20)), Drag((10, 20), (300, 400))),
        ),
        ("computer_use.right_click", _qwen({"action": "right_click", "coordinate": [50, 200]}), (RightClick((100, 200)),)),
        ("computer_use.middle_click", _qwen({"action": "middle_click", "coordinate": [50, 200]}), (MiddleClick((100, 200)),)),
        ("computer_use.double_click", _qwen({"action": "double_click", "coordinate": [50, 200]}), (DoubleClick((100, 200)),)),
        ("computer_use.triple_click", _qwen({"action": "triple_click", "coordinate": [50, 200]}), (TripleClick((100, 200)),)),
        ("computer_use.scroll", _qwen({"action": "scroll", "pixels": -5}), (Scroll("down", None, 5),)),
        ("computer_use.hscroll", _qwen({"action": "hscroll", "pixels": 3}), (Scroll("right", None, 3),)),
        ("computer_use.wait", _qwen({"action": "wait", "time": 2}), (Wait(2.0),)),
        ("computer_use.terminate", _qwen({"action": "terminate", "status": "success"}), (Finished("success"),)),
        ("computer_use.answer", _qwen({"action": "answer", "text": "42"}), (Finished("42"),)),
        ("mobile_use.key", _qwen({"action": "key", "text": "enter"}, name=_MOBILE), (Hotkey(("enter",)),)),
        (
            "mobile_use.click",
            # The cookbook's verbatim answer (cookbooks/mobile_agent.ipynb, cell 7).
            "Thought: To search for Musk in X, I need to click on the search bar at the top of the screen. This will "
            'allow me to type in the search query.\nAction: "I tapped on the search bar to begin searching for Musk."\n'
            '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [447, 81]}}\n</tool_call>',
            (Click((894, 81)),),
        ),
        (
            "mobile_use.long_press",
            _qwen({"action": "long_press", "coordinate": [50, 200], "time": 2}, name=_MOBILE),
            (LongPress((100, 200)),),
        ),
        (
            "mobile_use.swipe",
            _qwen({"action": "swipe", "coordinate": [250, 800], "coordinate2": [250, 200]}, name=_MOBILE),
            (Drag((500, 800), (500, 200)),),
        ),
        ("mobile_use.type", _qwen({"action": "type", "text": "Musk"}, name=_MOBILE), (Type("Musk"),)),
        ("mobile_use.system_button", _qwen({"action": "system_button", "button": "Back"}, name=_MOBILE), (PressBack(),)),
        ("mobile_use.open", _qwen({"action": "open", "text": "X"}, name=_MOBILE), (OpenApp("X"),)),
        ("mobile_use.wait", _qwen({"action": "wait", "time": 1.5}, name=_MOBILE), (Wait(1.5),)),
        ("mobile_use.terminate", _qwen({"action": "terminate", "status": "failure"}, name=_MOBILE), (Finished("failure"),)),
        ("mobile_use.answer", _qwen({"action": "answer", "text": "3 posts"}, name=_MOBILE), (Finished("3 posts"),)),
    ),
    malformed=(
        "",
        "Thought: I will click the box.",
        _qwen({"action": "fly", "coordinate": [1, 2]}),
        _qwen({"action": "left_click", "coordinate": ["1", 2]}),
        _qwen_click("NaN", "2"),
        _qwen_click("1", "2").removesuffix("\n</tool_call>"),
    ),
    click=lambda x, y: _qwen_click(x, y),
    type_text=lambda text: _qwen({"action": "type", "text": text}),
    responses=(
        _qwen({"action": "left_click", "coordinate": [50, 200]}),
        _qwen({"action": "type", "text": "GUI agents\n"}),
        _qwen({"action": "terminate", "status": "success"}),
    ),
)

EXAMPLES: dict[str, AdapterExamples] = {"ui_tars": UI_TARS, "opencua": OPENCUA, "qwen3_vl": QWEN3_VL}
