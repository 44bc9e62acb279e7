"""OpenCUA adapter: L2 prompt, append-only history, ``## Code`` parsing of every call kind, errors, registry."""

from __future__ import annotations

import json

import pytest

from agent.coords import OPENCUA_PIXEL_LIMITS
from agent.errors import ModelOutputError
from agent.models import OpenCUAAdapter, adapter_for_model, make_adapter
from agent.models.opencua import L2_SYSTEM_PROMPT, STEP_REQUEST
from environments.actions import (
    Click,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    Hover,
    MiddleClick,
    RightClick,
    Scroll,
    TripleClick,
    Type,
    Wait,
)
from guikv.testing import synthetic_screenshot, tiny_processor

IDENTITY = (1932, 1092)  # smart_resize leaves it as is: model pixels == screenshot pixels
ADAPTER = OpenCUAAdapter()
TASK = "Rename the file report.txt to final.txt"


def _response(code: str, thought: str = "The file list is open; I need the file.", action: str = "Act on it.") -> str:
    return f"## Thought:\n{thought}\n\n## Action:\n{action}\n\n## Code:\n```python\n{code}\n```\n"


CALL_CASES = [
    ("click", "pyautogui.click(x=100, y=200)", (Click((100, 200)),)),
    ("click_positional", "pyautogui.click(100, 200)", (Click((100, 200)),)),
    ("click_tuple", "pyautogui.click((100, 200))", (Click((100, 200)),)),
    ("click_float", "pyautogui.click(x=100.4, y=199.6)", (Click((100, 200)),)),
    ("click_twice", "pyautogui.click(x=100, y=200, clicks=2)", (DoubleClick((100, 200)),)),
    ("click_thrice", "pyautogui.click(x=100, y=200, clicks=3)", (TripleClick((100, 200)),)),
    ("click_right_button", "pyautogui.click(x=100, y=200, button='right')", (RightClick((100, 200)),)),
    ("click_middle_button", "pyautogui.click(x=100, y=200, button='middle')", (MiddleClick((100, 200)),)),
    ("leftClick", "pyautogui.leftClick(x=100, y=200)", (Click((100, 200)),)),
    ("doubleClick", "pyautogui.doubleClick(x=100, y=200)", (DoubleClick((100, 200)),)),
    ("rightClick", "pyautogui.rightClick(x=100, y=200)", (RightClick((100, 200)),)),
    ("middleClick", "pyautogui.middleClick(x=100, y=200)", (MiddleClick((100, 200)),)),
    ("tripleClick", "pyautogui.tripleClick(x=100, y=200)", (TripleClick((100, 200)),)),
    ("computer_triple_click", "computer.triple_click(x=100, y=200)", (TripleClick((100, 200)),)),
    ("moveTo", "pyautogui.moveTo(x=100, y=200)", (Hover((100, 200)),)),
    ("moveTo_dragTo", "pyautogui.moveTo(x=10, y=20)\npyautogui.dragTo(x=300, y=400)", (Drag((10, 20), (300, 400)),)),
    (
        "moveTo_dragTo_positional",
        "pyautogui.moveTo(10, 20, duration=0.2)\npyautogui.dragTo(300, 400, duration=0.5, button='left')",
        (Drag((10, 20), (300, 400)),),
    ),
    ("moveTo_click_here", "pyautogui.moveTo(x=10, y=20)\npyautogui.click()", (Click((10, 20)),)),
    ("scroll_down", "pyautogui.scroll(-5)", (Scroll("down", None, 5),)),
    ("scroll_up", "pyautogui.scroll(3)", (Scroll("up", None, 3),)),
    ("scroll_at_point", "pyautogui.scroll(-5, x=500, y=600)", (Scroll("down", (500, 600), 5),)),
    ("moveTo_scroll", "pyautogui.moveTo(x=500, y=600)\npyautogui.scroll(-10)", (Scroll("down", (500, 600), 10),)),
    ("hscroll_right", "pyautogui.hscroll(4)", (Scroll("right", None, 4),)),
    ("hscroll_left", "pyautogui.hscroll(-4)", (Scroll("left", None, 4),)),
    ("write", "pyautogui.write(message='final.txt')", (Type("final.txt"),)),
    ("write_positional", "pyautogui.write('final.txt')", (Type("final.txt"),)),
    ("write_submit", r"pyautogui.write(message='final.txt\n')", (Type("final.txt", submit=True),)),
    (
        "write_escapes",
        r"""pyautogui.write(message='It\'s "quoted"\nline two')""",
        (Type('It\'s "quoted"\nline two'),),
    ),
    ("write_double_quoted", 'pyautogui.write(message="it\'s")', (Type("it's"),)),
    ("typewrite", "pyautogui.typewrite('abc', interval=0.1)", (Type("abc"),)),
    ("press", "pyautogui.press('enter')", (Hotkey(("enter",)),)),
    ("press_alias", "pyautogui.press('escape')", (Hotkey(("esc",)),)),
    ("press_list", "pyautogui.press(['down', 'down', 'enter'])", (Hotkey(("down",)), Hotkey(("down",)), Hotkey(("enter",)))),
    ("press_keys_kw", "pyautogui.press(keys=['tab'])", (Hotkey(("tab",)),)),
    ("press_presses", "pyautogui.press('down', presses=3)", (Hotkey(("down",)),) * 3),
    ("hotkey", "pyautogui.hotkey('ctrl', 'c')", (Hotkey(("ctrl", "c")),)),
    ("hotkey_keys_kw", "pyautogui.hotkey(keys=['ctrl', 'shift', 't'])", (Hotkey(("ctrl", "shift", "t")),)),
    ("hotkey_list", "pyautogui.hotkey(['ctrl', 'v'])", (Hotkey(("ctrl", "v")),)),
    ("hotkey_cmd", "pyautogui.hotkey('cmd', 'A')", (Hotkey(("win", "a")),)),
    ("terminate_success", "computer.terminate(status='success')", (Finished("success"),)),
    ("terminate_failure", "computer.terminate(status='failure')", (Finished("failure"),)),
    ("computer_wait", "computer.wait()", (Wait(20.0),)),
    ("sleep", "time.sleep(2)", (Wait(2.0),)),
    ("import_and_comment", "import pyautogui\n# rename the file\npyautogui.click(x=1, y=2)", (Click((1, 2)),)),
    (
        "several_lines",
        "pyautogui.click(x=100, y=200)\npyautogui.hotkey('ctrl', 'a')\npyautogui.write(message='final.txt')\n"
        "pyautogui.press('enter')",
        (Click((100, 200)), Hotkey(("ctrl", "a")), Type("final.txt"), Hotkey(("enter",))),
    ),
    (
        "moveTo_not_followed_by_a_cursor_call_stays_a_hover",
        "pyautogui.moveTo(x=10, y=20)\npyautogui.write('a')\npyautogui.click()",
        (Hover((10, 20)), Type("a"), Click((10, 20))),
    ),
    (
        "click_then_scroll_at_cursor",
        "pyautogui.click(x=7, y=8)\npyautogui.scroll(-2)",
        (Click((7, 8)), Scroll("down", (7, 8), 2)),
    ),
]


