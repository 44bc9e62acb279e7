"""UI-TARS-1.5 adapter: prompts, append-only history, parsing of every verb and form, errors, registry."""

from __future__ import annotations

import ast
import math
import pickle

import pytest
from transformers import Qwen2_5_VLConfig, Qwen2Config
from ui_tars.action_parser import parse_action_to_structure_output
from ui_tars.prompt import COMPUTER_USE_DOUBAO

from agent.coords import UI_TARS_PIXEL_LIMITS
from agent.errors import ModelOutputError, UnknownModelError
from agent.models import ParsedOutput, UITarsAdapter, adapter_for_model, make_adapter
from agent.models.ui_tars import UI_TARS_PROMPTS
from environments.actions import (
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
from guikv.testing import synthetic_screenshot, tiny_processor

# A screenshot whose smart-resized size is itself: model pixels == screenshot pixels.
IDENTITY = (1932, 1092)
ADAPTER = UITarsAdapter()
TASK = "Search for 'GUI agents' on the wiki and open the first result"

VERB_CASES = [
    ("click", "click(point='<point>100 200</point>')", (Click((100, 200)),)),
    ("left_single", "left_single(point='<point>100 200</point>')", (Click((100, 200)),)),
    ("left_double", "left_double(point='<point>100 200</point>')", (DoubleClick((100, 200)),)),
    ("right_single", "right_single(point='<point>100 200</point>')", (RightClick((100, 200)),)),
    ("hover", "hover(point='<point>100 200</point>')", (Hover((100, 200)),)),
    ("long_press", "long_press(point='<point>100 200</point>')", (LongPress((100, 200)),)),
    (
        "drag",
        "drag(start_point='<point>10 20</point>', end_point='<point>300 400</point>')",
        (Drag((10, 20), (300, 400)),),
    ),
    (
        "drag_box_form",
        "drag(start_box='(10,20)', end_box='(300,400)')",
        (Drag((10, 20), (300, 400)),),
    ),
    (
        "select",
        "select(start_point='<point>10 20</point>', end_point='<point>300 400</point>')",
        (Drag((10, 20), (300, 400)),),
    ),
    ("hotkey", "hotkey(key='ctrl c')", (Hotkey(("ctrl", "c")),)),
    ("hotkey_three_keys", "hotkey(key='ctrl shift t')", (Hotkey(("ctrl", "shift", "t")),)),
    ("hotkey_arrow", "hotkey(key='arrowleft')", (Hotkey(("left",)),)),
    ("hotkey_arrows_with_modifier", "hotkey(key='shift arrowdown')", (Hotkey(("shift", "down")),)),
    ("hotkey_uppercase", "hotkey(key='Enter')", (Hotkey(("enter",)),)),
    ("hotkey_space", "hotkey(key='ctrl space')", (Hotkey(("ctrl", "space")),)),
    ("hotkey_plus_slip", "hotkey(key='ctrl+c')", (Hotkey(("ctrl", "c")),)),
    ("hotkey_aliases", "hotkey(key='control Escape')", (Hotkey(("ctrl", "esc")),)),
    ("press", "press(key='enter')", (Hotkey(("enter",)),)),
    ("keydown", "keydown(key='arrowup')", (Hotkey(("up",)),)),
    ("type", "type(content='hello world')", (Type("hello world"),)),
    ("type_submit", r"type(content='hello world\n')", (Type("hello world", submit=True),)),
    (
        "type_escapes",
        r"""type(content='It\'s \"quoted\"\nsecond line')""",
        (Type('It\'s "quoted"\nsecond line'),),
    ),
    ("type_unescaped_quote", "type(content='it's fine')", (Type("it's fine"),)),
    ("type_raw_newline_submits", "type(content='query\n')", (Type("query", submit=True),)),
    ("type_backslash", r"type(content='C:\\Users\\me')", (Type("C:\\Users\\me"),)),
    ("scroll_down", "scroll(point='<point>500 600</point>', direction='down')", (Scroll("down", (500, 600)),)),
    ("scroll_up", "scroll(point='<point>500 600</point>', direction='up')", (Scroll("up", (500, 600)),)),
    ("scroll_left", "scroll(point='<point>500 600</point>', direction='left')", (Scroll("left", (500, 600)),)),
    ("scroll_right", "scroll(point='<point>500 600</point>', direction='right')", (Scroll("right", (500, 600)),)),
    ("scroll_without_point", "scroll(direction='down')", (Scroll("down", None),)),
    ("wait", "wait()", (Wait(),)),
    ("finished", "finished(content='successful')", (Finished("successful"),)),
    ("finished_answer", r"finished(content='The price is \'$12\'')", (Finished("The price is '$12'"),)),
    ("finished_empty", "finished()", (Finished(""),)),
    ("call_user", "call_user()", (CallUser(""),)),
    ("open_app", "open_app(app_name='Settings')", (OpenApp("Settings"),)),
    ("press_home", "press_home()", (PressHome(),)),
    ("press_back", "press_back()", (PressBack(),)),
]

POINT_FORMS = [
    ("point_tag", "click(point='<point>100 200</point>')"),
    ("start_box_tuple", "click(start_box='(100,200)')"),
    ("start_box_spaced", "click(start_box='(100, 200)')"),
    ("box_tokens", "click(start_box='<|box_start|>(100,200)<|box_end|>')"),
    ("box_tokens_point_arg", "click(point='<|box_start|>(100,200)<|box_end|>')"),
    ("four_number_box_centre", "click(start_box='(90,190,110,210)')"),
    ("bbox_tag_centre", "click(start_box='<bbox>90 190 110 210</bbox>')"),
    ("float_point", "click(point='<point>100.4 199.6</point>')"),
]

# Outputs in the layouts UI-TARS-1.5 produces; each ends with the same click.
CLICK = "click(point='<point>100 200</point>')"
LAYOUTS = [
    (
        "thought_action",
        f"Thought: I should click the search box first.\nAction: {CLICK}",
        "I should click the search box first.",
        None,
    ),
    (
        "think_then_thought",
        f"<think>The page shows a wiki.\nThe search box is at the top.</think>\nThought: Click the search box.\nAction: {CLICK}",
        "Click the search box.",
        None,
    ),
    ("think_only", f"<think>Search box at the top.</think>\nAction: {CLICK}", "Search box at the top.", None),
    (
        "reflection",
        f"Reflection: The last click missed the box.\nAction_Summary: Click the search box again.\nAction: {CLICK}",
        "Click the search box again.",
        "The last click missed the box.",
    ),
    ("action_summary", f"Action_Summary: Click the search box.\nAction: {CLICK}", "Click the search box.", None),
    ("grounding", f"Action: {CLICK}", "", None),
    ("chinese", f"Thought: 我需要点击搜索框。\nAction: {CLICK}", "我需要点击搜索框。", None),
    ("special_tokens_kept", f"Thought: Click.\nAction: {CLICK}<|im_end|>", "Click.", None),
    ("multiline_thought", f"Thought: First line.\nSecond line.\n\nAction: {CLICK}\n", "First line.\nSecond line.", None),
]


def _output(call: str) -> str:
    return f"Thought: Next I act on the page.\nAction: {call}"


@pytest.mark.parametrize(("call", "expected"), [c[1:] for c in VERB_CASES], ids=[c[0] for c in VERB_CASES])
def test_every_verb(call, expected):
    parsed = ADAPTER.parse(_output(call), IDENTITY)
    assert parsed.actions == expected
    assert parsed.thought == "Next I act on the page."
    assert parsed.raw == _output(call)


@pytest.mark.parametrize("call", [c[1] for c in POINT_FORMS], ids=[c[0] for c in POINT_FORMS])
def test_both_coordinate_forms_and_boxes(call):
    assert ADAPTER.parse(_output(call), IDENTITY).actions == (Click((100, 200)),)


@pytest.mark.parametrize(("text", "thought", "reflection"), [c[1:] for c in LAYOUTS], ids=[c[0] for c in LAYOUTS])
def test_output_layouts(text, thought, reflection):
    parsed = ADAPTER.parse(text, IDENTITY)
    assert parsed.actions == (Click((100, 200)),)
    assert parsed.thought == thought
    assert parsed.reflection == reflection


@pytest.mark.parametrize("separator", ["\n\n", "\n"], ids=["blank_line", "newline"])
def test_multi_action_output(separator):
    calls = ["hotkey(key='ctrl l')", r"type(content='example.org\n')", "click(point='<point>5 6</point>')"]
    parsed = ADAPTER.parse("Thought: Go to the address bar.\nAction: " + separator.join(calls), IDENTITY)
    assert parsed.actions == (Hotkey(("ctrl", "l")), Type("example.org", submit=True), Click((5, 6)))


@pytest.mark.parametrize(
    ("action_text", "expected"),
    [
        ("type(content='it's')\n\nclick(point='<point>1 2</point>')", (Type("it's"), Click((1, 2)))),
        ("type(content='f(x)')\n\nclick(point='<point>1 2</point>')", (Type("f(x)"), Click((1, 2)))),
        ("click(point='<point>1 2</point>') click(point='<point>3 4</point>')", (Click((1, 2)), Click((3, 4)))),
    ],
    ids=["unescaped_quote_then_call", "parens_then_call", "same_line"],
)
def test_multi_action_with_awkward_content(action_text, expected):
    assert ADAPTER.parse(f"Thought: t\nAction: {action_text}", IDENTITY).actions == expected


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # The official parser rewrites point= / <point> everywhere, corrupting typed text; we do not.
        ("type(content='set point=5 at <point>1 2</point>')", Type("set point=5 at <point>1 2</point>")),
        ("type(content='Action: go')", Type("Action: go")),
        ("finished(content='It's done')", Finished("It's done")),
        ("type(content='f(x)\n\ng(y)')", Type("f(x)\n\ng(y)")),
    ],
    ids=["point_text_in_content", "action_word_in_content", "unescaped_quote_in_finished", "parens_in_content"],
)
def test_content_is_preserved(call, expected):
    assert ADAPTER.parse(_output(call), IDENTITY).actions == (expected,)


