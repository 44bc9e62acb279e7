"""Mind2Web predictions: a model's output as the driver's operation, point, direction and content (spec §5.3).

UI-TARS: ``click`` -> point; ``type`` -> content; ``select`` -> point and content; ``scroll`` -> point and direction
(reference mode takes the inputs positionally, quirk "UI-TARS inputs"); anything else is an empty prediction.
OpenCUA: click-like -> click + point; ``scroll n`` -> down if n < 0 else up; ``write`` -> type; ``press``;
``terminate`` -> finished. Points are normalized in the frame the run's processor resized the block to (``limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eval.parsing import ActionParseError, first_ui_tars_action, literal_point, parse_opencua_actions
from eval.scoring import AdapterName, ScoringMode, check_adapter
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

OPENCUA_CLICKS = ("click", "doubleClick", "rightClick", "tripleClick", "moveTo", "dragTo", "triple_click")
INFEASIBLE_WORDS = ("unsuccessful", "infeasible", "impossible", "cannot", "can't", "unable", "fail", "error")


@dataclass(frozen=True)
class Mind2WebPrediction:
    """One generation in the driver's terms; an unparseable output is the empty prediction with ``error`` set."""

    operation: str = ""
    point: tuple[float, float] | None = None
    direction: Any = ""
    content: Any = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "click_point": list(self.point) if self.point else "",
            "direction": self.direction,
            "content": self.content,
        }


def ui_tars_prediction(text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits) -> Mind2WebPrediction:
    action = first_ui_tars_action(text, width, height, limits)
    operation, inputs = action.action_type or "", action.inputs
    if operation not in ("click", "type", "select", "scroll"):
        raise ActionParseError(f"operation {operation!r} is not one of click/type/select/scroll")
    if mode == "reference":
        # Quirk "UI-TARS inputs taken positionally" (§5.3).
        values = list(inputs.values())
        wanted = {"click": 1, "type": 1, "select": 2, "scroll": 2}[operation]
        if len(values) < wanted:
            raise ActionParseError(f"{operation} needs {wanted} argument(s), got {len(values)}")
        if operation == "type":
            return Mind2WebPrediction("type", content=values[0])
        point = literal_point(values[0])
        if operation == "scroll":
            return Mind2WebPrediction("scroll", point, direction=values[1])
        return Mind2WebPrediction(operation, point, content=values[1] if operation == "select" else "")
    point = literal_point(inputs.get("start_box", ""))
    return Mind2WebPrediction(operation, point, inputs.get("direction", ""), inputs.get("content", ""))


def opencua_prediction(text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits) -> Mind2WebPrediction:
    actions = parse_opencua_actions(text, width, height, decode_strings=mode == "corrected", limits=limits)
    if not actions:
        return Mind2WebPrediction()
    kind, value = actions[0]
    if kind in OPENCUA_CLICKS:
        return Mind2WebPrediction("click", value)
    if kind == "scroll":
        return Mind2WebPrediction("scroll", direction="down" if value < 0 else "up")
    if kind == "write":
        return Mind2WebPrediction("type", content=value)
    if kind == "press":
        return Mind2WebPrediction("press", content=value)
    if kind == "terminate":
        infeasible = any(word in str(value).lower() for word in INFEASIBLE_WORDS)
        return Mind2WebPrediction("finished", content="infeasible" if infeasible else "successful")
    return Mind2WebPrediction()


def predict(
    text: str, adapter: AdapterName, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> Mind2WebPrediction:
    mapper = {"ui_tars": ui_tars_prediction, "opencua": opencua_prediction}[check_adapter(adapter)]
    try:
        return mapper(text, width, height, mode, limits)
    except ActionParseError as error:
        return Mind2WebPrediction(error=str(error))
