"""AndroidControl, UGround's 500-step sample of the test split (``500_steps.json``): one screenshot per step.

Spec: specs/benchmarks.md §2. Each step is scored 0/1 against one GT action; click-like steps are grounded in the
smallest accessibility element that contains the GT point.

Quirks and what each mode does (the ``reference`` branches below name the quirk they reproduce):

===============================  =============================================  =======================================
quirk (spec §2.6)                reference                                      corrected
===============================  =============================================  =======================================
type_text unreachable            a type prediction has no point, so 0           graded by the typed text only
OpenCUA scroll never correct     integer amount compared with a direction       amount < 0 -> "down", else "up"
OpenCUA press maps to nothing    "press" is never a GT type                     home -> navigate_home, back/escape ->
                                                                                navigate_back
navigate_home / open_app         nothing maps to them                           UI-TARS press_home / open_app map
grounding misaligned             grounding indexes the data list by the         each step uses its own GT type
                                 position in the results (skips shift it)
scroll point (§2.4)              first action input, positionally               the ``point`` argument by name
===============================  =============================================  =======================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from eval.benchmarks import androidcontrol_files
from eval.benchmarks.androidcontrol_prompts import TEMPLATES, androidcontrol_prompt
from eval.benchmarks.base import Benchmark, Dataset, History, ImageRef, Message, Sample, Score, as_turns
from eval.benchmarks.records import BadRecord, BenchmarkDataError, RecordProblem, read_json, require
from eval.benchmarks.shared_prompts import UI_TARS_SYSTEM
from eval.parsing import ActionParseError, first_ui_tars_action, literal_point, parse_opencua_actions
from eval.scoring import DEFAULT_MODE, AdapterName, ScoringMode, check_adapter, check_mode, mean
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

DATA_FILE = "500_steps.json"
GROUNDING_TYPES = ("click", "long_press", "type_text")
OPENCUA_CLICKS = ("click", "doubleClick", "rightClick", "tripleClick", "moveTo", "dragTo", "triple_click")
INFEASIBLE_WORDS = ("unsuccessful", "infeasible", "impossible", "cannot", "can't", "unable", "fail", "error")
LEVELS = ("high", "low")


def finished_status(content: str) -> str:
    """``successful``/``infeasible`` from free-form finished/terminate content (the reference's keyword coercion)."""
    if content in ("successful", "infeasible"):
        return content
    return "infeasible" if any(word in content.lower() for word in INFEASIBLE_WORDS) else "successful"


@dataclass(frozen=True)
class AndroidPrediction:
    """The first predicted action in the driver's terms: operation, normalized point, direction, content."""

    operation: str = ""
    point: tuple[float, float] | None = None
    direction: Any = ""
    content: Any = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "click_point": list(self.point) if self.point else "",
            "direction": self.direction,
            "content": self.content,
        }


@dataclass(frozen=True, eq=False)
class AndroidTruth:
    action: Mapping[str, Any]
    accessibility_tree: tuple[Any, ...]


@dataclass(frozen=True, eq=False)
class AndroidControlSample(Sample):
    image: ImageRef
    goal: str
    step_instruction: str
    previous_actions: tuple[str, ...]
    level: str

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return (self.image,)

    def messages(
        self,
        adapter: AdapterName,
        *,
        mode: ScoringMode = DEFAULT_MODE,
        history: History | None = None,
        turns: Sequence[str] = (),
    ) -> list[Message]:
        check_adapter(adapter)
        check_mode(mode)
        previous = "\n".join(self.previous_actions)
        text = androidcontrol_prompt(adapter, self.level, self.goal, self.step_instruction, previous)
        user = Message("user", (self.image, text))
        return [Message("system", (UI_TARS_SYSTEM,)), user] if adapter == "ui_tars" else [user]


# --- prediction -> driver operation --------------------------------------------------------------------------------