@pytest.mark.parametrize(("code", "expected"), [c[1:] for c in CALL_CASES], ids=[c[0] for c in CALL_CASES])
def test_every_call_kind(code, expected):
    text = _response(code)
    parsed = ADAPTER.parse(text, IDENTITY)
    assert parsed.actions == expected
    assert parsed.thought == "The file list is open; I need the file."
    assert parsed.action_summary == "Act on it."
    assert parsed.reflection is None
    assert parsed.raw == text


CLICK_CODE = "pyautogui.click(x=100, y=200)"
LAYOUTS = [
    ("l2", _response(CLICK_CODE, "Step by step: the list is open.", "Click report.txt."), "Step by step: the list is open."),
    ("l1", f"## Action:\nClick report.txt.\n\n## Code:\n```python\n{CLICK_CODE}\n```", ""),
    (
        "l3",
        f"## Observation:\nA file manager.\n\n## Thought:\nClick it.\n\n## Action:\nClick report.txt.\n\n"
        f"## Code:\n```python\n{CLICK_CODE}\n```\n",
        "Click it.",
    ),
    ("fence_tagged_code", f"## Thought:\nt\n\n## Action:\na\n\n## Code:\n```code\n{CLICK_CODE}\n```", "t"),
    ("fence_untagged", f"## Thought:\nt\n\n## Action:\na\n\n## Code:\n```\n{CLICK_CODE}\n```", "t"),
    ("no_fence", f"## Thought:\nt\n\n## Action:\na\n\n## Code:\n{CLICK_CODE}\n", "t"),
    ("bare_lines_in_prose", f"I will click the file.\n{CLICK_CODE}", ""),
    (
        "example_fence_in_thought",
        "## Thought:\nLast time I ran\n```python\npyautogui.click(x=5, y=5)\n```\nwhich missed.\n\n## Action:\na\n\n"
        f"## Code:\n```python\n{CLICK_CODE}\n```",
        "Last time I ran\n```python\npyautogui.click(x=5, y=5)\n```\nwhich missed.",
    ),
    ("header_like_comment_in_code", f"## Thought:\nt\n\n## Code:\n```python\n## Action: not a header\n{CLICK_CODE}\n```", "t"),
]