def _official(text: str, size: tuple[int, int]) -> tuple:
    """What ByteDance's parser + pyautogui conventions give, as our typed actions (test oracle)."""
    width, height = size

    def point(box: str) -> tuple[int, int]:
        x1, y1, x2, y2 = ast.literal_eval(box)
        return math.floor((x1 + x2) / 2 * width + 0.5), math.floor((y1 + y2) / 2 * height + 0.5)

    kinds = {
        "click": Click,
        "left_single": Click,
        "left_double": DoubleClick,
        "right_single": RightClick,
        "hover": Hover,
        "long_press": LongPress,
    }
    out = []
    for item in parse_action_to_structure_output(text, 1000, height, width):
        verb, args = item["action_type"], item["action_inputs"]
        if verb in kinds:
            out.append(kinds[verb](point(args["start_box"])))
        elif verb in ("drag", "select"):
            out.append(Drag(point(args["start_box"]), point(args["end_box"])))
        elif verb in ("hotkey", "press", "keydown"):
            mapping = {"arrowleft": "left", "arrowright": "right", "arrowup": "up", "arrowdown": "down"}
            out.append(Hotkey(tuple(mapping.get(k.lower(), k.lower()) for k in args["key"].split())))
        elif verb == "type":
            content = args.get("content", "")
            out.append(Type(content[:-1], True) if content.endswith("\n") else Type(content))
        elif verb == "scroll":
            box = args.get("start_box")
            out.append(Scroll(args["direction"], point(box) if box else None))
        elif verb == "finished":
            out.append(Finished(args.get("content", "")))
        else:
            out.append(
                {
                    "wait": Wait(),
                    "call_user": CallUser(),
                    "press_home": PressHome(),
                    "press_back": PressBack(),
                    "open_app": OpenApp(args.get("app_name", "")),
                }[verb]
            )
    return tuple(out)


