"""AgentNetBench's scoring (specs/benchmarks.md §1.4-§1.7): a model's answer as the benchmark's action tuples, per
adapter, and the soft step score of those tuples against the ground truth, in ``reference`` mode (the reference
code's quirks reproduced) and ``corrected`` mode (fixed). The quirk table is in ``agentnetbench.py``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eval.parsing import ActionParseError, box_point, opencua_code_lines, parse_opencua_actions, parse_ui_tars
from eval.qwen3_vl_parsing import action_of, grid_point, qwen3_vl_calls
from eval.scoring import AdapterName, ScoringMode, check_adapter, in_xywh, soft_point_score, text_similarity_score
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

BenchAction = tuple[str, Any]
POSITIONAL_TYPES = ("click", "doubleclick", "rightclick", "tripleclick", "moveto", "dragto")
ACTION_TYPES = (*POSITIONAL_TYPES, "write", "press", "hotkey", "scroll", "terminate")
KEY_TYPES = ("press", "hotkey")
COMPOSITE_TYPES = ("scroll", "dragto")


@dataclass(frozen=True, eq=False)
class AgentNetTruth:
    actions: tuple[Mapping[str, Any], ...]
    alternatives: tuple[tuple[Mapping[str, Any], ...], ...]
    milestone: bool


# --- prediction -> benchmark actions ------------------------------------------------------------------------------


def ui_tars_actions(
    text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> list[BenchAction]:
    """The first UI-TARS action as AgentNetBench tuples (§1.4); raises ActionParseError."""
    parsed = parse_ui_tars(text, width, height, limits)
    if not parsed:
        return []
    action, inputs = parsed[0].action_type, parsed[0].inputs
    point = box_point(inputs.get("point", inputs.get("start_box")))
    if action in ("click", "long_press", "left_double", "right_single"):
        kind = {"click": "click", "long_press": "click", "left_double": "doubleclick", "right_single": "rightclick"}
        return [(kind[action], point)] if point else []
    if action == "drag":
        start = box_point(inputs.get("start_box", inputs.get("start_point")))
        end = box_point(inputs.get("end_box", inputs.get("end_point")))
        if not (start and end):
            return []
        return [("dragto", end)] if mode == "reference" else [("moveto", start), ("dragto", end)]
    if action == "hotkey":
        keys = inputs.get("key", inputs.get("keys", ""))
        if not keys:
            return []
        key_list = keys.lower().split()
        if mode == "reference":
            key_list = [key.replace("ctrl", "control") for key in key_list]  # quirk "ctrl -> control" (§1.7)
        return [("hotkey", key_list)]
    if action == "type":
        content = inputs.get("content", "")
        if not content:
            return []
        return [("write", content[:-1]), ("press", ["enter"])] if content.endswith("\n") else [("write", content)]
    if action == "scroll":
        direction = inputs.get("direction", "")
        if not (point and direction):
            return []
        amount = 5 if direction in ("up", "right") else -5
        return [("scroll", amount)] if mode == "reference" else [("moveto", point), ("scroll", amount)]
    if action == "press_back":
        return [("press", ["escape"])]
    if action == "finished":
        content = inputs.get("content", "")
        return [("terminate", "success" if content and "success" in content.lower() else "failure")]
    return []


def opencua_actions(
    text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> list[BenchAction]:
    """OpenCUA code lines as AgentNetBench tuples (§1.4); raises ActionParseError."""
    lines = opencua_code_lines(text)
    if not lines:
        return []
    return parse_opencua_actions("\n".join(lines), width, height, decode_strings=mode == "corrected", limits=limits)


QWEN3_VL_POINTER = {
    "left_click": "click", "double_click": "doubleclick", "triple_click": "tripleclick", "right_click": "rightclick",
    "mouse_move": "moveto", "left_click_drag": "dragto",
}


def qwen3_vl_actions(
    text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> list[BenchAction]:
    """Qwen3-VL ``computer_use`` calls as AgentNetBench tuples, in order; raises ActionParseError.

    Points are already normalized (0-1000 grid of the image; ``width``/``height``/``limits`` are unused). ``key`` is a
    ``press`` of one key or a ``hotkey`` of several (lower-cased, ``cmd`` -> ``ctrl`` as for OpenCUA), ``type`` a
    ``write``, ``scroll``/``hscroll`` a ``scroll`` (corrected mode: after a ``moveto`` to its coordinate, as UI-TARS'
    scroll expands), ``terminate`` its status. ``middle_click``, ``wait`` and ``answer`` have no AgentNetBench type.
    """
    actions: list[BenchAction] = []
    for call in qwen3_vl_calls(text):
        action, arguments = action_of(call), call.arguments
        if action in QWEN3_VL_POINTER:
            if "coordinate" in arguments:
                actions.append((QWEN3_VL_POINTER[action], grid_point(arguments["coordinate"])))
        elif action == "type":
            actions.append(("write", str(arguments.get("text", ""))))
        elif action == "key":
            keys = arguments.get("keys")
            if not isinstance(keys, list) or not keys:
                raise ActionParseError(f"key action needs a non-empty 'keys' list, got {str(keys)[:60]}")
            keys = ["ctrl" if str(k).strip().lower() in ("cmd", "command") else str(k).strip().lower() for k in keys]
            actions.append(("hotkey" if len(keys) > 1 else "press", keys))
        elif action in ("scroll", "hscroll"):
            pixels = arguments.get("pixels", 0)
            if isinstance(pixels, bool) or not isinstance(pixels, int | float):
                raise ActionParseError(f"scroll 'pixels' must be a number, got {str(pixels)[:60]}")
            if mode == "corrected" and "coordinate" in arguments:
                actions.append(("moveto", grid_point(arguments["coordinate"])))
            actions.append(("scroll", int(pixels)))
        elif action == "terminate":
            actions.append(("terminate", "success" if arguments.get("status") == "success" else "failure"))
    return actions


def predicted_actions(
    text: str, adapter: AdapterName, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> list[BenchAction]:
    mapper = {"ui_tars": ui_tars_actions, "opencua": opencua_actions, "qwen3_vl": qwen3_vl_actions}[check_adapter(adapter)]
    return mapper(text, width, height, mode, limits)


# --- scoring ------------------------------------------------------------------------------------------------------


def action_type(action: BenchAction | Mapping[str, Any] | None) -> str:
    """The lower-cased type of a predicted tuple or a GT action (``triple_click`` spelled as the tuples spell it)."""
    if action is None:
        return ""
    kind = action["type"] if isinstance(action, Mapping) else action[0]
    kind = str(kind).lower()
    return "tripleclick" if kind == "triple_click" else kind


def _positional(point: Any, truth: Mapping[str, Any]) -> float:
    if not (isinstance(point, tuple) and len(point) == 2):
        return 0.0
    for box in (truth.get("metadata") or {}).get("bboxes") or []:
        if in_xywh(point, box["rel_bbox"]):
            return 1.0
    position = truth.get("params", {}).get("position", {})
    return soft_point_score(math.dist(point, (position.get("x", 0), position.get("y", 0))))


def _truth_text(truth: Mapping[str, Any]) -> str:
    params = truth.get("params", {})
    return str(params.get("text", params.get("content", "")))


def _keys_equal(pred: Any, truth: Mapping[str, Any]) -> float:
    keys = truth.get("params", {}).get("keys", [])
    if not (isinstance(pred, list) and isinstance(keys, list)):
        return 0.0
    return 1.0 if {str(k).lower() for k in pred} == {str(k).lower() for k in keys} else 0.0


def evaluate_reference(pred: BenchAction, truth: Mapping[str, Any], alternatives: Sequence[Sequence[Mapping]] | None) -> float:
    """The reference's ``evaluate_action`` (§1.5): type redirect to the first same-type alternative, then per type."""
    kind, truth_kind = action_type(pred), action_type(truth)
    if kind != truth_kind:
        for option in alternatives or ():
            if option and action_type(option[0]) == kind:
                return evaluate_reference(pred, option[0], None)
        return 0.0
    value = pred[1] if len(pred) > 1 else None
    if kind in POSITIONAL_TYPES:
        return _positional(value, truth)
    if kind == "write":
        pred_text, truth_text = str(value).lower().strip(), _truth_text(truth).lower().strip()
        # Quirk "newline penalty never fires" (§1.5): texts are stripped before the trailing-newline check.
        return 1.0 if pred_text == truth_text else text_similarity_score(pred_text, truth_text)
    if kind in KEY_TYPES:
        return _keys_equal(value, truth)
    if kind == "scroll":
        return 1.0
    if kind == "terminate":
        return 1.0 if value == truth.get("params", {}).get("status", "") else 0.0
    return 0.0