@pytest.mark.parametrize(("text", "thought"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS])
def test_output_layouts(text, thought):
    parsed = ADAPTER.parse(text, IDENTITY)
    assert parsed.actions == (Click((100, 200)),)
    assert parsed.thought == thought


def test_model_pixels_are_mapped_to_screenshot_pixels():
    assert ADAPTER.parse(_response("pyautogui.click(x=966, y=546)"), (1920, 1080)).actions == (Click((960, 540)),)
    # DPR 2: a 2560x1600 screenshot of a 1280x800 CSS viewport; the env divides by 2, not us.
    code = "pyautogui.moveTo(x=1274, y=798)\npyautogui.dragTo(x=2548, y=1596)"
    assert ADAPTER.parse(_response(code), (2560, 1600)).actions == (Drag((1280, 800), (2559, 1599)),)


def test_opencua_pixel_limits_are_used_for_small_screenshots():
    # 200x100: OpenCUA's min_pixels (3,136) keeps it at 196x112; UI-TARS's (78,400) would upscale it to 420x224.
    assert ADAPTER.model_pixel_limits == OPENCUA_PIXEL_LIMITS
    assert ADAPTER.coordinate_map((200, 100)).model_size == (196, 112)
    assert ADAPTER.parse(_response("pyautogui.click(x=98, y=56)"), (200, 100)).actions == (Click((100, 50)),)


@pytest.mark.parametrize(
    ("mode", "code", "expected"),
    [
        ("relative", "pyautogui.click(x=0.5, y=0.25)", Click((960, 270))),
        ("auto", "pyautogui.click(x=0.5, y=0.25)", Click((960, 270))),
        ("auto", "pyautogui.click(x=966, y=546)", Click((960, 540))),
        ("auto", "pyautogui.click(x=0.5, y=546)", Click((0, 540))),  # one value outside [0, 1]: absolute
        ("absolute", "pyautogui.click(x=0.5, y=0.25)", Click((0, 0))),
    ],
)
def test_relative_and_auto_coordinates(mode, code, expected):
    assert OpenCUAAdapter(coordinates=mode).parse(_response(code), (1920, 1080)).actions == (expected,)


