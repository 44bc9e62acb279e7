"""The reference-behaviour parsers for UI-TARS and OpenCUA outputs."""

from __future__ import annotations

import pytest

from eval.parsing import (
    ActionParseError,
    box_point,
    opencua_click_points,
    opencua_code_lines,
    parse_opencua_actions,
    parse_ui_tars,
    smart_resize,
)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (2400, 1080, (2408, 1092)),  # spec §6.1 examples
        (1600, 2560, (1596, 2548)),
        (1000, 1280, (1008, 1288)),
        (280, 700, (280, 700)),  # already multiples of 28 and above min_pixels
        (224, 280, (252, 336)),  # below min_pixels: scaled up, ceil to 28
        (2880, 5120, (2688, 4760)),  # above max_pixels: scaled down, floor to 28
    ],
)
def test_smart_resize(height, width, expected):
    assert smart_resize(height, width) == expected


def test_smart_resize_rejects_extreme_aspect_ratio():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010 * 28)


@pytest.mark.parametrize(
    ("text", "action_type", "inputs"),
    [
        ("Thought: go\nAction: click(point='<point>350 140</point>')", "click", {"start_box": "[0.5, 0.5, 0.5, 0.5]"}),
        ("Action: left_double(point='<point>70 28</point>')", "left_double", {"start_box": "[0.1, 0.1, 0.1, 0.1]"}),
        (
            "Action: drag(start_point='<point>70 28</point>', end_point='<point>350 140</point>')",
            "drag",
            {"start_box": "[0.1, 0.1, 0.1, 0.1]", "end_box": "[0.5, 0.5, 0.5, 0.5]"},
        ),
        ("Action: hotkey(key='ctrl c')", "hotkey", {"key": "ctrl c"}),
        ("Action: type(content='it's done\\n')", "type", {"content": "it's done\n"}),
        (
            "Action: scroll(point='<point>350 140</point>', direction='down')",
            "scroll",
            {"start_box": "[0.5, 0.5, 0.5, 0.5]", "direction": "down"},
        ),
        ("Action: finished(content='successful')", "finished", {"content": "successful"}),
        ("Action: wait()", "wait", {}),
        ("Action: type(content='')", "type", {}),  # empty arguments are dropped
        (
            "Thought: a\nAction: wait()\nThought: b\nAction: click(start_box='(70,28)')",
            "click",
            {"start_box": "[0.1, 0.1, 0.1, 0.1]"},
        ),
    ],
)
def test_parse_ui_tars(text, action_type, inputs):
    (action,) = parse_ui_tars(text, 700, 280)
    assert action.action_type == action_type
    assert dict(action.inputs) == inputs


def test_parse_ui_tars_keeps_argument_order_and_thought():
    (action,) = parse_ui_tars("Thought: pick it\nAction: select(content='March', point='<point>70 28</point>')", 700, 280)
    assert list(action.inputs) == ["content", "start_box"]
    assert action.thought == "pick it"


def test_parse_ui_tars_several_actions():
    actions = parse_ui_tars("Action: click(point='<point>70 28</point>')\n\nwait()", 700, 280)
    assert [a.action_type for a in actions] == ["click", "wait"]


def test_parse_ui_tars_without_action_is_empty():
    assert parse_ui_tars("Thought: I am not sure what to do", 700, 280) == []


@pytest.mark.parametrize(
    "text", ["Action: click(point=)", "Action: 5", "Action: click(start_box=5)", "Action: click(start_box='a,b')"]
)
def test_parse_ui_tars_errors(text):
    with pytest.raises(ActionParseError):
        parse_ui_tars(text, 700, 280)


@pytest.mark.parametrize(
    ("value", "point"),
    [("[0.1, 0.2, 0.1, 0.2]", (0.1, 0.2)), ([0.3, 0.4], (0.3, 0.4)), ("down", None), (None, None), ("[0.5]", None)],
)
def test_box_point(value, point):
    assert box_point(value) == point


@pytest.mark.parametrize(
    ("line", "actions"),
    [
        ("pyautogui.click(x=350, y=140)", [("click", (0.5, 0.5))]),
        ("pyautogui.doubleClick(x=70, y=28)", [("doubleClick", (0.1, 0.1))]),
        ("pyautogui.rightClick(x=70, y=28)", [("rightClick", (0.1, 0.1))]),
        ("pyautogui.moveTo(x=70, y=28)", [("moveTo", (0.1, 0.1))]),
        ("pyautogui.dragTo(x=70, y=28)", [("dragTo", (0.1, 0.1))]),
        ("pyautogui.tripleClick(x=70, y=28)", []),  # not recognised by the reference
        ("pyautogui.click(70, 28)", []),  # needs the keyword form
        ("computer.triple_click(x=70, y=28)", [("triple_click", (0.1, 0.1))]),
        ("computer.terminate(status='failure')", [("terminate", "failure")]),
        ("pyautogui.write(message='hello world')", [("write", "hello world")]),
        ("pyautogui.write('hi')", [("write", "hi")]),
        ("pyautogui.press('enter')", [("press", ["enter"])]),
        ("pyautogui.press(['ctrl', 'c'])", [("hotkey", ["ctrl", "c"])]),
        ("pyautogui.press(keys=['enter'])", [("press", ["enter"])]),
        ("pyautogui.hotkey('cmd', 'v')", [("hotkey", ["ctrl", "v"])]),
        ("pyautogui.hotkey(keys=['command', 'a'])", [("hotkey", ["ctrl", "a"])]),
        ("pyautogui.scroll(-5)", [("scroll", -5)]),
        ("I will click: pyautogui.click(x=1, y=1)", []),  # only lines that start with the call count
    ],
)
def test_parse_opencua_actions(line, actions):
    assert parse_opencua_actions(f"## Code:\n```python\n{line}\n```", 700, 280) == actions


@pytest.mark.parametrize(
    ("line", "reference", "decoded"),
    [
        ("pyautogui.write(message='dark\\n')", "dark\\n", "dark\n"),
        ('pyautogui.write(message="I\'m here")', "I", "I'm here"),
        ("pyautogui.write('a\\'b')", "a\\'b", "a'b"),  # the positional regex runs to the quote before ")"
    ],
)
def test_opencua_write_strings(line, reference, decoded):
    assert parse_opencua_actions(line, 700, 280) == [("write", reference)]
    assert parse_opencua_actions(line, 700, 280, decode_strings=True) == [("write", decoded)]


def test_opencua_code_lines():
    text = "## Action:\nclick it\n## Code:\n```python\n  pyautogui.click(x=1, y=2)\ncomputer.terminate(status='success')\n```"
    assert opencua_code_lines(text) == ["pyautogui.click(x=1, y=2)", "computer.terminate(status='success')"]


def test_opencua_click_points():
    text = "pyautogui.middleClick(350, 140)\npyautogui.click(x=70, y=28)"
    assert opencua_click_points(text, 700, 280) == [(0.5, 0.5), (0.1, 0.1)]
    assert opencua_click_points("pyautogui.write('x')", 700, 280) == []
    with pytest.raises(ActionParseError):
        opencua_click_points("pyautogui.click(x=70)", 700, 280)