def evaluate_corrected(actions: Sequence[BenchAction], index: int, truth: Mapping[str, Any]) -> float:
    """One predicted action (``actions[index]``) against one GT action, quirks fixed."""
    if not 0 <= index < len(actions):
        return 0.0
    pred = actions[index]
    kind, truth_kind = action_type(pred), action_type(truth)
    value = pred[1] if len(pred) > 1 else None
    if kind in KEY_TYPES and truth_kind in KEY_TYPES:
        return _keys_equal(value, truth)
    if kind != truth_kind:
        return 0.0
    if kind in POSITIONAL_TYPES:
        return _positional(value, truth)
    if kind == "write":
        following = actions[index + 1] if index + 1 < len(actions) else None
        presses_enter = action_type(following) in KEY_TYPES and [str(k).lower() for k in following[1]] == ["enter"]
        submits = str(value).endswith("\n") or presses_enter
        truth_raw = _truth_text(truth)
        pred_text, truth_text = str(value).lower().strip(), truth_raw.lower().strip()
        if pred_text == truth_text:
            return 0.9 if submits != truth_raw.endswith("\n") else 1.0
        return text_similarity_score(pred_text, truth_text)
    if kind == "scroll":
        return 1.0
    if kind == "terminate":
        return 1.0 if value == truth.get("params", {}).get("status", "") else 0.0
    return 0.0


