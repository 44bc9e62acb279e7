"""Multimodal-Mind2Web, UGround's block version (``cross_{domain,task,website}_blocks.jsonl`` + block screenshots).

Spec: specs/benchmarks.md §5. One sample per row (a task step). The model starts on block 0 of the page screenshot and
may scroll: a ``scroll`` prediction moves to the next/previous block, appends "Scroll <direction>." to the previous
actions and regenerates, up to 5 generations; the last prediction is scored (element accuracy, operation F1, step
accuracy), macro-averaged per task within a split, then over the splits.

Quirks and what each mode does (the ``reference`` branches below name the quirk they reproduce):

===========================  ================================================  ======================================
quirk (spec §5.5)            reference                                         corrected
===========================  ================================================  ======================================
frame mismatch               full-page GT boxes / block-0 size, the point of   ``target_blocks`` boxes of the block
                             whatever block the model ended on; outputs        the model ended on, in that block's
                             parsed with block-0 size                          frame
TYPE never step-correct      a type prediction has no point: element wrong     TYPE rows graded by operation F1;
                                                                               element accuracy skips them
cumulative splits            per-step lists never reset: "task" includes       each split on its own rows
                             "domain", "website" all three; total_tasks too
stale history                an empty previous-actions list reuses the text    empty history is empty
                             of the previous row's last generation
UI-TARS inputs (§5.3)        taken positionally (1st, 2nd argument)            taken by argument name
===========================  ================================================  ======================================

Order. The files store some tasks' rows out of step order (e.g. steps 2, 0, 1): an episode lists its samples by the
rows' ``step`` (rows without an integer step after the numbered ones, in file order), which is what a persistent
memory replays. ``data.samples`` and each row's ``predecessor`` (the stale-history quirk) keep the file order the
reference runs in.

Images. Block folders are found with and without the ``cross_<split>/`` level (``mind2web_blocks.block_folder``).

A row with boxes but no ``target_blocks`` (one in the UGround files) could never be element-correct in corrected
mode. Its per-block boxes are placed by UGround's tiling (``mind2web_blocks.tile_targets``) when its blocks are a
regular tiling, and its score says ``target_blocks_derived``; when no tile holds the box whole it stays unreachable
(``element_reachable: false``). The corrected summary counts both under ``target_blocks``. Reference mode scores
against ``bbox`` as the reference does and is unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eval.benchmarks import mind2web_files
from eval.benchmarks.base import Benchmark, Dataset, Episode, History, ImageRef, Message, Sample, Score, as_turns
from eval.benchmarks.mind2web_actions import Mind2WebPrediction, predict
from eval.benchmarks.mind2web_blocks import block_folder, tile_targets
from eval.benchmarks.mind2web_prompts import TEMPLATES, mind2web_prompt
from eval.benchmarks.records import BadRecord, BenchmarkDataError, RecordProblem, require
from eval.benchmarks.shared_prompts import UI_TARS_SYSTEM
from eval.scoring import DEFAULT_MODE, AdapterName, ScoringMode, check_adapter, check_mode, in_xywh, mean, operation_f1
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

SPLITS = ("domain", "task", "website")
MAX_GENERATIONS = 5

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Generation:
    """What generation g of a row sees (block, previous-actions text) and, once generated, what it predicted."""

    block: int
    previous_actions: str
    prediction: Mind2WebPrediction | None = None


@dataclass(frozen=True, eq=False)
class Mind2WebTruth:
    operation: str
    value: str
    bbox: tuple[Box, ...]
    """Full-page xywh pixels (what the reference scores against)."""
    target_blocks: Mapping[str, tuple[Box, ...]]
    """Per block index, the target's xywh pixels inside that block (UGround's frame)."""
    total_steps: int
    targets_derived: bool = False
    """The row had boxes but no ``target_blocks``; they were placed by the block tiling (``mind2web_blocks``)."""

    @property
    def reachable(self) -> bool:
        """Whether any block holds a target box (else no click can be element-correct in corrected mode)."""
        return any(self.target_blocks.values())


@dataclass(frozen=True, eq=False)
class Mind2WebSample(Sample):
    blocks: tuple[ImageRef, ...]
    task: str
    previous_actions: tuple[str, ...]
    predecessor: Mind2WebSample | None
    """The row just before this one in file order (across splits): the source of the stale-history quirk."""
    pixels: PixelLimits = UI_TARS_PIXEL_LIMITS
    """The run's image-processor pixel limits: the frame of the model's coordinates (see ``Benchmark.pixels``)."""

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return self.blocks

    def rollout(
        self, adapter: AdapterName, mode: ScoringMode, turns: Sequence[str], history: History | None = None
    ) -> list[Generation]:
        """Generations 0..len(turns): the block and history each saw, and each one's prediction (the last one,
        not generated yet, has none)."""
        generations: list[Generation] = []
        block, notes = 0, []
        for index in range(len(turns) + 1):
            listed = [*self.previous_actions, *notes]
            if listed:
                text = "\n".join(listed)
            elif mode == "reference":
                text = self._stale_history(adapter, history or {})  # quirk "stale history"
            else:
                text = ""
            if index == len(turns):
                generations.append(Generation(block, text))
                break
            # Quirk "frame mismatch": the reference converts every generation's coordinates with block 0's size.
            size = self.blocks[0 if mode == "reference" else block].size
            prediction = predict(turns[index], adapter, *size, mode, self.pixels)
            generations.append(Generation(block, text, prediction))
            if prediction.operation == "scroll":
                notes.append(f"Scroll {prediction.direction}.")
                if prediction.direction == "down" and block + 1 < len(self.blocks):
                    block += 1
                elif prediction.direction == "up" and block >= 1:
                    block -= 1
        return generations

    def _stale_history(self, adapter: AdapterName, history: History) -> str:
        previous = self.predecessor
        if previous is None:
            return ""
        turns = as_turns(history[previous.id]) if previous.id in history else ()
        generations = previous.rollout(adapter, "reference", turns, history)
        return generations[max(len(turns), 1) - 1].previous_actions

    def wants_more(
        self, turns: Sequence[str], adapter: AdapterName, *, mode: ScoringMode = DEFAULT_MODE, history: History | None = None
    ) -> bool:
        if not turns:
            return True
        if len(turns) >= MAX_GENERATIONS:
            return False
        last = self.rollout(adapter, mode, turns, history)[len(turns) - 1].prediction
        return last is not None and last.operation == "scroll"

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
        generation = self.rollout(adapter, mode, turns, history)[-1]
        text = mind2web_prompt(adapter, self.task, generation.previous_actions)
        user = Message("user", (self.blocks[generation.block], text))
        return [Message("system", (UI_TARS_SYSTEM,)), user] if adapter == "ui_tars" else [user]


# --- the benchmark ------------------------------------------------------------------------------------------------


def _in_step_order(rows: list[tuple[Any, int, str]]) -> tuple[str, ...]:
    """Sample ids of one task by the rows' ``step`` (the files store some tasks' rows out of order, e.g. steps 2, 0,
    1); rows without an integer step keep their file order, after the numbered ones."""
    def key(row: tuple[Any, int, str]) -> tuple[int, int, int]:
        step, index, _ = row
        numbered = isinstance(step, int) and not isinstance(step, bool)
        return (0, step, index) if numbered else (1, 0, index)

    return tuple(sample_id for *_, sample_id in sorted(rows, key=key))


def _boxes(value: Any, where: str) -> tuple[Box, ...]:
    if not isinstance(value, list):
        raise RecordProblem(f"{where} must be a list of [x, y, w, h] boxes")
    boxes = []
    for box in value:
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise RecordProblem(f"{where} has a box that is not 4 numbers: {box!r}")
        boxes.append(tuple(float(v) for v in box))
    return tuple(boxes)  # type: ignore[return-value]


@dataclass(frozen=True)
class Mind2Web(Benchmark):
    """``splits``: which of domain / task / website to load, in the reference's order."""

    splits: tuple[str, ...] = SPLITS

    name: ClassVar[str] = "mind2web"
    data_env: ClassVar[str] = "MM_MIND2WEB_TEST"
    images_env: ClassVar[str] = "MM_MIND2WEB_IMGS"
    data_description: ClassVar[str] = "UGround's Mind2Web samples: cross_{domain,task,website}_blocks.jsonl"
    multi_step: ClassVar[bool] = True
    max_new_tokens: ClassVar[int] = 500
    headline_label: ClassVar[str] = "step accuracy"
    adapters: ClassVar[tuple[str, ...]] = tuple(TEMPLATES)
    result_files: ClassVar[tuple[str, ...]] = ("mind2web_summary_results.json", "mind2web_detailed_results.json")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "splits", tuple(self.splits))
        unknown = [split for split in self.splits if split not in SPLITS]
        if unknown or not self.splits:
            raise ValueError(f"splits must be a non-empty subset of {', '.join(SPLITS)}, got {self.splits!r}")

    def history_spans_episodes(self, mode: ScoringMode = DEFAULT_MODE) -> bool:
        # Quirk "stale history": an empty previous-actions list reuses the text of the previous row, which is usually
        # the last row of the previous task.
        return mode == "reference"

    def _read(self) -> Dataset:
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        episodes: dict[tuple[str, str], dict[str, Any]] = {}
        predecessor: Mind2WebSample | None = None
        for split in (s for s in SPLITS if s in self.splits):
            path = self.data_dir / f"cross_{split}_blocks.jsonl"
            if not path.is_file():
                raise BenchmarkDataError(f"{self.name}: {path} not found; {self.data_env} must hold {self.data_description}")
            with path.open(encoding="utf-8") as lines:
                for index, line in enumerate(lines):
                    if not line.strip():
                        continue
                    known: dict[str, Any] = {"split": split}
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as error:
                        bad.append(BadRecord(str(path), index, f"not valid JSON: {error}", known))
                        continue
                    try:
                        known |= self._episode_fields(record)
                        sample = self._sample(split, record, predecessor)
                    except RecordProblem as problem:
                        bad.append(BadRecord.of(str(path), index, problem, known))
                        self._count(episodes, known, None)
                        continue
                    self._count(episodes, known, (sample.meta["step"], index, sample.id))
                    samples.append(sample)
                    predecessor = sample
        built = tuple(
            Episode(f"{split}/{task}", info["length"], _in_step_order(info["samples"]), {"split": split, "annotation_id": task})
            for (split, task), info in episodes.items()
        )
        return Dataset(self.name, tuple(samples), tuple(bad), built)

    @staticmethod
    def _episode_fields(record: Any) -> dict[str, Any]:
        return {"annotation_id": require(record, "annotation_id", str), "total_steps": require(record, "total_steps", int)}

    @staticmethod
    def _count(episodes: dict, known: Mapping[str, Any], sample: tuple[Any, int, str] | None) -> None:
        """Count a row for its task; ``sample`` = (step, file index, sample id) of a runnable row."""
        if "annotation_id" not in known or "total_steps" not in known:
            return
        info = episodes.setdefault((known["split"], known["annotation_id"]), {"length": 0, "samples": []})
        info["length"] = known["total_steps"]  # the reference's dict keeps the last row's value
        if sample is not None:
            info["samples"].append(sample)

    def _sample(self, split: str, record: Mapping[str, Any], predecessor: Mind2WebSample | None) -> Mind2WebSample:
        annotation_id = require(record, "annotation_id", str)
        action_uid = require(record, "action_uid", str)
        task = require(record, "task", str)
        operation = require(record, "operation", str)
        value = require(record, "value", str)
        bbox = _boxes(require(record, "bbox", list), "record field 'bbox'")
        previous = require(record, "previous_actions", list)
        if not all(isinstance(p, str) for p in previous):
            raise RecordProblem("record field 'previous_actions' must be a list of strings")
        total_steps = require(record, "total_steps", int)
        raw_targets = record.get("target_blocks") or {}
        if not isinstance(raw_targets, Mapping):
            raise RecordProblem("record field 'target_blocks' must be an object of block index -> boxes")
        targets = {str(k): _boxes(v, f"record field 'target_blocks[{k}]'") for k, v in raw_targets.items()}
        folder = block_folder(self.images_dir, split, f"{annotation_id}_{action_uid}")
        blocks = [self.image(folder / "0.png")]
        while (folder / f"{len(blocks)}.png").exists():
            blocks.append(self.image(folder / f"{len(blocks)}.png"))
        derived = bool(bbox) and not any(targets.values())
        if derived:  # a box but no per-block box: place it by UGround's tiling where that is unambiguous
            targets = tile_targets(bbox, [block.size for block in blocks])
        truth = Mind2WebTruth(operation, value, bbox, targets, total_steps, derived)
        meta = {
            "split": split,
            "annotation_id": annotation_id,
            "action_uid": action_uid,
            "step": record.get("step"),
            "operation": operation,
            "total_steps": total_steps,
        }
        return Mind2WebSample(
            f"{split}/{annotation_id}_{action_uid}", self.name, truth, meta,
            blocks=tuple(blocks), task=task, previous_actions=tuple(previous), predecessor=predecessor, pixels=self.pixels,
        )


    def score(
        self,
        prediction: str | Sequence[str],
        sample: Sample,
        adapter: AdapterName,
        mode: ScoringMode = DEFAULT_MODE,
        history: History | None = None,
    ) -> Score:
        """Score the row's generations (a single string is one generation on block 0). ``history`` is only needed to
        report the previous-actions text each generation saw under the reference's stale-history quirk."""
        check_mode(mode)
        if not isinstance(sample, Mind2WebSample):
            raise TypeError(f"{self.name} cannot score a {type(sample).__name__}")
        turns = as_turns(prediction)
        if not turns:
            raise ValueError(f"{self.name}: no generation to score for {sample.id}")
        generations = sample.rollout(adapter, mode, turns, history)[: len(turns)]
        final = generations[-1]
        pred = final.prediction or Mind2WebPrediction()
        truth: Mind2WebTruth = sample.truth
        f1 = operation_f1(f"{pred.operation} {pred.content}", f"{truth.operation} {truth.value}")
        element = self._element_correct(pred, final.block, sample, mode)
        # Corrected mode fixes "TYPE never step-correct": TYPE rows are graded by their operation F1 alone.
        graded_by_text = mode == "corrected" and truth.operation.upper() == "TYPE"
        step = f1 == 1 and (graded_by_text or bool(element))
        details = {
            "raw_responses": list(turns),
            "generations": [
                {"block": g.block, "previous_actions": g.previous_actions, "prediction": g.prediction.to_dict()}
                for g in generations
                if g.prediction is not None
            ],
            "final_block": final.block,
            "element_correct": element,
            "operation_f1": f1,
            "step_correct": step,
            "gt_operation": truth.operation,
            "gt_value": truth.value,
            "target_blocks_derived": truth.targets_derived,
        }
        if mode == "corrected" and element is not None:
            details["element_reachable"] = truth.reachable
        return Score(sample.id, self.name, adapter, mode, float(step), pred.to_dict(), details, dict(sample.meta), pred.error)

    @staticmethod
    def _element_correct(pred: Mind2WebPrediction, block: int, sample: Mind2WebSample, mode: ScoringMode) -> bool | None:
        truth: Mind2WebTruth = sample.truth
        if mode == "reference":
            # Quirk "frame mismatch": full-page boxes over block 0's size, whichever block the point came from.
            width, height = sample.blocks[0].size
            boxes = [(x / width, y / height, w / width, h / height) for x, y, w, h in truth.bbox]
            return bool(pred.point) and any(in_xywh(pred.point, box) for box in boxes)
        if truth.operation.upper() == "TYPE":
            return None
        width, height = sample.blocks[block].size
        boxes = [(x / width, y / height, w / width, h / height) for x, y, w, h in truth.target_blocks.get(str(block), ())]
        return bool(pred.point) and any(in_xywh(pred.point, box) for box in boxes)

    @classmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        return mind2web_files.reference_files(result)

    @classmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        return float(summary["overall_metrics"]["step_accuracy"])

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        found = {}
        for split in summary["task_breakdown"]:
            found[f"{split['task']} element"] = split["element_accuracy"]
            found[f"{split['task']} op_f1"] = split["operation_f1"]
            found[f"{split['task']} step"] = split["step_accuracy"]
        return found

    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """``overall_metrics``, ``total_tasks`` and ``task_breakdown`` as in the reference's results (§5.4, §5.6)."""
        check_mode(mode)
        # task id -> per-step (element, f1, step); element None = not judged (corrected TYPE rows)
        steps: dict[str, list[tuple[float | None, float, float]]] = {}
        breakdown = []
        for split in (s for s in SPLITS if any(ep.meta["split"] == s for ep in data.episodes)):
            if mode == "corrected":
                steps = {}  # quirk "cumulative splits" fixed: every split starts empty
            for score in (s for s in scores if s.meta["split"] == split):
                element = score.details["element_correct"]
                steps.setdefault(score.meta["annotation_id"], []).append(
                    (None if element is None else float(element), score.details["operation_f1"], score.value)
                )
            for episode in (ep for ep in data.episodes if ep.meta["split"] == split):
                present = len(steps.get(episode.meta["annotation_id"], ()))
                if episode.length > present:  # missing steps (bad records, unrun rows) count 0
                    steps.setdefault(episode.meta["annotation_id"], []).extend([(0.0, 0.0, 0.0)] * (episode.length - present))
            breakdown.append({"task": split, **self._macro(steps)})
        overall = {key: mean(b[key] for b in breakdown) for key in ("element_accuracy", "operation_f1", "step_accuracy")}
        summary = {
            "benchmark": self.name,
            "scoring_mode": mode,
            "tasks_evaluated": "all" if len(breakdown) == len(SPLITS) else ",".join(b["task"] for b in breakdown),
            "overall_metrics": overall,
            "total_tasks": sum(b["total_tasks"] for b in breakdown),
            "task_breakdown": breakdown,
            "bad_records": data.bad_summary(),
        }
        if mode == "corrected":
            truths = [s.truth for s in data.samples if isinstance(s, Mind2WebSample)]
            summary["target_blocks"] = {
                "derived": sum(1 for t in truths if t.targets_derived),
                "unreachable": sum(1 for t in truths if not t.reachable and t.operation.upper() != "TYPE"),
            }
        return summary

    @staticmethod
    def _macro(steps: Mapping[str, list[tuple[float | None, float, float]]]) -> dict[str, Any]:
        judged = [[e for e, _, _ in rows if e is not None] for rows in steps.values()]
        errors = [sum(1 for _, _, s in rows if s == 0) for rows in steps.values()]
        ratio: dict[str, float] = {}
        for label in ("0", "1", "2", "3", ">3"):
            count = sum(1 for e in errors if (str(e) == label if label != ">3" else e > 3))
            if count:
                ratio[label] = count / len(steps)
        return {
            "element_accuracy": mean(mean(rows) for rows in judged if rows),
            "operation_f1": mean(mean(f for _, f, _ in rows) for rows in steps.values() if rows),
            "step_accuracy": mean(mean(s for _, _, s in rows) for rows in steps.values() if rows),
            "error_ratio": ratio,
            "total_tasks": len(steps),
        }
