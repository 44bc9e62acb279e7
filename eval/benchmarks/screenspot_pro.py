"""ScreenSpot Pro (likaixin/ScreenSpot-Pro): 1,581 grounding instructions on high-resolution professional screens.

Spec: specs/benchmarks.md §4. Same prompts and point reading as ScreenSpot v2; the target box is ``xyxy`` pixels
normalized by the annotated ``img_size``. Metrics are micro accuracies over several groupings.

==============================  ===========================================  ====================================
quirk (spec §4.4)               reference                                    corrected
==============================  ===========================================  ====================================
unparseable output              counted ``wrong`` (``wrong_format`` ~0)      counted ``wrong_format``
missing image                   crashes the driver                           a bad record (both modes)
==============================  ===========================================  ====================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from eval.benchmarks import screenspot_pro_files
from eval.benchmarks.base import Benchmark, Dataset, Sample, Score, as_turns
from eval.benchmarks.records import BadRecord, BenchmarkDataError, RecordProblem, read_json, require, require_box
from eval.benchmarks.screenspot_prompts import TEMPLATES
from eval.benchmarks.screenspot_v2 import GroundingSample, GroundingTruth, grounding_point
from eval.parsing import ActionParseError
from eval.scoring import DEFAULT_MODE, AdapterName, ScoringMode, check_mode, in_xyxy, normalize_box

GROUPINGS: dict[str, tuple[str, ...]] = {
    "fine_grained": ("platform", "application", "instruction_style", "gt_type"),
    "seeclick_style": ("platform", "instruction_style", "gt_type"),
    "leaderboard_simple_style": ("group",),
    "leaderboard_detailed_style": ("application",),
}
KEY_LABELS = {"platform": "plat", "application": "app", "instruction_style": "inst_style", "gt_type": "gt_type", "group": "group"}


def _correct(rows: Sequence[Score]) -> int:
    return sum(1 for r in rows if r.details["correctness"] == "correct")


def metrics_of(rows: Sequence[Score]) -> dict[str, Any]:
    """The reference's per-subset metric block: counts plus micro action/text/icon accuracy."""
    text = [r for r in rows if r.meta["ui_type"] == "text"]
    icon = [r for r in rows if r.meta["ui_type"] == "icon"]
    correct = _correct
    return {
        "num_correct_action": correct(rows),
        "num_total": len(rows),
        "wrong_format_num": sum(1 for r in rows if r.details["correctness"] == "wrong_format"),
        "action_acc": correct(rows) / len(rows) if rows else 0,
        "text_acc": correct(text) / len(text) if text else 0,
        "icon_acc": correct(icon) / len(icon) if icon else 0,
    }


