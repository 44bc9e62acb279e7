"""Hermes / Nous-style tool calls in model text: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks.

Qwen models (Qwen2.5, Qwen3, Qwen3-VL) answer tools in this format (Qwen-Agent's ``NousFnCallPrompt``; the HF chat
templates render history tool calls the same way). This module only splits text into the free text before the
first call and the JSON objects of the calls; what the calls mean is the reader's business (the agent's Qwen3-VL
adapter, eval's Qwen3-VL benchmark parsers: both use this one reader, so it lives in the model layer).

The JSON comes from a model, so it is read defensively: a block's size and nesting depth are bounded before
parsing; ``NaN``/``Infinity`` (which ``json.loads`` accepts by default), numbers that overflow to infinity, integers of
more than ``MAX_INT_DIGITS`` digits, duplicate keys and strings holding lone surrogates (not valid UTF-8) are
rejected. Every problem is a ``BadToolCall`` naming what was wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
# Special tokens a decoder may leave at the end of a response when it keeps them.
TRAILING_TOKENS = ("<|im_end|>", "<|endoftext|>")

MAX_CALLS = 16  # tool calls in one response
MAX_CALL_CHARS = 20_000  # characters between one pair of tags
MAX_DEPTH = 6  # nesting of objects/arrays; a call is {"name", "arguments": {"coordinate": [x, y]}}: depth 3
MAX_INT_DIGITS = 15
MAX_FLOAT_CHARS = 40


class BadToolCall(ValueError):
    """Why the tool-call text of a response is unusable (the adapter re-raises it as ``ModelOutputError``)."""


@dataclass(frozen=True)
class ToolCall:
    """One parsed call: the tool's ``name`` and its ``arguments`` object."""

    name: str
    arguments: dict[str, Any]


def split_tool_calls(text: str) -> tuple[str, list[str]]:
    """``(text before the first <tool_call>, [body of each block])``; raises ``BadToolCall``.

    Whitespace around a body is not required (``<tool_call>{...}</tool_call>`` is accepted). A block that is never
    closed, or text ending in the middle of an opening tag, means the output was cut (``max_new_tokens``); a closing
    tag without an opening one, or a block opened inside another, is malformed. Other text between or after blocks is
    ignored.
    """
    body = text.rstrip()
    stripped = True
    while stripped:
        stripped = False
        for token in TRAILING_TOKENS:
            if body.endswith(token):
                body = body[: -len(token)].rstrip()
                stripped = True
    head, found, rest = body.partition(OPEN_TAG)
    if CLOSE_TAG in head:
        raise BadToolCall(f"a {CLOSE_TAG} comes before any {OPEN_TAG}")
    if not found:
        raise BadToolCall(
            f'no {OPEN_TAG} in the output; expected {OPEN_TAG}\\n{{"name": <function-name>, "arguments": {{...}}}}\\n'
            f"{CLOSE_TAG} (truncated?)"
        )
    bodies: list[str] = []
    while found:
        inside, closed, rest = rest.partition(CLOSE_TAG)
        if not closed:
            raise BadToolCall(f"the last {OPEN_TAG} is never closed with {CLOSE_TAG} (output truncated?)")
        if OPEN_TAG in inside:
            raise BadToolCall(f"a {OPEN_TAG} opens inside another one before its {CLOSE_TAG}")
        bodies.append(inside.strip())
        if len(bodies) > MAX_CALLS:
            raise BadToolCall(f"more than {MAX_CALLS} tool calls in one output")
        between, found, rest = rest.partition(OPEN_TAG)
        if CLOSE_TAG in between:
            raise BadToolCall(f"a {CLOSE_TAG} without its {OPEN_TAG}")
    if any(between.endswith(OPEN_TAG[:k]) for k in range(1, len(OPEN_TAG))):
        raise BadToolCall(f"the output ends inside a {OPEN_TAG} tag (truncated?)")
    return head, bodies


def parse_tool_call(body: str) -> ToolCall:
    """The ``{"name": str, "arguments": {...}}`` object of one block; raises ``BadToolCall``."""
    if not body:
        raise BadToolCall(f"an empty {OPEN_TAG}{CLOSE_TAG} block")
    value = loads_strict(body)
    if not isinstance(value, dict):
        raise BadToolCall(f"a tool call must be a JSON object with name and arguments, got {type(value).__name__}")
    name, arguments = value.get("name"), value.get("arguments")
    if not isinstance(name, str) or not name:
        raise BadToolCall(f'a tool call needs "name": "<function-name>", got {name!r}')
    if not isinstance(arguments, dict):
        got = "nothing" if "arguments" not in value else type(arguments).__name__
        raise BadToolCall(f'the call of {name!r} needs "arguments": {{...}} (a JSON object), got {got}')
    return ToolCall(name, arguments)


def loads_strict(text: str) -> Any:
    """``json.loads`` with the bounds of the module docstring; raises ``BadToolCall``."""
    if len(text) > MAX_CALL_CHARS:
        raise BadToolCall(f"a tool call of {len(text)} characters is above the limit of {MAX_CALL_CHARS}")
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise BadToolCall(f"the tool call's JSON nests {depth} levels deep; at most {MAX_DEPTH} are accepted")
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise BadToolCall(f"the tool call is not valid JSON ({exc.msg} at character {exc.pos}): {text[:200]!r}") from None
    except RecursionError:  # unreachable after the depth check; kept so no input can escape as a crash
        raise BadToolCall("the tool call's JSON nests too deeply") from None
    _check_strings(value)
    return value


def _max_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` outside JSON strings (a cheap scan, before the recursive parser runs)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise BadToolCall(f"the tool call holds {name}, which is not a JSON number; expected finite numbers")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise BadToolCall(f"the tool call holds an integer of {len(digits.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(digits)


def _finite_float(literal: str) -> float:
    if len(literal) > MAX_FLOAT_CHARS:
        raise BadToolCall(f"the tool call holds a number written with {len(literal)} characters (at most {MAX_FLOAT_CHARS})")
    value = float(literal)
    if not math.isfinite(value):
        raise BadToolCall(f"the tool call holds {literal}, which overflows to {value}; expected finite numbers")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BadToolCall(f"the tool call repeats the key {key!r}")
        result[key] = value
    return result


def _check_strings(value: Any) -> None:
    """Reject strings (keys and values) that are not valid UTF-8: JSON's ``\\ud800`` escapes make lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item, "a string of the tool call")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_text(text: str, what: str) -> None:
    """``BadToolCall`` if ``text`` holds a lone surrogate (it cannot be encoded as UTF-8, typed or logged)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadToolCall(f"{what} holds a lone surrogate {text[exc.start]!r} (not valid UTF-8)") from None