# Where the official parser itself fails (documented in agent/models/ui_tars.py), and where we add key aliases.
_OFFICIAL_FAILS = ("type_raw_newline_submits", "box_tokens", "box_tokens_point_arg", "bbox_tag_centre", "float_point")
_OURS_ONLY = (*_OFFICIAL_FAILS, "hotkey_plus_slip", "hotkey_aliases")
_ORACLE_CASES = [c for c in VERB_CASES if c[0] not in _OURS_ONLY] + [
    (f"form_{name}", call, None) for name, call in POINT_FORMS if name not in _OURS_ONLY
]


@pytest.mark.parametrize("size", [IDENTITY, (1920, 1080), (2560, 1600), (1280, 720)])
@pytest.mark.parametrize("call", [c[1] for c in _ORACLE_CASES], ids=[c[0] for c in _ORACLE_CASES])
def test_agrees_with_the_official_parser_on_well_formed_outputs(call, size, capsys):
    text = _output(call)
    assert ADAPTER.parse(text, size).actions == _official(text, size)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("name", _OFFICIAL_FAILS)
def test_official_parser_falls_short_where_documented(name, capsys):
    call = dict([(c[0], c[1]) for c in VERB_CASES] + POINT_FORMS)[name]
    with pytest.raises((ValueError, AssertionError)):
        _official(_output(call), IDENTITY)
    capsys.readouterr()