def grouped_metrics(rows: Sequence[Score], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Metrics per combination of ``keys`` present in the rows, labelled like ``plat:macos inst_style:...``."""
    groups: dict[tuple, list[Score]] = {}
    for row in rows:
        groups.setdefault(tuple(row.meta.get(k) for k in keys), []).append(row)
    return {
        " ".join(f"{KEY_LABELS[k]}:{v}" for k, v in zip(keys, combo, strict=True)): metrics_of(members)
        for combo, members in sorted(groups.items(), key=lambda item: tuple(str(v) for v in item[0]))
    }


@dataclass(frozen=True)
class ScreenSpotPro(Benchmark):
    name: ClassVar[str] = "screenspot_pro"
    data_env: ClassVar[str] = "SCREENSPOTPRO_TEST"
    images_env: ClassVar[str] = "SCREENSPOTPRO_IMGS"
    data_description: ClassVar[str] = "ScreenSpot-Pro annotations: one <app>_<os>.json list per task"
    max_new_tokens: ClassVar[int] = 400
    headline_label: ClassVar[str] = "accuracy"
    adapters: ClassVar[tuple[str, ...]] = tuple(TEMPLATES)
    result_files: ClassVar[tuple[str, ...]] = ("screenspotpro_summary_results.json", "screenspotpro_detailed_results.json")

    @classmethod
    def default_images_dir(cls, data_dir: Path) -> Path | None:
        return data_dir.parent / "images"

    def _read(self) -> Dataset:
        files = sorted(p for p in self.data_dir.iterdir() if p.is_file() and p.suffix == ".json")
        if not files:
            raise BenchmarkDataError(
                f"{self.name}: no *.json annotation file in {self.data_dir}; expected {self.data_description}"
            )
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        seen: set[str] = set()
        for path in files:
            try:
                records = read_json(path)
                if not isinstance(records, list):
                    raise RecordProblem(f"file holds a {type(records).__name__}, expected a JSON list")
            except RecordProblem as problem:
                bad.append(BadRecord.of(str(path), None, problem))
                continue
            for index, record in enumerate(records):
                try:
                    sample = self._sample(path.stem, index, record, seen)
                except RecordProblem as problem:
                    bad.append(BadRecord.of(str(path), index, problem, {"task_filename": path.stem}))
                    continue
                seen.add(sample.id)
                samples.append(sample)
        return Dataset(self.name, tuple(samples), tuple(bad))

    def _sample(self, task_filename: str, index: int, record: Any, seen: set[str]) -> GroundingSample:
        sample_id = require(record, "id", str)
        if sample_id in seen:
            raise RecordProblem(f"id {sample_id!r} is used by an earlier record")
        filename = require(record, "img_filename", str)
        bbox = require_box(record, "bbox")
        size = require(record, "img_size", list)
        if len(size) != 2 or not all(isinstance(v, (int, float)) and v > 0 for v in size):
            raise RecordProblem(f"record field 'img_size' must be [width, height] > 0, got {size!r}")
        instruction = require(record, "instruction", str)
        meta = {
            "task_filename": task_filename,
            "index": index,
            "group": record.get("group"),
            "platform": require(record, "platform", str),
            "application": require(record, "application", str),
            "ui_type": require(record, "ui_type", str),
            "gt_type": "positive",
            "instruction_style": "instruction",
            "language": "en",
            "img_filename": filename,
        }
        image = self.image(self.images_dir / filename)
        truth = GroundingTruth(bbox, "xyxy", (float(size[0]), float(size[1])))
        return GroundingSample(sample_id, self.name, truth, meta, image=image, instruction=instruction)

    def score(
        self, prediction: str | Sequence[str], sample: Sample, adapter: AdapterName, mode: ScoringMode = DEFAULT_MODE
    ) -> Score:
        check_mode(mode)
        if not isinstance(sample, GroundingSample) or sample.truth.img_size is None:
            raise TypeError(f"{self.name} cannot score a {type(sample).__name__}")
        turns = as_turns(prediction)
        text = turns[-1] if turns else ""
        meta = sample.meta
        details: dict[str, Any] = {
            "id": sample.id,
            "img_path": str(sample.image.path),
            "group": meta["group"],
            "platform": meta["platform"],
            "application": meta["application"],
            "lang": meta["language"],
            "instruction_style": meta["instruction_style"],
            "prompt_to_evaluate": sample.instruction,
            "gt_type": meta["gt_type"],
            "ui_type": meta["ui_type"],
            "task_filename": meta["task_filename"],
            "raw_response": text,
        }
        try:
            point = grounding_point(text, adapter, sample.image.width, sample.image.height, self.pixels)
        except ActionParseError as error:
            # Quirk "parse errors recorded as wrong" (§4.4): only a parser that returns no point gives wrong_format.
            details.update(pred=None, correctness="wrong" if mode == "reference" else "wrong_format")
            return Score(sample.id, self.name, adapter, mode, 0.0, None, details, dict(meta), str(error))
        box = normalize_box(sample.truth.bbox, *sample.truth.img_size)
        correct = in_xyxy(point, box)
        details.update(bbox=list(sample.truth.bbox), pred=list(point), correctness="correct" if correct else "wrong")
        return Score(sample.id, self.name, adapter, mode, float(correct), list(point), details, dict(meta))

    @classmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        return screenspot_pro_files.reference_files(result)

    @classmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        return float(summary["overall_accuracy"])

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        metrics = summary["metrics"]
        found = {"text": summary["text_accuracy"], "icon": summary["icon_accuracy"]}
        for label, block in metrics["leaderboard_simple_style"].items():
            found[label] = block["action_acc"]
        platforms: dict[str, list[int]] = {}
        for label, block in metrics["seeclick_style"].items():
            platform = next((part for part in label.split() if part.startswith("plat:")), label)
            counts = platforms.setdefault(platform, [0, 0])
            counts[0] += block["num_correct_action"]
            counts[1] += block["num_total"]
        found |= {platform: correct / total if total else 0.0 for platform, (correct, total) in platforms.items()}
        return found

    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """Summary keys of §4.5 plus ``metrics`` (§4.4: overall and the four groupings)."""
        check_mode(mode)
        metrics = {name: grouped_metrics(scores, keys) for name, keys in GROUPINGS.items()}
        metrics["overall"] = overall = metrics_of(scores)
        return {
            "benchmark": self.name,
            "scoring_mode": mode,
            "task": "all",
            "total_samples": overall["num_total"],
            "overall_accuracy": overall["action_acc"],
            "text_accuracy": overall["text_acc"],
            "icon_accuracy": overall["icon_acc"],
            "wrong_format_samples": overall["wrong_format_num"],
            "metrics": metrics,
            "bad_records": data.bad_summary(),
        }
