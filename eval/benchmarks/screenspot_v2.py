"""ScreenSpot v2 (OS-Copilot/ScreenSpot-v2): 1,272 grounding instructions over mobile, desktop and web screenshots.

Spec: specs/benchmarks.md §3. One screenshot + one instruction; correct iff the predicted point lies in the target box
(xywh pixels, inclusive). Per-sample scoring is the same in both modes; the summary differs:

==================================  ==========================================  ===================================
quirk (spec §3.4)                   reference                                   corrected
==================================  ==========================================  ===================================
overall average                     mean of six split x text/icon cells         micro accuracy over all items
total_samples                       only items whose output parsed              every scored item
missing image                       blocks on ``input()``                       a bad record (both modes)
==================================  ==========================================  ===================================

Both averages are always reported (``micro_accuracy``, ``cell_mean_accuracy``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from eval.benchmarks import screenspot_v2_files
from eval.benchmarks.base import Benchmark, Dataset, History, ImageRef, Message, Sample, Score, as_turns
from eval.benchmarks.records import BadRecord, BenchmarkDataError, RecordProblem, read_json, require, require_box
from eval.benchmarks.screenspot_prompts import TEMPLATES, screenspot_prompt
from eval.benchmarks.shared_prompts import QWEN3_VL_SYSTEM
from eval.parsing import ActionParseError, first_ui_tars_action, opencua_click_points
from eval.qwen3_vl_parsing import qwen3_vl_click_points
from eval.scoring import DEFAULT_MODE, AdapterName, ScoringMode, check_adapter, check_mode, in_xyxy, mean, normalize_box
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

SPLITS = ("mobile", "desktop", "web")


def grounding_point(
    text: str, adapter: AdapterName, width: int, height: int, limits: PixelLimits = UI_TARS_PIXEL_LIMITS
) -> tuple[float, float]:
    """The normalized click point a grounding driver reads from the output; ActionParseError when there is none.

    UI-TARS: the first input of the first parsed action (normally the click's box). OpenCUA: the first click-like
    code line's first two numbers. Qwen3-VL: the ``coordinate`` of the first click-like ``computer_use`` call.
    """
    if check_adapter(adapter) == "qwen3_vl":
        points = qwen3_vl_click_points(text)  # already normalized: the 0-1000 grid is relative to the image
        if not points:
            raise ActionParseError("no computer_use call with a click-like action and a coordinate in the output")
        return points[0]
    if adapter == "opencua":
        points = opencua_click_points(text, width, height, limits)
        if not points:
            raise ActionParseError("no click-like pyautogui line in the output")
        return points[0]
    action = first_ui_tars_action(text, width, height, limits)
    values = list(action.inputs.values())
    if not values:
        raise ActionParseError(f"action {action.action_type!r} has no arguments")
    try:
        point = ast.literal_eval(values[0])
        return (float(point[0]), float(point[1]))
    except (ValueError, SyntaxError, TypeError, IndexError, KeyError) as error:
        raise ActionParseError(f"first argument {values[0]!r} of {action.action_type!r} is not a point") from error


@dataclass(frozen=True, eq=False)
class GroundingTruth:
    """Target box in pixels, ``xywh`` (ScreenSpot v2) or ``xyxy`` (ScreenSpot Pro, with the annotated image size)."""

    bbox: tuple[float, float, float, float]
    box_format: str
    img_size: tuple[float, float] | None = None


@dataclass(frozen=True, eq=False)
class GroundingSample(Sample):
    """One screenshot and one referring instruction (ScreenSpot v2 and Pro)."""

    image: ImageRef
    instruction: str

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
        check_mode(mode)
        user = Message("user", (self.image, screenspot_prompt(check_adapter(adapter), self.instruction)))
        return [Message("system", (QWEN3_VL_SYSTEM,)), user] if adapter == "qwen3_vl" else [user]


@dataclass(frozen=True)
class ScreenSpotV2(Benchmark):
    """``splits``: which of mobile / desktop / web to load, in the reference's order."""

    splits: tuple[str, ...] = SPLITS

    name: ClassVar[str] = "screenspot_v2"
    data_env: ClassVar[str] = "SCREENSPOT_TEST"
    images_env: ClassVar[str] = "SCREENSPOT_IMGS"
    data_description: ClassVar[str] = "a directory with screenspot_{mobile,desktop,web}_v2.json"
    max_new_tokens: ClassVar[int] = 200
    headline_label: ClassVar[str] = "accuracy"
    adapters: ClassVar[tuple[str, ...]] = tuple(TEMPLATES)
    result_files: ClassVar[tuple[str, ...]] = ("summary_results.json", "detailed_results.json")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "splits", tuple(self.splits))
        unknown = [split for split in self.splits if split not in SPLITS]
        if unknown or not self.splits:
            raise ValueError(f"splits must be a non-empty subset of {', '.join(SPLITS)}, got {self.splits!r}")

    @classmethod
    def default_images_dir(cls, data_dir: Path) -> Path | None:
        return data_dir / "screenspotv2_image"

    def _read(self) -> Dataset:
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        for split in self.splits:
            path = self.data_dir / f"screenspot_{split}_v2.json"
            if not path.is_file():
                raise BenchmarkDataError(f"{self.name}: {path} not found; {self.data_env} must be {self.data_description}")
            try:
                records = read_json(path)
            except RecordProblem as problem:
                raise BenchmarkDataError(f"{self.name}: {path} is {problem}") from problem
            if not isinstance(records, list):
                raise BenchmarkDataError(f"{self.name}: {path} holds a {type(records).__name__}, expected a JSON list")
            for index, record in enumerate(records):
                try:
                    samples.append(self._sample(split, index, record))
                except RecordProblem as problem:
                    bad.append(BadRecord.of(str(path), index, problem, {"split": split}))
        return Dataset(self.name, tuple(samples), tuple(bad))

    def _sample(self, split: str, index: int, record: Any) -> GroundingSample:
        filename = require(record, "img_filename", str)
        bbox = require_box(record, "bbox")
        instruction = require(record, "instruction", str)
        data_type = require(record, "data_type", str)
        source = record.get("data_source", "")
        image = self.image(self.images_dir / filename)
        meta = {"split": split, "index": index, "data_type": data_type, "data_source": source, "img_filename": filename}
        return GroundingSample(
            f"{split}/{index}", self.name, GroundingTruth(bbox, "xywh"), meta, image=image, instruction=instruction
        )

    def score(
        self, prediction: str | Sequence[str], sample: Sample, adapter: AdapterName, mode: ScoringMode = DEFAULT_MODE
    ) -> Score:
        check_mode(mode)
        if not isinstance(sample, GroundingSample):
            raise TypeError(f"{self.name} cannot score a {type(sample).__name__}")
        turns = as_turns(prediction)
        text = turns[-1] if turns else ""
        x, y, w, h = sample.truth.bbox
        box = normalize_box((x, y, x + w, y + h), sample.image.width, sample.image.height)
        details: dict[str, Any] = {
            "img_path": str(sample.image.path),
            "text": sample.instruction,
            "bbox": list(box),
            "type": sample.meta["data_type"],
            "source": sample.meta["data_source"],
            "raw_response": text,
        }
        try:
            point = grounding_point(text, adapter, sample.image.width, sample.image.height, self.pixels)
        except ActionParseError as error:
            details.update(pred=None, correctness="wrong_format")
            return Score(sample.id, self.name, adapter, mode, 0.0, None, details, dict(sample.meta), str(error))
        correct = in_xyxy(point, box)
        details.update(pred=list(point), correctness="correct" if correct else "wrong")
        return Score(sample.id, self.name, adapter, mode, float(correct), list(point), details, dict(sample.meta))

    @classmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        return screenspot_v2_files.reference_files(result)

    @classmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        return float(summary["overall_accuracy"])

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        found = {"text": summary["text_accuracy"], "icon": summary["icon_accuracy"]}
        for split in summary["task_breakdown"]:
            found[f"{split['task']} text"] = split["text_accuracy"]
            found[f"{split['task']} icon"] = split["icon_accuracy"]
        return found

    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """The reference's summary keys (§3.5); ``overall_accuracy`` is the cell mean (reference) or micro (corrected)."""
        check_mode(mode)
        breakdown = []
        for split in (s for s in SPLITS if any(score.meta["split"] == s for score in scores)):
            rows = [score for score in scores if score.meta["split"] == split]
            text = [r.value for r in rows if r.meta["data_type"] == "text"]
            icon = [r.value for r in rows if r.meta["data_type"] != "text"]
            text_accuracy, icon_accuracy = mean(text), mean(icon)
            breakdown.append({
                "task": split,
                "text_accuracy": text_accuracy,
                "icon_accuracy": icon_accuracy,
                "combined_accuracy": (text_accuracy + icon_accuracy) / 2,
                "action_accuracy": mean(r.value for r in rows),
                "samples": len(rows),
            })
        cell_text = mean(b["text_accuracy"] for b in breakdown)
        cell_icon = mean(b["icon_accuracy"] for b in breakdown)
        cell_mean = (cell_text + cell_icon) / 2
        micro = mean(s.value for s in scores)
        wrong_format = sum(1 for s in scores if s.error is not None)
        if mode == "reference":
            overall, text_accuracy, icon_accuracy = cell_mean, cell_text, cell_icon
            total = len(scores) - wrong_format  # quirk: wrong-format items are absent from the reference's details
        else:
            overall = micro
            text_accuracy = mean(s.value for s in scores if s.meta["data_type"] == "text")
            icon_accuracy = mean(s.value for s in scores if s.meta["data_type"] != "text")
            total = len(scores)
        return {
            "benchmark": self.name,
            "scoring_mode": mode,
            "task": "all" if len(breakdown) == len(SPLITS) else ",".join(b["task"] for b in breakdown),
            "total_samples": total,
            "overall_accuracy": overall,
            "text_accuracy": text_accuracy,
            "icon_accuracy": icon_accuracy,
            "micro_accuracy": micro,
            "cell_mean_accuracy": cell_mean,
            "wrong_format_samples": wrong_format,
            "task_breakdown": breakdown,
            "bad_records": data.bad_summary(),
        }