def test_official_parser_corrupts_typed_text_that_mentions_points():
    text = _output("type(content='set point=5')")
    assert _official(text, IDENTITY) == (Type("set start_box=5"),)
    assert ADAPTER.parse(text, IDENTITY).actions == (Type("set point=5"),)


def test_multi_action_agrees_with_the_official_parser():
    text = "Thought: t\nAction: click(point='<point>640 360</point>')\n\ntype(content='abc\\n')"
    assert ADAPTER.parse(text, (1920, 1080)).actions == _official(text, (1920, 1080))


def test_model_pixels_are_mapped_to_screenshot_pixels():
    assert ADAPTER.parse(_output("click(point='<point>966 546</point>')"), (1920, 1080)).actions == (Click((960, 540)),)
    # DPR 2: a 2560x1600 screenshot (1280x800 CSS); we return screenshot pixels, the env divides by 2.
    parsed = ADAPTER.parse(_output("drag(start_point='<point>1274 798</point>', end_point='<point>0 0</point>')"), (2560, 1600))
    assert parsed.actions == (Drag((1280, 800), (0, 0)),)


def test_out_of_range_points_are_clamped():
    assert ADAPTER.parse(_output("click(point='<point>5000 -3</point>')"), (1920, 1080)).actions == (Click((1919, 0)),)


def test_thousandths_convention_for_older_deployments():
    adapter = UITarsAdapter(coordinates="thousandths")
    assert adapter.parse(_output("click(start_box='(500,250)')"), (1920, 1080)).actions == (Click((960, 270)),)