def ui_tars_prediction(
    text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> AndroidPrediction:
    action = first_ui_tars_action(text, width, height, limits)
    operation, inputs = action.action_type or "", action.inputs
    values = list(inputs.values())
    point_value: Any = ""
    direction, content = "", ""
    if operation in ("click", "long_press", "scroll"):
        if mode == "reference":
            if not values:  # the reference indexes the first input and its except clause empties the prediction
                raise ActionParseError(f"{operation} has no arguments")
            point_value = values[0]  # quirk "scroll point taken positionally" (§2.4)
        else:
            point_value = inputs.get("start_box", "")
        if operation == "scroll":
            direction = inputs.get("direction", "")
    elif operation == "type":
        content = inputs.get("content", "")
    elif operation == "finished":
        content = finished_status(inputs.get("content", ""))
    elif operation == "open_app" and mode == "corrected":
        content = inputs.get("app_name", "")
    return AndroidPrediction(operation, literal_point(point_value), direction, content)


def opencua_prediction(
    text: str, width: int, height: int, mode: ScoringMode, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> AndroidPrediction:
    actions = parse_opencua_actions(text, width, height, decode_strings=mode == "corrected", limits=limits)
    if not actions:
        return AndroidPrediction()
    kind, value = actions[0]
    if kind in OPENCUA_CLICKS:
        return AndroidPrediction("click", value)
    if kind == "scroll":
        # Quirk "OpenCUA scroll never correct" (§2.6): the reference keeps the integer amount as the direction.
        return AndroidPrediction("scroll", direction=value if mode == "reference" else ("down" if value < 0 else "up"))
    if kind == "write":
        return AndroidPrediction("type", content=value)
    if kind == "press":
        keys = {str(k).lower() for k in value}
        if mode == "corrected" and "home" in keys:
            return AndroidPrediction("press_home", content=value)
        if mode == "corrected" and keys & {"back", "escape", "esc"}:
            return AndroidPrediction("press_back", content=value)
        return AndroidPrediction("press", content=value)
    if kind == "terminate":
        return AndroidPrediction("finished", content=finished_status(str(value)))
    return AndroidPrediction()


# --- scoring ------------------------------------------------------------------------------------------------------


def _contains(box: Mapping[str, float], x: float, y: float) -> bool:
    return box["x_min"] <= x <= box["x_max"] and box["y_min"] <= y <= box["y_max"]


def smallest_element(x: float, y: float, tree: Sequence[Any]) -> Mapping[str, Any] | None:
    """The smallest-area element whose ``bbox_pixels`` contains (x, y), nested lists searched; first wins on ties."""
    best, best_area = None, float("inf")
    for node in tree:
        candidate = smallest_element(x, y, node) if isinstance(node, list) else node
        if not isinstance(candidate, Mapping) or not _contains(candidate["bbox_pixels"], x, y):
            continue
        box = candidate["bbox_pixels"]
        area = (box["x_max"] - box["x_min"]) * (box["y_max"] - box["y_min"])
        if area < best_area:
            best, best_area = candidate, area
    return best


def _element_says(element: Mapping[str, Any] | None, word: str) -> bool:
    if element is None or not word:
        return False
    text = (element.get("text") or "").lower()
    description = (element.get("content_description") or "").lower()
    return bool((text and word in text) or (description and word in description))


def step_correct(pred: AndroidPrediction, truth: AndroidTruth, width: int, height: int, mode: ScoringMode) -> bool:
    """The reference's case table (§2.5), with the corrected-mode fixes of the module docstring."""
    action, tree = truth.action, truth.accessibility_tree
    gt_type, operation = action.get("action_type", ""), pred.operation
    pixel = (pred.point[0] * width, pred.point[1] * height) if pred.point else None
    if operation in ("click", "long_press", "type") and gt_type in GROUNDING_TYPES:
        pred_type = "type_text" if operation == "type" else operation
        if pred_type != gt_type:
            return False
        if pred_type == "type_text" and mode == "corrected":
            return str(pred.content).rstrip("\n").strip() == str(action.get("text", "")).strip()
        # Quirk "type_text unreachable" (§2.6): a type prediction carries no point, so this fails for it.
        if "x" not in action or "y" not in action or not tree or pixel is None:
            return False
        element = smallest_element(action["x"], action["y"], tree)
        if element is None or not _contains(element["bbox_pixels"], *pixel):
            return False
        return pred_type != "type_text" or action.get("text", "") == pred.content
    if (operation == "click" and gt_type == "open_app") or (operation == "open_app" and gt_type == "click"):
        if operation != "click" or pixel is None or not tree:
            return False
        return _element_says(smallest_element(*pixel, tree), (action.get("app_name") or "").lower())
    if (operation == "click" and gt_type == "navigate_back") or (operation == "press_back" and gt_type == "navigate_back"):
        if operation == "press_back":
            return True
        return pixel is not None and bool(tree) and _element_says(smallest_element(*pixel, tree), "back")
    mapping = {"press_back": "navigate_back", "wait": "wait", "finished": "status", "scroll": "scroll"}
    if mode == "corrected":
        mapping |= {"press_home": "navigate_home", "open_app": "open_app"}
    if mapping.get(operation, operation) != gt_type:
        return False
    if gt_type == "scroll":
        return action.get("direction", "") == pred.direction
    if gt_type == "status":
        return action.get("goal_status", "") == pred.content
    if gt_type == "open_app" and mode == "corrected":  # the reference accepts any open_app for an open_app GT
        app, said = (action.get("app_name") or "").lower(), str(pred.content).lower()
        return bool(app and said and (app in said or said in app))
    return True


# --- the benchmark ------------------------------------------------------------------------------------------------


def _check_tree(tree: Any, where: str) -> None:
    for node in tree:
        if isinstance(node, list):
            _check_tree(node, where)
            continue
        box = require(node, "bbox_pixels", dict, f"{where} accessibility element")
        for key in ("x_min", "x_max", "y_min", "y_max"):
            require(box, key, (int, float), f"{where} accessibility element bbox_pixels")


@dataclass(frozen=True)
class AndroidControl(Benchmark):
    """``instruction_level``: ``high`` (goal only, the reference scripts' choice) or ``low`` (goal + step instruction)."""

    instruction_level: str = "high"

    name: ClassVar[str] = "androidcontrol"
    data_env: ClassVar[str] = "ANDROIDCONTROL_TEST"
    images_env: ClassVar[str] = "ANDROIDCONTROL_IMGS"
    data_description: ClassVar[str] = f"a directory containing {DATA_FILE} (UGround's AndroidControl sample)"
    max_new_tokens: ClassVar[int] = 600
    headline_label: ClassVar[str] = "step accuracy"
    adapters: ClassVar[tuple[str, ...]] = tuple(TEMPLATES)
    result_files: ClassVar[tuple[str, ...]] = ("androidcontrol_results_budget{budget}.json",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.instruction_level not in LEVELS:
            raise ValueError(f"instruction_level must be one of {', '.join(LEVELS)}, got {self.instruction_level!r}")

    @classmethod
    def default_images_dir(cls, data_dir: Path) -> Path | None:
        return data_dir.parent / "images"

    def _read(self) -> Dataset:
        path = self.data_dir / DATA_FILE
        if not path.is_file():
            raise BenchmarkDataError(f"{self.name}: {path} not found; {self.data_env} must be {self.data_description}")
        try:
            records = read_json(path)
        except RecordProblem as problem:
            raise BenchmarkDataError(f"{self.name}: {path} is {problem}") from problem
        if not isinstance(records, list):
            raise BenchmarkDataError(f"{self.name}: {path} holds a {type(records).__name__}, expected a JSON list of steps")
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        for index, record in enumerate(records):
            known = {"index": index}
            try:
                action = require(record, "action", dict)
                known["gt_type"] = require(action, "action_type", str, "record field 'action'")
                sample = self._sample(index, record, action)
            except RecordProblem as problem:
                bad.append(BadRecord.of(str(path), index, problem, known))
                continue
            samples.append(sample)
        return Dataset(self.name, tuple(samples), tuple(bad))

    def _sample(self, index: int, record: Mapping[str, Any], action: Mapping[str, Any]) -> AndroidControlSample:
        screenshot = require(record, "screenshot", str)
        goal = require(record, "goal", str)
        if self.instruction_level == "low":
            step_instruction = require(record, "step_instruction", str)
        else:
            step_instruction = record.get("step_instruction", "")
        previous = record.get("previous_actions") or []
        if not isinstance(previous, list) or not all(isinstance(p, str) for p in previous):
            raise RecordProblem("record field 'previous_actions' must be a list of strings")
        tree = record.get("accessibility_tree") or []
        if not isinstance(tree, list):
            raise RecordProblem("record field 'accessibility_tree' must be a list")
        _check_tree(tree, "record")
        image = self.image(self.images_dir / screenshot)
        episode, step = record.get("episode_id"), record.get("step")
        meta = {
            "index": index, "episode_id": episode, "step": step, "gt_type": action["action_type"], "level": self.instruction_level
        }
        return AndroidControlSample(
            f"{index}:{episode}/{step}", self.name, AndroidTruth(action, tuple(tree)), meta,
            image=image, goal=goal, step_instruction=str(step_instruction or ""), previous_actions=tuple(previous),
            level=self.instruction_level,
        )

    def score(
        self, prediction: str | Sequence[str], sample: Sample, adapter: AdapterName, mode: ScoringMode = DEFAULT_MODE
    ) -> Score:
        check_mode(mode)
        if not isinstance(sample, AndroidControlSample):
            raise TypeError(f"{self.name} cannot score a {type(sample).__name__}")
        turns = as_turns(prediction)
        text = turns[-1] if turns else ""
        mapper = {"ui_tars": ui_tars_prediction, "opencua": opencua_prediction}[check_adapter(adapter)]
        error = None
        try:
            pred = mapper(text, sample.image.width, sample.image.height, mode, self.pixels)
        except ActionParseError as problem:
            pred, error = AndroidPrediction(), str(problem)
        correct = step_correct(pred, sample.truth, sample.image.width, sample.image.height, mode)
        details = {
            "raw_response": text,
            "prediction": pred.to_dict(),
            "gt_action": dict(sample.truth.action),
            "gt_type": sample.meta["gt_type"],
            "grounding": sample.meta["gt_type"] in GROUNDING_TYPES,
            "correct": correct,
        }
        return Score(sample.id, self.name, adapter, mode, float(correct), pred.to_dict(), details, dict(sample.meta), error)

    @classmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        return androidcontrol_files.reference_files(result)

    @classmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        return float(summary["metrics"]["step_accuracy"])

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        level, metrics = summary["instruction_level"], summary["metrics"]
        return {f"{level} step": metrics["step_accuracy"], f"{level} grounding": metrics["grounding_accuracy"]}

    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """``metrics`` with the reference's keys (§2.5, §2.7)."""
        check_mode(mode)
        rows = sorted(scores, key=lambda s: s.meta["index"])
        if mode == "reference":
            # Quirk "grounding misaligned" (§2.6): the i-th result is paired with the i-th *data record*, so every
            # skipped record (a bad record here) shifts the GT types the later results are judged by.
            types = {s.meta["index"]: s.meta["gt_type"] for s in data.samples}
            types |= {b.index: b.meta.get("gt_type", "") for b in data.bad_records if b.index is not None}
            pairs = [(types.get(position, ""), row.value) for position, row in enumerate(rows)]
        else:
            pairs = [(row.meta["gt_type"], row.value) for row in rows]
        grounding = [value for gt_type, value in pairs if gt_type in GROUNDING_TYPES]
        correct = sum(1 for row in rows if row.value >= 1)
        metrics = {
            "step_accuracy": mean(row.value for row in rows),
            "correct_steps": correct,
            "total_steps": len(rows),
            "grounding_accuracy": mean(grounding),
            "correct_grounding_steps": sum(1 for value in grounding if value >= 1),
            "grounding_steps": len(grounding),
            "parse_errors": sum(1 for row in rows if row.error is not None),
        }
        return {
            "benchmark": self.name,
            "scoring_mode": mode,
            "dataset": DATA_FILE,
            "instruction_level": self.instruction_level,
            "metrics": metrics,
            "bad_records": data.bad_summary(),
        }
