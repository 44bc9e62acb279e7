"""Hostile model answers, per adapter: each must become a model error (``error``: a part of the reason) or actions that
pass ``check_actions`` (``check``: what they must be). Shared by the parser tests and the run-level tests, which feed
them through the real loop and the real run record.

Every case the issue lists is here: non-finite and overflowing coordinates (``nan``, ``inf``, ``1e999``, ``1.7e308``),
a 400-digit integer, ``scroll(clicks=1e999)`` and ``scroll(clicks=1000000000)``, deeply nested expressions (``MemoryError``
and ``RecursionError`` from ``ast.parse``), an escaped lone surrogate in typed text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.models.base import MAX_SCROLL_AMOUNT, MAX_WAIT_SECONDS
from environments.actions import Action, Click, Drag, Hotkey, Hover, Scroll, Type, Wait

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
    # -- structure
    Case("empty", "", "no 'Action:'"),
    Case("whitespace", " \n\t ", "no 'Action:'"),
    Case("special_tokens_only", "<|im_end|><|endoftext|>", "no 'Action:'"),
    Case("nothing_after_action", "Thought: x\nAction: ", "nothing after 'Action:'"),
    Case("null_bytes", _ui("\x00\x00"), "not a call"),
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
    Case("escaped_surrogate_pair_joined", _cua("pyautogui.write('hi \\ud83d\\ude00')"),
         **ok(one(Type, text="hi \U0001f600"))),
    # -- structure
    Case("empty", "", "no code"),
    Case("garbage", "%%$# <<>> lorem", "no code"),
    Case("megabyte_of_garbage", "lorem ipsum " * 90000, "no code"),
    Case("fence_never_closed", "## Code:\n```python\npyautogui.click(x=1, y=2)\n", "never closed"),
    Case("null_bytes", _cua("pyautogui.click(x=1,\x00 y=2)"), "does not parse"),
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
