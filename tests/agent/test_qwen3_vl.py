"""Qwen3-VL adapter: the cookbook's system prompt verbatim, layout, every action of computer_use / mobile_use, hostile
and truncated tool calls, coordinates through the resize, registry.

``tests/agent/data/qwen3_vl_*_system.txt`` were rendered by running the cookbook's own code, not ours: the classes of
``QwenLM/Qwen3-VL`` @ 9658872 ``cookbooks/utils/agent_function_call.py`` (``cfg={"display_width_px": 1000,
"display_height_px": 1000}``, with a stand-in ``BaseTool`` whose ``function`` is Qwen-Agent's) and ``FN_CALL_TEMPLATE``
of ``QwenLM/Qwen-Agent`` @ 31a4d36 ``nous_fncall_prompt.py``, joined as ``preprocess_fncall_messages`` joins the
system items; the computer_use text equals the system message printed in ``cookbooks/computer_use.ipynb``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from transformers import Qwen2VLImageProcessor, Qwen3VLConfig, Qwen3VLMoeConfig
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as transformers_smart_resize

from agent.coords import QWEN3_VL_PIXEL_LIMITS, resized_size
from agent.errors import ModelOutputError
from agent.models import Qwen3VLAdapter, adapter_for_model, make_adapter
from environments.actions import (
    Click,
    DoubleClick,
    Drag,
    Finished,
    Hotkey,
    Hover,
    PressBack,
    PressHome,
    RightClick,
    Scroll,
    Type,
    Wait,
)
from guikv.models.qwen3_vl_tools import enumerated_actions, tool_function
from guikv.testing import synthetic_screenshot, tiny_processor
from tests.agent.adapter_examples import qwen_call

DATA = Path(__file__).parent / "data"
ADAPTER = Qwen3VLAdapter()
SIZE = (2000, 1000)  # grid (x, y) -> pixel (2x, y)
TASK = "Open the first issue"


def call(**arguments) -> str:
    return qwen_call(arguments)


def mobile(**arguments) -> str:
    return qwen_call(arguments, "mobile_use")


def raw(arguments_json: str, name: str = "computer_use") -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {arguments_json}}}\n</tool_call>'


def parse(text: str, size=SIZE):
    return ADAPTER.parse(text, size)


# ---------------------------------------------------------------------------------------------------------------
# Prompt and layout


@pytest.mark.parametrize("tool", ["computer_use", "mobile_use"])
def test_system_prompt_is_the_cookbooks(tool):
    expected = (DATA / f"qwen3_vl_{tool}_system.txt").read_text(encoding="utf-8")
    assert Qwen3VLAdapter(tool=tool).system_text() == expected
    line = json.dumps({"type": "function", "function": tool_function(tool)}, ensure_ascii=False)
    assert f"<tools>\n{line}\n</tools>" in expected
    assert "* The screen's resolution is 1000x1000." in json.loads(line)["function"]["description"]


def test_action_lists_are_the_cookbooks():
    assert enumerated_actions("computer_use") == (
        "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click", "double_click",
        "triple_click", "scroll", "hscroll", "wait", "terminate", "answer",
    )
    assert enumerated_actions("mobile_use") == (
        "key", "click", "long_press", "swipe", "type", "system_button", "open", "wait", "terminate",
    )
    params = tool_function("computer_use")["parameters"]
    assert list(params["properties"]) == ["action", "keys", "text", "coordinate", "pixels", "time", "status"]
    assert params["required"] == ["action"]


def test_messages_and_rendering():
    system, user = ADAPTER.system_and_task_messages(TASK)
    assert system == {"role": "system", "content": ADAPTER.system_text()}
    assert user == {"role": "user", "content": TASK}
    shot = synthetic_screenshot(64, 48)
    assert ADAPTER.observation_message(shot, 3) == {"role": "user", "content": [{"type": "image", "image": shot}]}
    text = tiny_processor().render([system, user, ADAPTER.observation_message(shot, 0)], add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{ADAPTER.system_text()}<|im_end|>\n<|im_start|>user\n{TASK}<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n"
    )
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more")


def test_options():
    assert Qwen3VLAdapter(system_prompt="").system_text().startswith("# Tools\n\n")
    assert ADAPTER.model_pixel_limits == QWEN3_VL_PIXEL_LIMITS
    assert (ADAPTER.min_pixels, ADAPTER.max_pixels, ADAPTER.image_factor) == (65_536, 16_777_216, 32)
    assert ADAPTER.coordinate_convention == "thousandths"
    with pytest.raises(ValueError, match="unknown Qwen3-VL tool"):
        Qwen3VLAdapter(tool="browser_use")
    with pytest.raises(ValueError, match="max_new_tokens"):
        Qwen3VLAdapter(max_new_tokens=0)
    with pytest.raises(ValueError, match="pixel limits"):
        Qwen3VLAdapter(min_pixels=10, max_pixels=5)


def test_caller_errors_are_not_model_errors():
    with pytest.raises(TypeError):
        ADAPTER.parse(b"<tool_call></tool_call>", SIZE)
    with pytest.raises(ValueError):
        ADAPTER.parse(call(action="left_click", coordinate=[1, 2]), (0, 100))


# ---------------------------------------------------------------------------------------------------------------
# Outputs that parse

PARSE_CASES = [
    ("no_newlines", '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [1, 2]}}'
     "</tool_call>", (Click((2, 2)),)),
    ("compact_json", '<tool_call>\n{"name":"computer_use","arguments":{"action":"left_click","coordinate":[1,2]}}\n</tool_call>',
     (Click((2, 2)),)),
    ("float_point", call(action="left_click", coordinate=[100.4, 199.6]), (Click((201, 200)),)),
    ("grid_edges", call(action="left_click", coordinate=[0, 1000]), (Click((0, 999)),)),
    ("two_calls", call(action="left_click", coordinate=[10, 20]) + "\n" + call(action="type", text="hi"),
     (Click((20, 20)), Type("hi"))),
    ("click_at_pointer", call(action="mouse_move", coordinate=[10, 20]) + call(action="double_click"),
     (Hover((20, 20)), DoubleClick((20, 20)))),
    ("drag_after_click", call(action="left_click", coordinate=[10, 20]) + call(action="left_click_drag", coordinate=[30, 40]),
     (Click((20, 20)), Drag((20, 20), (60, 40)))),
    ("scroll_at_point", call(action="scroll", pixels=-3, coordinate=[500, 500]), (Scroll("down", (1000, 500), 3),)),
    ("scroll_at_pointer", call(action="left_click", coordinate=[5, 5]) + call(action="scroll", pixels=2),
     (Click((10, 5)), Scroll("up", (10, 5), 2))),
    ("scroll_float_pixels", call(action="scroll", pixels=-2.6), (Scroll("down", None, 3),)),
    ("hscroll_left", call(action="hscroll", pixels=-4), (Scroll("left", None, 4),)),
    ("key_aliases", call(action="key", keys=["Control", "Return"]), (Hotkey(("ctrl", "enter")),)),
    ("key_cmd", call(action="key", keys=["cmd", "a"]), (Hotkey(("win", "a")),)),
    ("key_string_slip", call(action="key", keys="ctrl+shift+t"), (Hotkey(("ctrl", "shift", "t")),)),
    ("key_plus_alone", call(action="key", keys=["+"]), (Hotkey(("+",)),)),
    ("type_unicode", call(action="type", text="Grüße 😀\n"), (Type("Grüße 😀", submit=True),)),
    ("type_escaped_pair", raw('{"action": "type", "text": "\\ud83d\\ude00"}'), (Type("😀"),)),
    ("type_empty", call(action="type", text=""), (Type(""),)),
    ("answer_then_terminate", call(action="answer", text="42") + call(action="terminate", status="success"),
     (Finished("42"), Finished("success"))),
    ("extra_argument_ignored", call(action="right_click", coordinate=[1, 1], button="left"), (RightClick((2, 1)),)),
    ("trailing_im_end", call(action="left_click", coordinate=[1, 2]) + "<|im_end|>", (Click((2, 2)),)),
    ("text_between_calls", call(action="left_click", coordinate=[1, 2]) + "\nthen\n" + call(action="wait", time=0),
     (Click((2, 2)), Wait(0.0))),
    ("mobile_home", mobile(action="system_button", button="Home"), (PressHome(),)),
    ("mobile_enter", mobile(action="system_button", button="Enter"), (Hotkey(("enter",)),)),
    ("mobile_key_back", mobile(action="key", text="KEYCODE_BACK"), (PressBack(),)),
    ("mobile_key_tab", mobile(action="key", text="tab"), (Hotkey(("tab",)),)),
    ("both_tools", call(action="left_click", coordinate=[1, 2]) + mobile(action="click", coordinate=[3, 4]),
     (Click((2, 2)), Click((6, 4)))),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_outputs_parse(text, expected):
    assert parse(text).actions == expected


@pytest.mark.parametrize(
    ("head", "thought", "summary"),
    [
        ("", "", None),
        ("I will click the first issue.\n", "I will click the first issue.", None),
        ("Thought: Click it.\nAction: \"Click the first issue.\"\n", "Click it.", "Click the first issue."),
        ("Action: Click the first issue.\n", "", "Click the first issue."),
        ("<think>\nThe list is open.\n</think>\n\n", "The list is open.", None),
        ("<think>long</think>\nThought: short\n", "short", None),
    ],
)
def test_thought_and_summary(head, thought, summary):
    text = head + call(action="left_click", coordinate=[1, 2])
    parsed = parse(text)
    assert (parsed.thought, parsed.action_summary, parsed.reflection, parsed.raw) == (thought, summary, None, text)


# ---------------------------------------------------------------------------------------------------------------
# Outputs that are model errors

_POINTER_FIRST = call(action="mouse_move", coordinate=[1, 1])
MALFORMED = [
    ("empty", "", "no <tool_call>"),
    ("whitespace", " \n\t", "no <tool_call>"),
    ("thought_only", "Thought: I will click.", "no <tool_call>"),
    ("bare_json", '{"name": "computer_use", "arguments": {"action": "wait", "time": 1}}', "no <tool_call>"),
    ("unclosed", '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait", "time": 1}}', "never closed"),
    ("unclosed_second", call(action="wait", time=1) + "\n<tool_call>\n{", "never closed"),
    ("cut_in_open_tag", call(action="wait", time=1) + "\n<tool_ca", "ends inside"),
    ("close_first", "</tool_call>" + call(action="wait", time=1), "comes before"),
    ("stray_close", call(action="wait", time=1) + "</tool_call>", "without its"),
    ("nested_open", "<tool_call>\n<tool_call>\n{}\n</tool_call>", "opens inside"),
    ("empty_block", "<tool_call>\n</tool_call>", "empty"),
    ("python_call", "<tool_call>left_click(1, 2)</tool_call>", "not valid JSON"),
    ("json_cut", '<tool_call>{"name": "computer_use", "arguments": {"action": "left_cl</tool_call>', "not valid JSON"),
    ("single_quotes", "<tool_call>{'name': 'computer_use', 'arguments': {}}</tool_call>", "not valid JSON"),
    ("trailing_comma", raw('{"action": "wait", "time": 1,}'), "not valid JSON"),
    ("json_array", "<tool_call>[1, 2]</tool_call>", "JSON object"),
    ("json_string", '<tool_call>"left_click"</tool_call>', "JSON object"),
    ("no_name", '<tool_call>{"arguments": {"action": "wait", "time": 1}}</tool_call>', '"name"'),
    ("name_number", '<tool_call>{"name": 7, "arguments": {}}</tool_call>', '"name"'),
    ("unknown_tool", qwen_call({"action": "wait", "time": 1}, "browser_use"), "unknown tool"),
    ("no_arguments", '<tool_call>{"name": "computer_use"}</tool_call>', "arguments"),
    ("arguments_string", '<tool_call>{"name": "computer_use", "arguments": "{\\"action\\": \\"wait\\"}"}</tool_call>',
     "arguments"),
    ("arguments_list", '<tool_call>{"name": "computer_use", "arguments": ["wait"]}</tool_call>', "arguments"),
    ("no_action", call(coordinate=[1, 2]), "has no action None"),
    ("action_number", call(action=3), "has no action 3"),
    ("unknown_action", call(action="fly", coordinate=[1, 2]), "has no action 'fly'"),
    ("mobile_action_in_computer_use", call(action="swipe", coordinate=[1, 2], coordinate2=[3, 4]), "has no action"),
    ("computer_action_in_mobile_use", mobile(action="left_click", coordinate=[1, 2]), "has no action"),
    ("nan", raw('{"action": "left_click", "coordinate": [NaN, 2]}'), "NaN"),
    ("infinity", raw('{"action": "left_click", "coordinate": [Infinity, 2]}'), "Infinity"),
    ("minus_infinity", raw('{"action": "left_click", "coordinate": [1, -Infinity]}'), "-Infinity"),
    ("overflow", raw('{"action": "left_click", "coordinate": [1e999, 2]}'), "overflows"),
    ("negative_overflow", raw('{"action": "scroll", "pixels": -1e999}'), "overflows"),
    ("nan_pixels", raw('{"action": "scroll", "pixels": NaN}'), "NaN"),
    ("int_400_digits", raw('{"action": "left_click", "coordinate": [' + "9" * 400 + ", 2]}"), "400 digits"),
    ("int_16_digits", raw('{"action": "wait", "time": 1234567890123456}'), "16 digits"),
    ("float_400_digits", raw('{"action": "left_click", "coordinate": [0.' + "1" * 400 + ", 2]}"), "characters"),
    ("nested_50", raw('{"action": "left_click", "coordinate": ' + "[" * 50 + "]" * 50 + "}"), "nests"),
    ("nested_100000", "<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>", "characters"),
    ("nested_2000_objects", "<tool_call>" + '{"a":' * 2000 + "1" + "}" * 2000 + "</tool_call>", "nests 2000 levels"),
    ("huge_block", raw('{"action": "type", "text": "' + "a" * 30_000 + '"}'), "limit"),
    ("duplicate_key", raw('{"action": "wait", "action": "terminate", "status": "success"}'), "repeats the key 'action'"),
    ("escaped_lone_surrogate", raw('{"action": "type", "text": "a\\ud800b"}'), "surrogate"),
    ("escaped_low_surrogate", raw('{"action": "answer", "text": "\\udc00"}'), "surrogate"),
    ("raw_lone_surrogate_in_thought", "Thought: \ud800\n" + call(action="wait", time=1), "surrogate"),
    ("lone_surrogate_in_key_name", raw('{"action": "wait", "time": 1, "\\ud800": 1}'), "surrogate"),
    ("coordinate_string", call(action="left_click", coordinate="[1, 2]"), "must be [x, y]"),
    ("coordinate_three", call(action="left_click", coordinate=[1, 2, 3]), "must be [x, y]"),
    ("coordinate_one", call(action="left_click", coordinate=[1]), "must be [x, y]"),
    ("coordinate_bools", call(action="left_click", coordinate=[True, False]), "must be [x, y]"),
    ("coordinate_strings", call(action="left_click", coordinate=["1", "2"]), "must be [x, y]"),
    ("coordinate_object", call(action="left_click", coordinate={"x": 1, "y": 2}), "must be [x, y]"),
    ("coordinate_nested", call(action="left_click", coordinate=[[1, 2]]), "must be [x, y]"),
    ("coordinate_negative", call(action="left_click", coordinate=[-1, 5]), "outside the 1000x1000"),
    ("coordinate_above_grid", call(action="left_click", coordinate=[1001, 5]), "outside the 1000x1000"),
    ("coordinate_null", call(action="left_click", coordinate=None), "needs 'coordinate'"),
    ("click_without_pointer", call(action="left_click"), "needs 'coordinate'"),
    ("drag_without_pointer", call(action="left_click_drag", coordinate=[5, 5]), "drags from the cursor"),
    ("drag_without_end", _POINTER_FIRST + call(action="left_click_drag"), "needs 'coordinate'"),
    ("move_without_point", call(action="mouse_move"), "needs 'coordinate'"),
    ("key_missing", call(action="key"), "needs 'keys'"),
    ("key_empty", call(action="key", keys=[]), "non-empty"),
    ("key_number", call(action="key", keys=[1]), "non-empty"),
    ("key_blank", call(action="key", keys=[""]), "non-empty"),
    ("key_too_many", call(action="key", keys=["a"] * 9), "at most 8 keys"),
    ("key_too_long", call(action="key", keys=["x" * 40]), "at most 8 keys of at most 32"),
    ("type_missing", call(action="type"), "needs 'text'"),
    ("type_number", call(action="type", text=5), "must be a string"),
    ("type_too_long", call(action="type", text="a" * 10_001), "10001 characters"),
    ("scroll_missing", call(action="scroll"), "needs 'pixels'"),
    ("scroll_zero", call(action="scroll", pixels=0), "non-zero"),
    ("scroll_rounds_to_zero", call(action="scroll", pixels=0.2), "non-zero"),
    ("scroll_string", call(action="scroll", pixels="5"), "must be a number"),
    ("scroll_bool", call(action="scroll", pixels=True), "must be a number"),
    ("scroll_too_far", call(action="scroll", pixels=1001), "up to 1000"),
    ("hscroll_too_far", call(action="hscroll", pixels=-5000), "up to 1000"),
    ("scroll_bad_point", call(action="scroll", pixels=1, coordinate=[2000, 1]), "outside"),
    ("wait_missing", call(action="wait"), "needs 'time'"),
    ("wait_negative", call(action="wait", time=-1), "between 0 and 600"),
    ("wait_too_long", call(action="wait", time=601), "between 0 and 600"),
    ("wait_string", call(action="wait", time="5"), "must be a number"),
    ("terminate_missing", call(action="terminate"), "needs 'status'"),
    ("terminate_bad_status", call(action="terminate", status="done"), "must be one of ['success', 'failure']"),
    ("answer_missing", call(action="answer"), "needs 'text'"),
    ("answer_list", call(action="answer", text=["a"]), "must be a string"),
    ("swipe_without_end", mobile(action="swipe", coordinate=[1, 2]), "needs 'coordinate2'"),
    ("swipe_bad_end", mobile(action="swipe", coordinate=[1, 2], coordinate2=[1, 1e5]), "outside"),
    ("long_press_without_time", mobile(action="long_press", coordinate=[1, 2]), "needs 'time'"),
    ("long_press_too_long", mobile(action="long_press", coordinate=[1, 2], time=1000), "between"),
    ("mobile_click_outside", mobile(action="click", coordinate=[0, 1001]), "outside"),
    ("system_button_menu", mobile(action="system_button", button="Menu"), "Menu button has no action"),
    ("system_button_lowercase", mobile(action="system_button", button="back"), "must be one of"),
    ("mobile_key_volume", mobile(action="key", text="volume_up"), "key event 'volume_up' has no action"),
    ("mobile_open_blank", mobile(action="open", text="  "), "app name"),
    ("mobile_type_missing", mobile(action="type"), "needs 'text'"),
    ("think_unclosed", "<think>The list is open." + call(action="wait", time=1), "<think> block is never closed"),
    ("too_many_calls", call(action="wait", time=1) * 17, "more than 16"),
]


def test_the_malformed_table_is_large():
    assert len(MALFORMED) >= 60
    assert len({case[0] for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_outputs_are_model_errors(text, reason):
    with pytest.raises(ModelOutputError) as info:
        parse(text)
    assert reason in info.value.reason
    assert info.value.raw_text == text


TRUNCATION_SOURCES = [
    call(action="left_click", coordinate=[447, 81]),
    "Thought: Type it.\n" + call(action="type", text="GUI agents\n"),
    call(action="mouse_move", coordinate=[1, 2]) + "\n" + call(action="left_click_drag", coordinate=[30, 40]),
    mobile(action="swipe", coordinate=[250, 800], coordinate2=[250, 200]),
]


@pytest.mark.parametrize("text", TRUNCATION_SOURCES)
def test_every_cut_inside_the_last_call_is_a_model_error(text):
    start = text.rindex("<tool_call>")
    parse(text)  # the whole text is fine
    for end in range(start + 1, len(text)):
        with pytest.raises(ModelOutputError):
            parse(text[:end])


# ---------------------------------------------------------------------------------------------------------------
# Coordinates

_rng = random.Random(3)
_CANDIDATES = [(_rng.randint(64, 6000), _rng.randint(64, 6000)) for _ in range(300)]
_SIZES = [(w, h) for w, h in _CANDIDATES if max(w, h) <= 200 * min(w, h)]


def test_smart_resize_matches_transformers_for_qwen3_vl():
    limits = QWEN3_VL_PIXEL_LIMITS
    for width, height in _SIZES:
        h_bar, w_bar = transformers_smart_resize(height, width, 32, limits.min_pixels, limits.max_pixels)
        assert resized_size((width, height), limits) == (w_bar, h_bar)
        assert limits.min_pixels <= w_bar * h_bar <= limits.max_pixels


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080), (250, 120)])
def test_the_checkpoint_image_processor_sees_the_same_size(size):
    """Qwen2VLImageProcessor configured as Qwen3-VL's preprocessor_config.json resizes to our model size."""
    processor = Qwen2VLImageProcessor(
        size={"longest_edge": 16_777_216, "shortest_edge": 65_536}, patch_size=16, temporal_patch_size=2, merge_size=2,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    grid = processor(images=[synthetic_screenshot(*size)], return_tensors="pt")["image_grid_thw"][0].tolist()
    assert (grid[2] * 16, grid[1] * 16) == ADAPTER.coordinate_map(size).model_size


@pytest.mark.parametrize("size", [(1920, 1080), (2560, 1440), (1080, 2400), (333, 777)])
def test_thousandths_on_the_resized_image_equal_thousandths_on_the_screenshot(size):
    """The notebook draws x/1000*resized_width on the resized image; mapped back that is x/1000*width (up to rounding)."""
    width, height = size
    resized_w, resized_h = ADAPTER.coordinate_map(size).model_size
    for x, y in [(0, 0), (447, 81), (500, 500), (999, 1), (1000, 1000), (123.4, 876.5)]:
        on_resized = (x / 1000 * resized_w, y / 1000 * resized_h)  # cookbook: coordinate_absolute
        back = (on_resized[0] * width / resized_w, on_resized[1] * height / resized_h)
        assert back == pytest.approx((x / 1000 * width, y / 1000 * height), abs=1e-9)
        (click,) = parse(call(action="left_click", coordinate=[x, y]), size).actions
        assert abs(click.point[0] - min(back[0], width - 1)) <= 0.5 and abs(click.point[1] - min(back[1], height - 1)) <= 0.5


# ---------------------------------------------------------------------------------------------------------------
# Registry


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "qwen3_vl"},
        {"model_type": "qwen3_vl_moe"},
        {"architectures": ["Qwen3VLForConditionalGeneration"]},
        {"architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "something_else"},
        Qwen3VLConfig(),
        Qwen3VLMoeConfig(),
    ],
    ids=["type", "moe_type", "arch", "moe_arch", "config", "moe_config"],
)
def test_registry_picks_qwen3_vl(config):
    adapter = adapter_for_model("some/checkpoint", config, tool="mobile_use")
    assert isinstance(adapter, Qwen3VLAdapter) and adapter.tool == "mobile_use"