def option_score(actions: Sequence[BenchAction], option: Sequence[Mapping[str, Any]]) -> float:
    """Corrected score of a prediction against one acceptable GT action list.

    A GT starting ``moveTo`` + ``scroll``/``dragTo`` is one composite action: the mean of the X action's score and of
    the pointer position (the predicted ``moveTo`` right before X). Otherwise the first predicted action is compared,
    skipping a leading ``moveTo`` that only positions a following scroll/drag.
    """
    if not option:
        return 0.0
    if len(option) >= 2 and action_type(option[0]) == "moveto" and action_type(option[1]) in COMPOSITE_TYPES:
        target = action_type(option[1])
        found = next((i for i, action in enumerate(actions) if action_type(action) == target), None)
        if found is None:
            return 0.0
        positioned = found and action_type(actions[found - 1]) == "moveto"
        pointer = evaluate_corrected(actions, found - 1, option[0]) if positioned else 0.0
        return (pointer + evaluate_corrected(actions, found, option[1])) / 2
    positions = len(actions) >= 2 and action_type(actions[0]) == "moveto" and action_type(actions[1]) in COMPOSITE_TYPES
    primary = 1 if positions else 0
    return evaluate_corrected(actions, primary, option[0])


def score_step(actions: Sequence[BenchAction], truth: AgentNetTruth, mode: ScoringMode) -> tuple[float, bool]:
    """(step score, whether an alternative option raised it)."""
    if not actions or not truth.actions:
        return 0.0, False
    used_alternative = False
    if mode == "reference":
        score = evaluate_reference(actions[0], truth.actions[0], truth.alternatives)
        if score == 0 and truth.alternatives:
            for option in truth.alternatives:
                if option:
                    candidate = evaluate_reference(actions[0], option[0], None)
                    if candidate > score:
                        score, used_alternative = candidate, True
        return score, used_alternative
    score = option_score(actions, truth.actions)
    for option in truth.alternatives:
        candidate = option_score(actions, option)
        if candidate > score:
            score, used_alternative = candidate, True
    return score, used_alternative


def jsonable(actions: Sequence[BenchAction]) -> list[list[Any]]:
    return [[kind, list(value) if isinstance(value, tuple) else value] for kind, value in actions]