MALFORMED = [
    ("no_code", "## Thought:\nI should rename it.\n\n## Action:\nClick the file.", "no code"),
    ("empty", "", "no code"),
    ("garbage", "%%$# lorem ipsum <<>>", "no code"),
    ("unknown_pyautogui", _response("pyautogui.screenshot()"), "unknown call 'pyautogui.screenshot'"),
    ("other_module", _response("os.system('ls')"), "unknown call 'os.system'"),
    ("bare_function", _response("eval('1 + 1')"), "unknown call 'eval'"),
    ("syntax_error", _response("pyautogui.click(x=1, y=2))"), "does not parse"),
    ("unbalanced_open", _response("pyautogui.click((x=1, y=2)"), "does not parse"),
    ("non_literal_argument", _response("pyautogui.click(x=__import__('os').getpid(), y=1)"), "not a literal"),
    ("assignment", _response("x = 5\npyautogui.click(x=x, y=1)"), "unsupported statement"),
    ("loop", _response("for _ in range(3):\n    pyautogui.press('down')"), "unsupported statement"),
    ("click_without_anywhere", _response("pyautogui.click()"), "no coordinates and no moveTo"),
    ("dragTo_without_moveTo", _response("pyautogui.dragTo(x=3, y=4)"), "no coordinates and no moveTo"),
    ("moveTo_without_point", _response("pyautogui.moveTo()"), "needs x and y"),
    ("string_coordinate", _response("pyautogui.click(x='a', y=2)"), "numeric x and y"),
    ("bad_button", _response("pyautogui.click(x=1, y=2, button='side')"), "not a supported click"),
    ("too_many_positional", _response("pyautogui.doubleClick(1, 2, 3)"), "at most 2 positional"),
    ("scroll_zero", _response("pyautogui.scroll(0)"), "non-zero"),
    ("write_not_text", _response("pyautogui.write(message=5)"), "needs message"),
    ("press_nothing", _response("pyautogui.press()"), "key names"),
    ("press_too_often", _response("pyautogui.press('a', presses=1000)"), "presses"),
    ("hotkey_nothing", _response("pyautogui.hotkey()"), "key names"),
    ("terminate_without_status", _response("computer.terminate()"), "needs status"),
    ("only_import", _response("import pyautogui"), "no action"),
    ("starred", _response("pyautogui.hotkey(*keys)"), "*args"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_outputs_raise_model_output_error(text, reason):
    with pytest.raises(ModelOutputError) as info:
        ADAPTER.parse(text, IDENTITY)
    assert info.value.raw_text == text
    assert reason in info.value.reason


def test_code_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    code = f"pyautogui.click(x=open({str(marker)!r}, 'w').write('1'), y=1)"
    with pytest.raises(ModelOutputError, match="not a literal"):
        ADAPTER.parse(_response(code), IDENTITY)
    assert not marker.exists()


TRUNCATED = [
    ("mid_call", "## Thought:\nt\n\n## Action:\na\n\n## Code:\n```python\npyautogui.click(x=12", "never closed"),
    ("complete_line_open_fence", "## Code:\n```python\npyautogui.click(x=120, y=345)\n", "never closed"),
    ("mid_thought", "## Thought:\nI will click the fi", "truncated"),
    ("no_fence_mid_call", "## Code:\npyautogui.click(x=120, y=3", "does not parse"),
    ("no_fence_mid_string", "## Code:\npyautogui.write(message='final.t", "does not parse"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in TRUNCATED], ids=[c[0] for c in TRUNCATED])
def test_truncated_outputs_raise(text, reason):
    with pytest.raises(ModelOutputError) as info:
        ADAPTER.parse(text, IDENTITY)
    assert info.value.raw_text == text
    assert reason in info.value.reason


@pytest.mark.parametrize("code", [c[1] for c in CALL_CASES], ids=[c[0] for c in CALL_CASES])
def test_every_cut_before_the_closing_fence_raises(code):
    """A response cut anywhere before its code fence closes (max_new_tokens reached) is never taken as complete."""
    text = _response(code)
    closing = text.rindex("```")
    for end in range(0, closing + 3):
        with pytest.raises(ModelOutputError):
            ADAPTER.parse(text[:end], IDENTITY)
    assert ADAPTER.parse(text[: closing + 3], IDENTITY).actions  # the fence closed: complete


# ---------------------------------------------------------------------------------------------------------------
# Prompts and history


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_l2_system_prompt_text():
    assert L2_SYSTEM_PROMPT.startswith(
        "You are a GUI agent. You are given a task and a screenshot of the screen. You need to perform a series of "
        "pyautogui actions to complete the task.\n\nFor each step, provide your response in this format:\n\nThought:\n"
        "  - Step by Step Progress Assessment:\n"
    )
    assert '    - For window control buttons, identify correctly (minimize "—", maximize "□", close "X")\n' in L2_SYSTEM_PROMPT
    assert '\n\nFinally, output the action as PyAutoGUI code or the following functions:\n- {"name": ' in L2_SYSTEM_PROMPT
    assert L2_SYSTEM_PROMPT.endswith('"required": ["status"]}}')
    for spec in L2_SYSTEM_PROMPT.split("\n")[-2:]:
        assert json.loads(spec[2:])["name"] in ("computer.triple_click", "computer.terminate")


def test_prefix_and_step_turns():
    system, task = ADAPTER.system_and_task_messages(TASK)
    assert system == {"role": "system", "content": L2_SYSTEM_PROMPT}
    assert task == {"role": "user", "content": f"# Task Instruction:\n{TASK}\n"}
    shot = synthetic_screenshot(64, 48)
    turn = ADAPTER.observation_message(shot, 3)
    assert turn == {"role": "user", "content": [{"type": "image", "image": shot}, {"type": "text", "text": STEP_REQUEST}]}
    assert STEP_REQUEST == (
        "\nPlease generate the next move according to the screenshot, task instruction and previous steps (if provided).\n"
    )


RESPONSES = [
    _response("pyautogui.click(x=100, y=200)"),
    _response("pyautogui.press('f2')"),
    _response("pyautogui.hotkey('ctrl', 'a')\npyautogui.write(message='final.txt\\n')"),
    _response("computer.terminate(status='success')"),
]


def test_history_is_append_only(processor):
    """Rendered with the Qwen2.5-VL template (OpenCUA's own Kimi-style template is remote code, not available)."""
    shots = [synthetic_screenshot(64 + 8 * i, 48, seed=i) for i in range(len(RESPONSES))]
    for k in range(len(RESPONSES)):
        done = processor.render(ADAPTER.conversation(TASK, shots[:k], RESPONSES[:k]), add_generation_prompt=False)
        asked = processor.render(ADAPTER.conversation(TASK, shots[: k + 1], RESPONSES[:k]), add_generation_prompt=True)
        answered = processor.render(ADAPTER.conversation(TASK, shots[: k + 1], RESPONSES[: k + 1]), add_generation_prompt=False)
        assert answered.startswith(done)
        assert asked + RESPONSES[k] + "<|im_end|>\n" == answered
        assert answered.startswith(
            f"<|im_start|>system\n{L2_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n# Task Instruction:\n{TASK}\n<|im_end|>\n"
        )
        assert answered.count("<|vision_start|><|image_pad|><|vision_end|>\nPlease generate the next move") == k + 1
        ids_done = processor.encode(done, shots[:k])["input_ids"][0].tolist()
        ids_answered = processor.encode(answered, shots[: k + 1])["input_ids"][0].tolist()
        assert ids_answered[: len(ids_done)] == ids_done


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: OpenCUAAdapter(coordinates="percent"), "auto"),
        (lambda: OpenCUAAdapter(max_new_tokens=0), "max_new_tokens"),
        (lambda: ADAPTER.system_and_task_messages(""), "non-empty"),
        (lambda: ADAPTER.parse(_response(CLICK_CODE), (100, 0)), "positive integers"),
        (lambda: ADAPTER.parse(None, IDENTITY), "str"),  # type: ignore[arg-type]
    ],
    ids=["bad_mode", "bad_budget", "empty_task", "bad_size", "not_text"],
)
def test_caller_errors_are_not_model_errors(make, error):
    with pytest.raises((ValueError, TypeError), match=error) as info:
        make()
    assert not isinstance(info.value, ModelOutputError)


def test_defaults():
    assert ADAPTER.name == "opencua"
    assert ADAPTER.max_new_tokens == 1000
    assert ADAPTER.coordinate_convention == "absolute"
    assert OpenCUAAdapter(coordinates="relative").coordinate_convention == "relative"


def test_registry_picks_opencua(tmp_path):
    config = {"architectures": ["OpenCUAForConditionalGeneration"], "model_type": "opencua"}
    assert isinstance(adapter_for_model("xlangai/OpenCUA-7B", config), OpenCUAAdapter)
    (tmp_path / "config.json").write_text(json.dumps(config))
    adapter = adapter_for_model(tmp_path, coordinates="auto")
    assert isinstance(adapter, OpenCUAAdapter) and adapter.coordinates == "auto"
    assert isinstance(adapter_for_model("xlangai/OpenCUA-7B"), OpenCUAAdapter)  # name hint, no config
    assert make_adapter("opencua") == ADAPTER


def test_registry_reports_a_corrupt_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        adapter_for_model(tmp_path)