MALFORMED = [
    ("no_action", "Thought: I will click the search button.", "no 'Action:'"),
    ("empty", "", "no 'Action:'"),
    ("garbage", "%%$# lorem ipsum <<>>", "no 'Action:'"),
    ("nothing_after_action", "Thought: x\nAction: ", "nothing after 'Action:'"),
    ("unknown_verb", "Action: explode(point='<point>1 2</point>')", "unknown action 'explode'"),
    ("extra_paren", "Action: click(point='<point>1 2</point>'))", "cannot parse"),
    ("missing_open_paren", "Action: click(point='<point>1 2</point>'", "not closed"),
    ("double_open_paren", "Action: click((point='<point>1 2</point>')", "cannot parse"),
    ("not_a_call", "Action: click", "not a call"),
    ("prose_action", "Action: I would click the button", "not a call"),
    ("dotted_call_never_evaluated", "Action: os.system('rm -rf /')", "not a call"),
    ("positional", "Action: click('<point>1 2</point>')", "positional"),
    ("non_string_value", "Action: click(point=point)", "not a string"),
    ("missing_point", "Action: click()", "click needs point"),
    ("drag_without_end", "Action: drag(start_point='<point>1 2</point>')", "end_point"),
    ("select_mind2web_form", "Action: select(point='<point>1 2</point>', content='Blue')", "end_point"),
    ("bad_direction", "Action: scroll(point='<point>1 2</point>', direction='sideways')", "direction"),
    ("one_number_point", "Action: click(point='<point>1</point>')", "1 number"),
    ("words_in_point", "Action: click(point='<point>a b</point>')", "not numbers"),
    ("empty_hotkey", "Action: hotkey(key='')", "needs key"),
    ("open_app_without_name", "Action: open_app()", "app_name"),
    ("think_never_closed", "<think>The page has a search box and", "never closed"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_outputs_raise_model_output_error(text, reason):
    with pytest.raises(ModelOutputError) as info:
        ADAPTER.parse(text, IDENTITY)
    assert info.value.raw_text == text
    assert reason in info.value.reason
    assert reason in str(info.value)


TRUNCATED = [
    ("mid_call", "Thought: Click it.\nAction: click(point='<point>100 200</point>'"),
    ("mid_point", "Thought: Click it.\nAction: click(point='<point>100 2"),
    ("mid_type_content", "Thought: Type it.\nAction: type(content='hello wor"),
    ("mid_second_call", "Thought: t\nAction: click(point='<point>1 2</point>')\n\ntype(content='ab"),
    ("mid_thought", "Thought: I will click the sea"),
    ("mid_verb", "Thought: t\nAction: left_dou"),
]


@pytest.mark.parametrize("text", [c[1] for c in TRUNCATED], ids=[c[0] for c in TRUNCATED])
def test_truncated_outputs_raise(text):
    with pytest.raises(ModelOutputError) as info:
        ADAPTER.parse(text, IDENTITY)
    assert info.value.raw_text == text
    assert "truncated" in info.value.reason


@pytest.mark.parametrize(
    "call",
    [c[1] for c in VERB_CASES] + [c[1] for c in POINT_FORMS],
    ids=[c[0] for c in VERB_CASES] + [c[0] for c in POINT_FORMS],
)
def test_every_cut_inside_the_action_raises(call):
    """An output cut anywhere before its last character (max_new_tokens reached) is never taken as complete."""
    text = _output(call)
    start = text.index("Action:")
    for end in range(start, len(text)):
        with pytest.raises(ModelOutputError):
            ADAPTER.parse(text[:end], IDENTITY)


def test_model_output_error_pickles_with_its_fields():
    error = pickle.loads(pickle.dumps(ModelOutputError("Action: click(", "not closed")))
    assert (error.raw_text, error.reason) == ("Action: click(", "not closed")


def test_parsed_output_is_frozen():
    parsed = ADAPTER.parse(_output(CLICK), IDENTITY)
    assert isinstance(parsed, ParsedOutput)
    with pytest.raises(AttributeError):
        parsed.thought = "changed"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------------------
# Prompts and history


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_prefix_is_the_official_layout():
    system, user = ADAPTER.system_and_task_messages(TASK)
    assert system == {"role": "system", "content": "You are a helpful assistant."}
    assert user["role"] == "user"
    assert user["content"] == COMPUTER_USE_DOUBAO.replace("{language}", "English").replace("{instruction}", TASK)
    shot = synthetic_screenshot(64, 48)
    assert ADAPTER.observation_message(shot, 0) == {"role": "user", "content": [{"type": "image", "image": shot}]}
    assert ADAPTER.assistant_message("Action: wait()", 0) == {"role": "assistant", "content": "Action: wait()"}


@pytest.mark.parametrize("prompt", sorted(UI_TARS_PROMPTS))
@pytest.mark.parametrize("language", ["English", "Chinese"])
def test_every_prompt_renders_with_the_instruction(prompt, language, processor):
    adapter = UITarsAdapter(prompt=prompt, language=language)
    text = processor.render(adapter.system_and_task_messages(TASK), add_generation_prompt=False)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nYou are a GUI agent.")
    assert f"## User Instruction\n{TASK}" in text
    assert "{instruction}" not in text and "{language}" not in text
    if prompt != "grounding":
        assert f"- Use {language} in `Thought` part." in text
        assert "Thought: ..." in text or "Thought: a small plan" in text


def test_prompt_texts():
    computer = ADAPTER.prompt_text(TASK)
    assert "hotkey(key='ctrl c') # Split keys with a space and use lowercase." in computer
    assert r"type(content='xxx') # Use escape characters \', \", and \n in content part" in computer
    think = UITarsAdapter(prompt="computer_think").prompt_text(TASK)
    assert "<think>detailed reasoning content here</think>" in think
    assert "provide the user with the answer. \nThe reasoning process" in think  # trailing space, as in P.1
    assert "use \\n at the end of content. \nscroll(" in think
    assert "finished(content='successful|failure')" in think
    assert think.endswith(
        f"## User Instruction\n{TASK}\n\nPlease generate the next move according to the screenshot and task instruction.\n"
    )
    grounding = UITarsAdapter(prompt="grounding").prompt_text(TASK)
    assert "click(point='<point>x1 y1</point>'')" in grounding and "Thought" not in grounding
    mobile = UITarsAdapter(prompt="mobile").prompt_text(TASK)
    assert "press_home()" in mobile and "open_app(app_name='')" in mobile


def test_braces_in_the_instruction_are_kept():
    assert "## User Instruction\nfill {name} with {language}\n" in ADAPTER.prompt_text("fill {name} with {language}")


RESPONSES = [
    "Thought: Click the search box.\nAction: click(point='<point>100 200</point>')",
    "<think>Box focused.</think>\nThought: Type the query.\nAction: type(content='GUI agents\\n')",
    "Thought: Open the first result.\nAction: click(point='<point>50 60</point>')",
    "Thought: Done.\nAction: finished(content='successful')",
]


def _conversation(adapter, k: int, answered: int):
    shots = [synthetic_screenshot(64 + 8 * i, 48, seed=i) for i in range(k)]
    return adapter.conversation(TASK, shots, RESPONSES[:answered]), shots


@pytest.mark.parametrize("prompt", ["computer", "computer_think", "grounding"])
def test_history_is_append_only(prompt, processor):
    adapter = UITarsAdapter(prompt=prompt)
    for k in range(len(RESPONSES)):
        done, _ = _conversation(adapter, k, k)
        asked, _ = _conversation(adapter, k + 1, k)
        answered, shots = _conversation(adapter, k + 1, k + 1)
        done_text = processor.render(done, add_generation_prompt=False)
        answered_text = processor.render(answered, add_generation_prompt=False)
        asked_text = processor.render(asked, add_generation_prompt=True)
        # k finished steps render as a prefix of k + 1 ...
        assert answered_text.startswith(done_text)
        # ... and the generation prompt + the generated text + <|im_end|>\n is exactly the next state.
        assert asked_text + RESPONSES[k] + "<|im_end|>\n" == answered_text
        assert answered_text.count("<|image_pad|>") == k + 1
        assert TASK in answered_text
        # Token level, with every screenshot expanded to its image pads.
        ids_done = processor.encode(done_text, shots[:k])["input_ids"][0].tolist()
        ids_answered = processor.encode(answered_text, shots)["input_ids"][0].tolist()
        assert ids_answered[: len(ids_done)] == ids_done


def test_conversation_rejects_mismatched_history():
    with pytest.raises(ValueError, match="response"):
        ADAPTER.conversation(TASK, [synthetic_screenshot(32, 32)], RESPONSES[:3])


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: ADAPTER.system_and_task_messages("  "), "non-empty"),
        (lambda: ADAPTER.observation_message("shot.png", 0), "PIL"),  # type: ignore[arg-type]
        (lambda: ADAPTER.observation_message(synthetic_screenshot(8, 8), -1), "non-negative"),
        (lambda: ADAPTER.parse(_output(CLICK), (0, 100)), "positive integers"),
        (lambda: UITarsAdapter(prompt="desktop"), "computer_think"),
        (lambda: UITarsAdapter(language="French"), "Chinese"),
        (lambda: UITarsAdapter(coordinates="percent"), "thousandths"),
        (lambda: UITarsAdapter(min_pixels=10, max_pixels=5), "min_pixels"),
    ],
    ids=["empty_task", "not_an_image", "negative_step", "bad_size", "bad_prompt", "bad_language", "bad_convention", "bad_limits"],
)
def test_caller_errors_are_not_model_errors(call, error):
    with pytest.raises((ValueError, TypeError), match=error) as info:
        call()
    assert not isinstance(info.value, ModelOutputError)


