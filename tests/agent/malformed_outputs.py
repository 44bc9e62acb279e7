"""Hostile model answers, per adapter: each must become a model error (``error``: a part of the reason) or actions that
pass ``check_actions`` (``check``: what they must be). Shared by the parser tests and the run-level tests, which feed
them through the real loop and the real run record.

Every case the issue lists is here: non-finite and overflowing coordinates (``nan``, ``inf``, ``1e999``, ``1.7e308``),
a 400-digit integer, ``scroll(clicks=1e999)`` and ``scroll(clicks=1000000000)``, deeply nested expressions (``MemoryError``
and ``RecursionError`` from ``ast.parse``), an escaped lone surrogate in typed text; for Qwen3-VL's JSON tool calls
their analogues (``NaN``/``Infinity`` literals, ``1e999``, 400- and 5000-digit numbers, ``"pixels": 1e999``, deep
arrays, ``"\\ud800"``) and the tag structure's own failures.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from agent.models.base import MAX_SCROLL_AMOUNT, MAX_WAIT_SECONDS
from environments.actions import Action, Click, Drag, Hotkey, Hover, LongPress, Scroll, Type, Wait

DIGITS_400 = "9" * 400
DIGITS_5000 = "9" * 5000


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    error: str | None = None  # a part of the model error's reason; None: the answer parses
    check: Callable[[tuple[Action, ...]], bool] | None = None  # what the parsed actions must satisfy

    @property
    def parses(self) -> bool:
        return self.error is None


def ok(check: Callable[[tuple[Action, ...]], bool]) -> dict:
    return {"check": check}


def one(kind: type[Action], **values) -> Callable[[tuple[Action, ...]], bool]:
    """The answer is a single ``kind`` action whose fields have ``values``."""
    return lambda actions: len(actions) == 1 and isinstance(actions[0], kind) and all(
        getattr(actions[0], name) == value for name, value in values.items())


def exactly(*expected: Action) -> Callable[[tuple[Action, ...]], bool]:
    """The answer is exactly these actions."""
    return lambda actions: actions == expected


def _ui(call: str) -> str:
    return f"Thought: I act on the page.\nAction: {call}"


def _pt(x: str, y: str = "10") -> str:
    return f"click(point='<point>{x} {y}</point>')"


UI_TARS_CASES: list[Case] = [
    # -- numbers in points
    Case("nan_point", _ui(_pt("nan", "nan")), "not finite"),
    Case("inf_point", _ui(_pt("inf")), "not finite"),
    Case("minus_inf_point", _ui(_pt("-inf")), "not finite"),
    Case("infinity_word", _ui(_pt("Infinity")), "not finite"),
    Case("1e999_point", _ui(_pt("1e999")), "not finite"),
    Case("1.7e308_point", _ui(_pt("1.7e308")), "not on any screen"),
    Case("1e300_point", _ui(_pt("1e300", "-1e300")), "not on any screen"),
    Case("400_digit_point", _ui(_pt(DIGITS_400)), "not finite"),
    Case("400_digit_bare_int", _ui(f"click(point={DIGITS_400})"), "1 number(s)"),
    Case("5000_digit_bare_int", _ui(f"click(point={DIGITS_5000})"), "cannot parse"),
    Case("1e999_bare_float", _ui("click(point=1e999)"), "1 number(s)"),
    Case("1e999_box", _ui("click(start_box='(1e999,0,0,0)')"), "not finite"),
    Case("box_overflowing_centre", _ui("click(start_box='(1e308,1e308,1.7e308,1.7e308)')"), "not finite"),
    Case("box_with_nan", _ui("click(start_box='(1,2,nan,4)')"), "not finite"),
    Case("hex_number", _ui(_pt("0x10")), "not numbers"),
    Case("three_numbers", _ui("click(point='<point>1 2 3</point>')"), "3 number(s)"),
    Case("five_numbers", _ui("click(point='(1,2,3,4,5)')"), "5 number(s)"),
    Case("empty_point", _ui("click(point='<point></point>')"), "0 number(s)"),
    Case("bool_point", _ui("click(point=True)"), "not numbers"),
    Case("drag_end_nan", _ui("drag(start_point='<point>1 2</point>', end_point='<point>nan 2</point>')"), "not finite"),
    Case("scroll_point_inf", _ui("scroll(point='<point>inf 1</point>', direction='down')"), "not finite"),
    Case("second_call_bad", _ui(f"{_pt('5')}\n\n{_pt('nan')}"), "not finite"),
    Case("negative_point_clamped", _ui(_pt("-50", "-50")), **ok(one(Click, point=(0, 0)))),
    Case("far_negative_clamped", _ui(_pt("-999999", "5")), **ok(lambda a: isinstance(a[0], Click) and a[0].point[0] == 0)),
    Case("underscore_digits", _ui(_pt("1_0", "1_0")), **ok(lambda a: isinstance(a[0], Click))),
    Case("arabic_indic_digits", _ui(_pt("١٢", "٣٤")), **ok(lambda a: isinstance(a[0], Click))),
    # -- nesting and sizes that break parsers
    Case("nested_parens_200", _ui("click(point=" + "(" * 200 + "'1 2'" + ")" * 200 + ")"), "cannot parse"),
    Case("nested_lists_5000", _ui("click(point=" + "[" * 5000 + "]" * 5000 + ")"), "cannot parse"),
    Case("unary_chain_100000", _ui("click(point=" + "-" * 100000 + "1)"), "nested too deeply"),
    Case("not_chain_100000", _ui("click(point=" + "not " * 100000 + "x)"), "nested too deeply"),
    Case("binop_chain_200000", _ui("click(point='1'" + "+'1'" * 200000 + ")"), "nested too deeply"),
    Case("open_calls_20000", _ui("click(" * 20000), "not closed"),
    Case("quotes_101", _ui("type(content=" + "'" * 101 + ")"), **ok(one(Type, text="'" * 99))),
    Case("megabyte_of_garbage", "lorem ipsum " * 90000, "no 'Action:'"),
    Case("many_calls_300", _ui("\n\n".join(["hotkey(key='shift')"] * 300)), "at most 200"),
    Case("hotkey_20_keys", _ui("hotkey(key='" + " ".join("abcdefghijklmnopqrst") + "')"), "1 to 8 keys"),
    # -- text that is not valid Unicode
    Case("escaped_lone_surrogate", _ui("type(content='abc\\ud800def')"), "lone surrogate"),
    Case("escaped_low_surrogate", _ui("type(content='\\udfff')"), "lone surrogate"),
    Case("raw_lone_surrogate", _ui("type(content='a\ud800b')"), "lone surrogate"),
    Case("surrogate_in_finished", _ui("finished(content='\\ud800')"), "lone surrogate"),
    Case("surrogate_in_call_user", _ui("call_user(content='\\udbff')"), "lone surrogate"),
    Case("surrogate_in_app_name", _ui("open_app(app_name='\\udc80')"), "lone surrogate"),
    Case("surrogate_in_hotkey", _ui("hotkey(key='\\ud800')"), "lone surrogate"),
    Case("surrogate_in_thought", "Thought: \ud800\nAction: hotkey(key='shift')", "lone surrogate"),
    Case("escaped_surrogate_pair_joined", _ui("type(content='hi \\ud83d\\ude00')"), **ok(one(Type, text="hi \U0001f600"))),
    # -- control characters (typed into a terminal, \x04 is Ctrl+D and \x03 Ctrl+C, past the safety gate)
    Case("escaped_ctrl_d_in_text", _ui("type(content='exit\\x04')"), "control character U+0004"),
    Case("raw_escape_in_text", _ui("type(content='a\x1b[2Jb')"), "control character U+001B"),
    Case("tab_and_newline_typed", _ui("type(content='a\\tb\\n')"), **ok(one(Type, text="a\tb", submit=True))),
    # -- structure
    Case("empty", "", "no 'Action:'"),
    Case("whitespace", " \n\t ", "no 'Action:'"),
    Case("special_tokens_only", "<|im_end|><|endoftext|>", "no 'Action:'"),
    Case("nothing_after_action", "Thought: x\nAction: ", "nothing after 'Action:'"),
    Case("null_bytes", _ui("\x00\x00"), "control character U+0000"),
    Case("unknown_verb", _ui("explode(point='<point>1 2</point>')"), "unknown action 'explode'"),
    Case("unicode_verb", _ui("clíck(point='<point>1 2</point>')"), "unknown action"),
    Case("dotted_verb", _ui("pyautogui.click(x=1)"), "not a call"),
    Case("trailing_prose", _ui(_pt("5") + " and then more"), "not a call"),
    Case("extra_paren", _ui(_pt("5") + ")"), "cannot parse"),
    Case("positional", _ui("click('<point>1 2</point>')"), "positional"),
    Case("double_star", _ui("click(**{'point': '<point>1 2</point>'})"), "**kwargs"),
    Case("name_value", _ui("click(point=point)"), "not a string"),
    Case("list_value", _ui("click(point=['1', '2'])"), "not a string"),
    Case("bytes_value", _ui("type(content=b'abc')"), "not a string"),
    Case("complex_value", _ui("click(point=1j)"), "not a string"),
    Case("none_value", _ui("click(point=None)"), "not a string"),
    Case("fstring_value", _ui("type(content=f'{1}')"), "not a string"),
    Case("call_value", _ui("click(point=click(point='1 2'))"), "not a string"),
    Case("lambda_value", _ui("click(point=(lambda: '1 2')())"), "not a string"),
    Case("missing_point", _ui("click()"), "click needs point"),
    Case("scroll_no_direction", _ui("scroll(point='<point>1 2</point>')"), "direction"),
    Case("scroll_two_directions", _ui("scroll(direction='up down')"), "direction"),
    Case("think_never_closed", "<think>I will click", "never closed"),
    # -- odd but usable
    Case("scroll_without_point", _ui("scroll(direction='down')"), **ok(one(Scroll, direction="down", point=None))),
    Case("wait_with_junk_argument", _ui("wait(seconds='forever')"), **ok(one(Wait))),
    Case("hover_far_right_clamped", _ui("hover(point='<point>99999 10</point>')"), **ok(lambda a: isinstance(a[0], Hover))),
]


def _cua(code: str) -> str:
    return f"## Thought:\nI act on it.\n\n## Action:\nAct.\n\n## Code:\n```python\n{code}\n```\n"


OPENCUA_CASES: list[Case] = [
    # -- numbers in coordinates
    Case("1e999_x", _cua("pyautogui.click(x=1e999, y=1)"), "not finite"),
    Case("minus_1e999_y", _cua("pyautogui.click(x=1, y=-1e999)"), "not finite"),
    Case("1.7e308_x", _cua("pyautogui.click(x=1.7e308, y=1)"), "not on any screen"),
    Case("400_digit_x", _cua(f"pyautogui.click(x={DIGITS_400}, y=1)"), "too large"),
    Case("5000_digit_x", _cua(f"pyautogui.click(x={DIGITS_5000}, y=1)"), "does not parse"),
    Case("nan_call", _cua("pyautogui.click(x=float('nan'), y=1)"), "not a literal"),
    Case("inf_difference", _cua("pyautogui.click(x=1e999-1e999, y=1)"), "not a literal"),
    Case("bool_x", _cua("pyautogui.click(x=True, y=1)"), "numeric x and y"),
    Case("string_y", _cua("pyautogui.click(x=1, y='2')"), "numeric x and y"),
    Case("tuple_of_three", _cua("pyautogui.click((1, 2, 3))"), "needs two numbers"),
    Case("tuple_with_inf", _cua("pyautogui.click((1e999, 1))"), "not finite"),
    Case("moveTo_1e999", _cua("pyautogui.moveTo(1e999, 1)"), "not finite"),
    Case("moveTo_400_digits", _cua(f"pyautogui.moveTo(x=1, y=-{DIGITS_400})"), "too large"),
    Case("dragTo_inf", _cua("pyautogui.moveTo(1, 1)\npyautogui.dragTo(x=1e999, y=2)"), "not finite"),
    Case("scroll_at_inf", _cua("pyautogui.scroll(5, x=1e999, y=1)"), "not finite"),
    Case("negative_clamped", _cua("pyautogui.click(-50, -50)"), **ok(one(Click, point=(0, 0)))),
    Case("minus_a_million_clamped", _cua("pyautogui.click(x=-1000000, y=5)"),
         **ok(lambda a: isinstance(a[0], Click) and a[0].point[0] == 0)),
    # -- counts
    Case("scroll_1e999", _cua("pyautogui.scroll(clicks=1e999)"), "not finite"),
    Case("scroll_minus_1e999", _cua("pyautogui.scroll(-1e999)"), "not finite"),
    Case("scroll_400_digits", _cua(f"pyautogui.scroll(-{DIGITS_400})"), "too large"),
    Case("scroll_half", _cua("pyautogui.scroll(0.5)"), "non-zero"),
    Case("scroll_string", _cua("pyautogui.scroll('5')"), "must be a number"),
    Case("scroll_list", _cua("pyautogui.scroll([5])"), "must be a number"),
    Case("scroll_a_billion_clamped", _cua("pyautogui.scroll(clicks=1000000000)"),
         **ok(one(Scroll, direction="up", amount=MAX_SCROLL_AMOUNT))),
    Case("hscroll_minus_a_billion_clamped", _cua("pyautogui.hscroll(-1000000000)"),
         **ok(one(Scroll, direction="left", amount=MAX_SCROLL_AMOUNT))),
    Case("press_a_billion_times", _cua("pyautogui.press('a', presses=1000000000)"), "presses"),
    Case("press_inf_times", _cua("pyautogui.press('a', presses=1e999)"), "presses"),
    Case("press_minus_once", _cua("pyautogui.press('a', presses=-1)"), "presses"),
    Case("press_ten_thousand_keys", _cua(f"pyautogui.press({['a'] * 10000!r})"), "at most 200"),
    Case("press_lines_300", _cua("\n".join(["pyautogui.press('a')"] * 300)), "at most 200"),
    Case("hotkey_20_keys", _cua(f"pyautogui.hotkey(*{list('abcdefghijklmnopqrst')!r})"), "*args"),
    Case("hotkey_list_20_keys", _cua(f"pyautogui.hotkey({list('abcdefghijklmnopqrst')!r})"), "1 to 8 keys"),
    Case("sleep_1e999", _cua("time.sleep(1e999)"), "not finite"),
    Case("sleep_400_digits", _cua(f"time.sleep({DIGITS_400})"), "too large"),
    Case("sleep_negative", _cua("time.sleep(-1)"), "non-negative"),
    Case("sleep_a_billion_clamped", _cua("time.sleep(1000000000)"), **ok(one(Wait, seconds=MAX_WAIT_SECONDS))),
    # -- click arguments of the wrong type (once a TypeError: unhashable)
    Case("clicks_list", _cua("pyautogui.click(x=1, y=2, clicks=[1])"), "not a supported click"),
    Case("button_list", _cua("pyautogui.click(x=1, y=2, button=['left'])"), "not a supported click"),
    Case("button_dict", _cua("pyautogui.click(x=1, y=2, button={'a': 1})"), "not a supported click"),
    Case("clicks_1e999", _cua("pyautogui.click(x=1, y=2, clicks=1e999)"), "not a supported click"),
    # -- nesting that breaks ast
    Case("nested_parens_200", _cua("pyautogui.click(x=" + "(" * 200 + "1" + ")" * 200 + ", y=1)"), "does not parse"),
    Case("nested_lists_5000", _cua("pyautogui.click(x=" + "[" * 5000 + "]" * 5000 + ", y=1)"), "does not parse"),
    Case("unary_chain_100000", _cua("pyautogui.click(x=" + "-" * 100000 + "1, y=1)"), "nested too deeply"),
    Case("not_chain_100000", _cua("pyautogui.click(x=" + "not " * 100000 + "1, y=1)"), "nested too deeply"),
    Case("binop_chain_200000", _cua("pyautogui.click(x=" + "+".join(["1"] * 200000) + ", y=1)"), "nested too deeply"),
    Case("unary_chain_900_literal", _cua("pyautogui.click(x=" + "-" * 900 + "1, y=1)"), "not a literal"),
    Case("unary_chain_10", _cua("pyautogui.click(x=" + "-" * 10 + "1, y=1)"), "not a literal"),
    Case("single_minus_literal", _cua("pyautogui.click(x=-1, y=1)"), **ok(one(Click, point=(0, 1)))),
    Case("unary_chain_900_statement", _cua("x = " + "-" * 900 + "1"), "unsupported statement"),
    Case("deep_literal_list", _cua("pyautogui.write(" + "[" * 150 + "]" * 150 + ")"), "needs message"),
    # -- text that is not valid Unicode
    Case("escaped_lone_surrogate", _cua("pyautogui.write(message='abc\\ud800')"), "lone surrogate"),
    Case("escaped_low_surrogate", _cua("pyautogui.typewrite('\\udfff')"), "lone surrogate"),
    Case("raw_lone_surrogate", _cua("pyautogui.write('a\ud800')"), "lone surrogate"),
    Case("surrogate_in_terminate", _cua("computer.terminate(status='\\ud800')"), "lone surrogate"),
    Case("surrogate_key", _cua("pyautogui.press('\\ud800')"), "lone surrogate"),
    Case("escaped_ctrl_c_in_text", _cua("pyautogui.write('\\x03')"), "control character U+0003"),
    Case("nul_in_text", _cua("pyautogui.write('a\\x00b')"), "control character U+0000"),
    Case("escaped_surrogate_pair_joined", _cua("pyautogui.write('hi \\ud83d\\ude00')"),
         **ok(one(Type, text="hi \U0001f600"))),
    # -- structure
    Case("empty", "", "no code"),
    Case("garbage", "%%$# <<>> lorem", "no code"),
    Case("megabyte_of_garbage", "lorem ipsum " * 90000, "no code"),
    Case("fence_never_closed", "## Code:\n```python\npyautogui.click(x=1, y=2)\n", "never closed"),
    Case("null_bytes", _cua("pyautogui.click(x=1,\x00 y=2)"), "control character U+0000"),
    Case("unknown_call", _cua("pyautogui.screenshot()"), "unknown call"),
    Case("os_system", _cua("os.system('rm -rf ~')"), "unknown call"),
    Case("dunder_import", _cua("__import__('os').system('ls')"), "unknown call"),
    Case("assignment", _cua("x = 5"), "unsupported statement"),
    Case("loop", _cua("for _ in range(10**9):\n    pyautogui.press('down')"), "unsupported statement"),
    Case("double_star", _cua("pyautogui.click(**{'x': 1, 'y': 2})"), "**kwargs"),
    Case("write_bytes", _cua("pyautogui.write(b'abc')"), "needs message"),
    Case("terminate_without_status", _cua("computer.terminate()"), "needs status"),
    Case("only_imports", _cua("import os\nimport pyautogui"), "no action"),
    Case("click_without_anywhere", _cua("pyautogui.click()"), "no coordinates and no moveTo"),
    # -- odd but usable
    Case("drag_pair", _cua("pyautogui.moveTo(10, 10)\npyautogui.dragTo(20, 20)"), **ok(one(Drag))),
    Case("hotkey_list", _cua("pyautogui.hotkey(['ctrl', 'c'])"), **ok(one(Hotkey, keys=("ctrl", "c")))),
    Case("press_enter_list", _cua("pyautogui.press(['enter'])"), **ok(one(Hotkey, keys=("enter",)))),
]


def _qw(arguments: str, name: str = "computer_use") -> str:
    """A Qwen3-VL answer with one tool call whose ``arguments`` JSON is written literally (``NaN``, 400 digits...)."""
    return f'Action: Act on the page.\n<tool_call>\n{{"name": "{name}", "arguments": {arguments}}}\n</tool_call>'


def _qcall(name: str = "computer_use", **arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "\n</tool_call>"


def _qa(**arguments) -> str:
    return "Action: Act on the page.\n" + _qcall(**arguments)


def _qm(**arguments) -> str:
    return "Action: Act on the phone.\n" + _qcall("mobile_use", **arguments)


def _qclick(x: str, y: str = "10") -> str:
    return _qw(f'{{"action": "left_click", "coordinate": [{x}, {y}]}}')


_MOVE = _qcall(action="mouse_move", coordinate=[500, 500])
# On the 320x240 VIEWPORT a grid point (x, y) is pixel (round(0.32 x), round(0.24 y)), clamped: 1000 -> 319 / 239.

QWEN3_VL_CASES: list[Case] = [
    # -- numbers in coordinate
    Case("nan_coordinate", _qclick("NaN", "NaN"), "holds NaN"),
    Case("infinity_coordinate", _qclick("Infinity"), "holds Infinity"),
    Case("minus_infinity_coordinate", _qclick("1", "-Infinity"), "holds -Infinity"),
    Case("lowercase_nan", _qclick("nan"), "not valid JSON"),
    Case("1e999_coordinate", _qclick("1e999"), "overflows to inf"),
    Case("minus_1e999_coordinate", _qclick("1", "-1e999"), "overflows to -inf"),
    Case("1.7e308_coordinate", _qclick("1.7e308"), "outside the 1000x1000 screen"),
    Case("1e300_coordinates", _qclick("1e300", "-1e300"), "outside the 1000x1000 screen"),
    Case("400_digit_coordinate", _qclick(DIGITS_400), "integer of 400 digits"),
    Case("5000_digit_coordinate", _qclick(DIGITS_5000), "integer of 5000 digits"),
    Case("minus_5000_digit_coordinate", _qclick("1", "-" + DIGITS_5000), "integer of 5000 digits"),
    Case("16_digit_coordinate", _qclick("1234567890123456"), "integer of 16 digits"),
    Case("400_digit_fraction", _qclick("0." + "1" * 400), "written with 402 characters"),
    Case("5000_digit_exponent", _qclick("1e" + DIGITS_5000), "written with 5002 characters"),
    Case("negative_coordinate", _qclick("-1", "5"), "outside the 1000x1000 screen"),
    Case("coordinate_1001", _qclick("1001", "5"), "outside the 1000x1000 screen"),
    Case("hex_coordinate", _qclick("0x10"), "not valid JSON"),
    Case("plus_sign_coordinate", _qclick("+5"), "not valid JSON"),
    Case("drag_end_nan", _qw('{"action": "left_click_drag", "coordinate": [NaN, 2]}').replace(
        "<tool_call>", _MOVE + "\n<tool_call>", 1), "holds NaN"),
    Case("swipe_end_infinity", _qw('{"action": "swipe", "coordinate": [1, 2], "coordinate2": [Infinity, 2]}',
                                   "mobile_use"), "holds Infinity"),
    Case("scroll_at_overflowing_point", _qw('{"action": "scroll", "pixels": 1, "coordinate": [1e999, 1]}'),
         "overflows to inf"),
    Case("second_call_bad", _qa(action="left_click", coordinate=[5, 5]) + "\n" + _qcall(action="left_click",
         coordinate=[5, 5]).replace("[5, 5]", "[NaN, 5]"), "holds NaN"),
    # -- scroll pixels
    Case("pixels_nan", _qw('{"action": "scroll", "pixels": NaN}'), "holds NaN"),
    Case("pixels_1e999", _qw('{"action": "scroll", "pixels": 1e999}'), "overflows to inf"),
    Case("pixels_minus_1e999", _qw('{"action": "hscroll", "pixels": -1e999}'), "overflows to -inf"),
    Case("pixels_400_digits", _qw(f'{{"action": "scroll", "pixels": -{DIGITS_400}}}'), "integer of 400 digits"),
    Case("pixels_5000_digits", _qw(f'{{"action": "scroll", "pixels": {DIGITS_5000}}}'), "integer of 5000 digits"),
    Case("pixels_1e308", _qw('{"action": "scroll", "pixels": 1e308}'), "non-zero amount up to 1000"),
    Case("pixels_a_billion", _qa(action="scroll", pixels=1_000_000_000), "non-zero amount up to 1000"),
    Case("pixels_rounding_to_zero", _qa(action="scroll", pixels=0.4), "non-zero amount"),
    Case("pixels_string", _qa(action="scroll", pixels="5"), "'pixels' must be a number"),
    Case("pixels_list", _qa(action="scroll", pixels=[5]), "'pixels' must be a number"),
    Case("pixels_bool", _qa(action="hscroll", pixels=True), "'pixels' must be a number"),
    # -- times
    Case("time_nan", _qw('{"action": "wait", "time": NaN}'), "holds NaN"),
    Case("time_1e999", _qw('{"action": "wait", "time": 1e999}'), "overflows to inf"),
    Case("time_400_digits", _qw(f'{{"action": "wait", "time": {DIGITS_400}}}'), "integer of 400 digits"),
    Case("time_1e308", _qw('{"action": "wait", "time": 1e308}'), "between 0 and 600 seconds"),
    Case("time_negative", _qa(action="wait", time=-1), "between 0 and 600 seconds"),
    Case("time_bool", _qa(action="wait", time=False), "'time' must be a number"),
    Case("long_press_time_infinity", _qw('{"action": "long_press", "coordinate": [1, 2], "time": Infinity}',
                                         "mobile_use"), "holds Infinity"),
    # -- values of the wrong type
    Case("coordinate_string", _qa(action="left_click", coordinate="[1, 2]"), "must be [x, y], two numbers"),
    Case("coordinate_one_number", _qa(action="left_click", coordinate=[1]), "must be [x, y], two numbers"),
    Case("coordinate_bare_number", _qa(action="left_click", coordinate=5), "must be [x, y], two numbers"),
    Case("coordinate_three_numbers", _qa(action="left_click", coordinate=[1, 2, 3]), "must be [x, y], two numbers"),
    Case("coordinate_empty", _qa(action="mouse_move", coordinate=[]), "must be [x, y], two numbers"),
    Case("coordinate_nested", _qa(action="left_click", coordinate=[[1, 2]]), "must be [x, y], two numbers"),
    Case("coordinate_nested_pair", _qa(action="left_click", coordinate=[[1], [2]]), "must be [x, y], two numbers"),
    Case("coordinate_bools", _qa(action="left_click", coordinate=[True, False]), "must be [x, y], two numbers"),
    Case("coordinate_nulls", _qa(action="left_click", coordinate=[None, None]), "must be [x, y], two numbers"),
    Case("coordinate_object", _qa(action="left_click", coordinate={"x": 1, "y": 2}), "must be [x, y], two numbers"),
    Case("coordinate_long_list", _qa(action="left_click", coordinate=list(range(3000))), "must be [x, y], two numbers"),
    Case("keys_20", _qa(action="key", keys=list("abcdefghijklmnopqrst")), "at most 8 keys"),
    Case("keys_20_in_a_string", _qa(action="key", keys="+".join("abcdefghijklmnopqrst")), "at most 8 keys"),
    Case("key_10000_characters", _qa(action="key", keys=["x" * 10_000]), "keys of at most 32 characters"),
    Case("keys_object", _qa(action="key", keys={"ctrl": True}), "'keys' must be a non-empty array"),
    Case("keys_numbers", _qa(action="key", keys=[1, 2]), "'keys' must be a non-empty array"),
    Case("type_text_list", _qa(action="type", text=["a"]), "'text' must be a string"),
    Case("type_10001_characters", _qa(action="type", text="a" * 10_001), "has 10001 characters"),
    Case("terminate_status_object", _qa(action="terminate", status={"ok": True}), "must be one of ['success', 'failure']"),
    Case("system_button_list", _qm(action="system_button", button=["Back"]), "must be one of ['Back'"),
    # -- JSON and tag structure
    Case("nested_lists_5000", _qw('{"action": "left_click", "coordinate": ' + "[" * 5000 + "]" * 5000 + "}"),
         "nests 5002 levels deep"),
    Case("nested_objects_7", _qw('{"action": "wait", "time": 1, "x": ' + '{"a": ' * 5 + "1" + "}" * 5 + "}"),
         "nests 7 levels deep"),
    Case("nested_100000", "<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>", "above the limit of 20000"),
    Case("duplicate_coordinate", _qw('{"action": "left_click", "coordinate": [1, 2], "coordinate": [3, 4]}'),
         "repeats the key 'coordinate'"),
    Case("duplicate_name", '<tool_call>{"name": "computer_use", "name": "mobile_use", "arguments": {}}</tool_call>',
         "repeats the key 'name'"),
    Case("huge_tool_call", _qa(action="type", text="a" * 30_000), "above the limit of 20000"),
    Case("megabyte_tool_call", "<tool_call>" + "x" * 1_000_000 + "</tool_call>", "above the limit of 20000"),
    Case("many_calls_17", "\n".join([_qcall(action="scroll", pixels=-1)] * 17), "more than 16 tool calls"),
    Case("many_calls_100000", "<tool_call></tool_call>" * 100_000, "more than 16 tool calls"),
    Case("unclosed_call", "<tool_call>\n" + json.dumps({"name": "computer_use", "arguments": {"action": "wait", "time": 1}}),
         "never closed with </tool_call>"),
    Case("opening_tags_100000", "<tool_call>" * 100_000, "never closed with </tool_call>"),
    Case("cut_in_opening_tag", _qa(action="mouse_move", coordinate=[1, 2]) + "\n<tool_c", "ends inside a <tool_call>"),
    Case("stray_closing_tag", _qa(action="mouse_move", coordinate=[1, 2]) + "\n</tool_call>", "without its <tool_call>"),
    Case("closing_tag_first", "</tool_call>\n" + _qcall(action="mouse_move", coordinate=[1, 2]), "comes before any"),
    Case("nested_tool_call", "<tool_call>\n" + _qcall(action="mouse_move", coordinate=[1, 2]) + "\n</tool_call>",
         "opens inside another"),
    Case("closing_tag_in_typed_text", _qa(action="type", text="</tool_call>"), "without its <tool_call>"),
    Case("empty_tool_call", "<tool_call>\n\n</tool_call>", "an empty <tool_call></tool_call>"),
    Case("truncated_json", '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_cl\n</tool_call>',
         "not valid JSON"),
    Case("python_call_in_tags", "<tool_call>left_click(coordinate=[1, 2])</tool_call>", "not valid JSON"),
    Case("null_bytes_in_json", '<tool_call>{"name":\x00"computer_use"}</tool_call>', "not valid JSON"),
    Case("json_array", "<tool_call>[1, 2]</tool_call>", "must be a JSON object"),
    Case("arguments_missing", '<tool_call>{"name": "computer_use"}</tool_call>', 'needs "arguments"'),
    Case("name_list", '<tool_call>{"name": ["computer_use"], "arguments": {}}</tool_call>', 'needs "name"'),
    Case("uppercase_tags", "<TOOL_CALL>" + json.dumps({"name": "computer_use", "arguments": {}}) + "</TOOL_CALL>",
         "no <tool_call> in the output"),
    Case("unknown_tool", "Action: x\n" + _qcall("browser_use", action="left_click", coordinate=[1, 2]),
         "unknown tool 'browser_use'"),
    Case("tool_name_15000_characters", _qw('{"action": "wait", "time": 1}', "t" * 15_000),
         "; expected one of ['computer_use', 'mobile_use']"),
    Case("unknown_action", _qa(action="explode", coordinate=[1, 2]), "computer_use has no action 'explode'"),
    Case("action_list", _qa(action=["left_click"], coordinate=[1, 2]), "has no action ['left_click']"),
    Case("mobile_action_in_computer_use", _qa(action="swipe", coordinate=[1, 2], coordinate2=[3, 4]),
         "computer_use has no action 'swipe'"),
    Case("click_without_pointer", _qa(action="left_click"), "needs 'coordinate'"),
    Case("drag_without_pointer", _qa(action="left_click_drag", coordinate=[5, 5]), "drags from the cursor"),
    # -- text that is not valid Unicode
    Case("escaped_lone_surrogate", _qw('{"action": "type", "text": "abc\\ud800def"}'), "lone surrogate"),
    Case("keys_ctrl_plus_plus", _qw('{"action": "key", "keys": "ctrl++"}'), **ok(one(Hotkey, keys=("ctrl", "+")))),
    Case("keys_trailing_plus", _qw('{"action": "key", "keys": "ctrl+"}'), "non-empty array of key names"),
    Case("escaped_ctrl_d_in_text", _qw('{"action": "type", "text": "exit\\u0004"}'), "control character U+0004"),
    Case("escaped_del_in_text", _qw('{"action": "type", "text": "a\\u007f"}'), "control character U+007F"),
    Case("escaped_low_surrogate", _qw('{"action": "answer", "text": "\\udfff"}'), "lone surrogate"),
    Case("raw_lone_surrogate", _qa(action="type", text="a\ud800b"), "the output holds a lone surrogate"),
    Case("surrogate_in_thought", "Thought: \ud800\n" + _qcall(action="mouse_move", coordinate=[1, 2]),
         "the output holds a lone surrogate"),
    Case("surrogate_in_key_name", _qw('{"action": "wait", "time": 1, "\\ud800": 1}'), "lone surrogate"),
    Case("surrogate_in_keys", _qw('{"action": "key", "keys": ["\\udbff"]}'), "lone surrogate"),
    Case("surrogate_in_tool_name", '<tool_call>{"name": "\\ud800", "arguments": {}}</tool_call>', "lone surrogate"),
    Case("surrogate_in_app_name", _qw('{"action": "open", "text": "\\udc80"}', "mobile_use"), "lone surrogate"),
    # -- no usable answer at all
    Case("think_never_closed", "<think>I will click the box" + _qcall(action="left_click", coordinate=[1, 2]),
         "<think> block is never closed"),
    Case("think_never_closed_nothing_else", "<think>I will click the box", "no <tool_call> in the output"),
    Case("empty", "", "no <tool_call> in the output"),
    Case("whitespace", " \n\t ", "no <tool_call> in the output"),
    Case("garbage", "%%$# <<>> lorem", "no <tool_call> in the output"),
    Case("megabyte_of_garbage", "lorem ipsum " * 90000, "no <tool_call> in the output"),
    Case("special_tokens_only", "<|im_end|><|endoftext|>", "no <tool_call> in the output"),
    Case("bare_json", json.dumps({"name": "computer_use", "arguments": {"action": "wait", "time": 1}}),
         "no <tool_call> in the output"),
    # -- odd but usable
    Case("click_at_grid_edge", _qa(action="left_click", coordinate=[1000, 1000]), **ok(exactly(Click((319, 239))))),
    Case("click_at_grid_origin", _qa(action="left_click", coordinate=[0, 0]), **ok(exactly(Click((0, 0))))),
    Case("minus_zero_and_subnormal", _qclick("-0.0", "5e-324"), **ok(exactly(Click((0, 0))))),
    Case("fractional_point_near_edge", _qclick("999.99", "0.001"), **ok(exactly(Click((319, 0))))),
    Case("extra_whitespace", "\n\n   <tool_call>   \n\n  " + json.dumps(
        {"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": [500, 500]}}, indent=4)
         + "  \n\n </tool_call>  \n\n", **ok(exactly(Hover((160, 120))))),
    Case("two_calls_move_then_drag", _qa(action="mouse_move", coordinate=[500, 500]) + "\n"
         + _qcall(action="left_click_drag", coordinate=[1000, 0]),
         **ok(exactly(Hover((160, 120)), Drag((160, 120), (319, 0))))),
    Case("sixteen_calls", "\n".join([_qcall(action="scroll", pixels=-1)] * 16),
         **ok(exactly(*[Scroll("down", None, 1)] * 16))),
    Case("trailing_special_tokens", _qa(action="mouse_move", coordinate=[10, 10]) + "<|im_end|>" * 1000,
         **ok(exactly(Hover((3, 2))))),
    Case("scroll_500_clamped", _qa(action="scroll", pixels=500), **ok(exactly(Scroll("up", None, MAX_SCROLL_AMOUNT)))),
    Case("hscroll_minus_1000_clamped", _qa(action="hscroll", pixels=-1000),
         **ok(exactly(Scroll("left", None, MAX_SCROLL_AMOUNT)))),
    Case("wait_600_clamped", _qa(action="wait", time=600), **ok(exactly(Wait(MAX_WAIT_SECONDS)))),
    Case("long_press_600_seconds", _qm(action="long_press", coordinate=[500, 500], time=600),
         **ok(exactly(LongPress((160, 120))))),
    Case("key_string_slip", _qa(action="key", keys="ctrl+a"), **ok(exactly(Hotkey(("ctrl", "a"))))),
    Case("escaped_surrogate_pair_joined", _qw('{"action": "type", "text": "hi \\ud83d\\ude00"}'),
         **ok(exactly(Type("hi \U0001f600")))),
]