def test_registry_reads_the_folder_and_the_name(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["Qwen3VLForConditionalGeneration"]}))
    assert isinstance(adapter_for_model(tmp_path), Qwen3VLAdapter)
    assert isinstance(adapter_for_model("Qwen/Qwen3-VL-8B-Instruct"), Qwen3VLAdapter)
    assert make_adapter("qwen3_vl") == ADAPTER


# ---------------------------------------------------------------------------------------------------------------
# In the agent loop (the tiny random Qwen2.5-VL stands in: no Qwen3-VL model family is registered in guikv yet)


def test_model_policy_feeds_the_prompt_and_records_unusable_answers(vl_model, processor):
    from agent.loop import ModelPolicy
    from environments.base import Observation

    adapter = Qwen3VLAdapter(max_new_tokens=8, min_pixels=32 * 32 * 4, max_pixels=32 * 32 * 64)
    policy = ModelPolicy(adapter, vl_model, processor, method="gui_kv", budget=0.2, retries=0)
    policy.reset(TASK)
    decision = policy.act(Observation(synthetic_screenshot(320, 240)))
    messages = policy.session.messages
    assert [m["role"] for m in messages] == ["system", "user", "user", "assistant"]
    assert messages[0]["content"] == adapter.system_text() and messages[1]["content"] == TASK
    (call_record,) = decision.calls
    assert decision.actions == () and call_record.error  # random weights never write a tool call
    assert call_record.prompt_tokens > len(processor.tokenizer(adapter.system_text())["input_ids"])
    policy.close()