def test_defaults():
    assert ADAPTER.name == "ui_tars"
    assert ADAPTER.max_new_tokens == 1000
    assert ADAPTER.model_pixel_limits == UI_TARS_PIXEL_LIMITS
    assert ADAPTER.coordinate_map((1920, 1080)).model_size == (1932, 1092)


# ---------------------------------------------------------------------------------------------------------------
# Registry


def test_registry_picks_ui_tars_for_qwen2_5_vl(tmp_path):
    config = Qwen2_5_VLConfig()
    config.architectures = ["Qwen2_5_VLForConditionalGeneration"]
    assert isinstance(adapter_for_model("ByteDance-Seed/UI-TARS-1.5-7B", config), UITarsAdapter)
    config.save_pretrained(tmp_path)
    adapter = adapter_for_model(tmp_path, prompt="mobile")
    assert isinstance(adapter, UITarsAdapter) and adapter.prompt == "mobile"
    assert isinstance(adapter_for_model("x", {"model_type": "qwen2_5_vl"}), UITarsAdapter)
    assert isinstance(adapter_for_model("ByteDance-Seed/UI-TARS-1.5-7B"), UITarsAdapter)  # name hint, no config
    assert make_adapter("ui_tars", language="Chinese") == UITarsAdapter(language="Chinese")


def test_registry_errors_name_what_exists():
    with pytest.raises(UnknownModelError, match=r"opencua.*ui_tars"):
        make_adapter("gpt")
    config = Qwen2Config()
    config.architectures = ["Qwen2ForCausalLM"]
    with pytest.raises(UnknownModelError, match=r"Qwen2ForCausalLM.*Qwen2_5_VLForConditionalGeneration"):
        adapter_for_model("some/text-model", config)
