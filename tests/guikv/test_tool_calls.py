"""``<tool_call>`` splitting and strict JSON: each bound accepted at its limit and rejected just past it."""

from __future__ import annotations

import pytest

from guikv.models.tool_calls import (
    MAX_CALL_CHARS,
    MAX_CALLS,
    MAX_DEPTH,
    MAX_FLOAT_CHARS,
    MAX_INT_DIGITS,
    BadToolCall,
    ToolCall,
    loads_strict,
    parse_tool_call,
    split_tool_calls,
)


def test_split_keeps_the_head_and_every_body():
    text = 'I think.\n<tool_call>\n{"a": 1}\n</tool_call> and <tool_call>{"b": 2}</tool_call>\n<|im_end|><|endoftext|>'
    assert split_tool_calls(text) == ("I think.\n", ['{"a": 1}', '{"b": 2}'])


def test_call_count_limit():
    block = "<tool_call>{}</tool_call>"
    assert len(split_tool_calls(block * MAX_CALLS)[1]) == MAX_CALLS
    with pytest.raises(BadToolCall, match="more than"):
        split_tool_calls(block * (MAX_CALLS + 1))


@pytest.mark.parametrize("tail", ["<", "<t", "<tool_cal", "<tool_call"])
def test_a_cut_opening_tag_after_a_full_call_is_truncation(tail):
    with pytest.raises(BadToolCall, match="ends inside"):
        split_tool_calls("<tool_call>{}</tool_call>\n" + tail)


def test_depth_limit():
    assert loads_strict("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(BadToolCall, match="nests"):
        loads_strict("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert loads_strict('["[[[[[[[[[[[[["]') == ["[[[[[[[[[[[[["]  # brackets inside strings do not count
    assert loads_strict(r'["\"[[[[[[[[[["]') == ['"[[[[[[[[[[']


def test_size_limit():
    text = '"' + "a" * (MAX_CALL_CHARS - 2) + '"'
    assert len(loads_strict(text)) == MAX_CALL_CHARS - 2
    with pytest.raises(BadToolCall, match="limit"):
        loads_strict(text + " ")


def test_number_limits():
    assert loads_strict("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    assert loads_strict("-" + "9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)
    with pytest.raises(BadToolCall, match="digits"):
        loads_strict("9" * (MAX_INT_DIGITS + 1))
    literal = "1." + "0" * (MAX_FLOAT_CHARS - 2)
    assert loads_strict(literal) == 1.0
    with pytest.raises(BadToolCall, match="characters"):
        loads_strict(literal + "0")
    assert loads_strict("1e308") == 1e308
    for text in ("1e309", "-1e309", "NaN", "Infinity", "-Infinity"):
        with pytest.raises(BadToolCall):
            loads_strict(text)


def test_strings_must_be_valid_utf8():
    assert loads_strict(r'"\ud83d\ude00"') == "😀"
    for text in (r'"\ud800"', r'"\udfff"', r'{"\ud800": 1}', r'[["\udc00"]]', '"\ud800"'):
        with pytest.raises(BadToolCall, match="surrogate"):
            loads_strict(text)


def test_duplicate_keys_at_any_depth():
    with pytest.raises(BadToolCall, match="repeats the key 'x'"):
        loads_strict('{"a": {"x": 1, "x": 2}}')


def test_parse_tool_call():
    assert parse_tool_call('{"name": "f", "arguments": {}}') == ToolCall("f", {})
    with pytest.raises(BadToolCall, match="got nothing"):
        parse_tool_call('{"name": "f"}')
    with pytest.raises(BadToolCall, match="empty"):
        parse_tool_call("")
