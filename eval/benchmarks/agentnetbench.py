"""AgentNetBench (xlangai/AgentNetBench ``test_data``): multi-step desktop trajectories, soft step scores.

Spec: specs/benchmarks.md §1. One sample per trajectory step; step t shows the current screenshot, the screenshots
of the previous ``image_slots - 1`` steps and, for the previous ``history_length`` steps, the model's *own* earlier
outputs (ground-truth inner monologue only for steps that have no output).

Quirks and what each mode does (the ``reference`` branches here and in ``agentnetbench_scoring.py`` name the quirk
they reproduce):

============================  ===============================================  ==========================================
quirk (spec §)                reference                                        corrected
============================  ===============================================  ==========================================
ctrl->control (§1.7)          UI-TARS hotkeys rewrite ``ctrl`` to ``control``  keys kept as written
OpenCUA history images (§1.3) no image inside the window; every older step     previous screenshots as for UI-TARS
                              gets a stale copy of step p-1's screenshot
multi-action GT (§1.7)        only first actions compared; moveTo+scroll /     moveTo+X GT scored as one composite: mean
                              moveTo+dragTo steps unreachable for UI-TARS      of pointer position and X; UI-TARS
                                                                               scroll/drag expand to moveTo + X
press vs hotkey (§1.7)        a ``press`` GT is unreachable for UI-TARS        press and hotkey compare by key set
write newline penalty (§1.5)  never fires (strip before the check)             x0.9 when only the submit differs (a
                                                                               following Enter press is a submit);
                                                                               OpenCUA string escapes decoded
alternatives (§1.5)           only when the GT scores exactly 0: the first     max over the GT and every alternative;
                              same-type alternative, else the max; soft        every rescue by an alternative counted
                              scores are never 0, so a same-type alternative
                              is never used; the redirect is not counted
milestone / per-type (§1.5)   only steps with a non-empty prediction           every step
============================  ===============================================  ==========================================

In both modes a step whose screenshot is missing or undecodable is a bad record: not run, but counted in
``total_steps`` and in its trajectory's length (as the reference does); its screenshot is left out of later prompts
(the reference would crash on it) and its history text falls back to the ground-truth monologue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from eval.benchmarks import agentnetbench_files
from eval.benchmarks.agentnetbench_prompts import (
    AGENTNETBENCH_GT_HISTORY,
    AGENTNETBENCH_OUTPUT_RECORD,
    AGENTNETBENCH_STEP_HEADER,
    TEMPLATES,
    agentnetbench_prompt,
)
from eval.benchmarks.agentnetbench_scoring import (
    ACTION_TYPES,
    AgentNetTruth,
    action_type,
    jsonable,
    predicted_actions,
    score_step,
)
from eval.benchmarks.base import Benchmark, Dataset, Episode, History, ImageRef, Message, Sample, Score, as_turns, last_output
from eval.benchmarks.records import BadRecord, RecordProblem, read_json, require, require_box
from eval.benchmarks.shared_prompts import QWEN3_VL_SYSTEM
from eval.parsing import ActionParseError
from eval.scoring import (
    DEFAULT_MODE,
    AdapterName,
    ScoringMode,
    check_adapter,
    check_mode,
    mean,
)


@dataclass(frozen=True)
class HistoryStep:
    """An earlier step as later prompts see it: its screenshot (None when missing or bad) and its fallback text."""

    index: int
    sample_id: str
    image: ImageRef | None
    fallback: str


@dataclass(frozen=True, eq=False)
class AgentNetBenchSample(Sample):
    image: ImageRef
    instruction: str
    step_index: int
    previous: tuple[HistoryStep, ...]
    image_slots: int
    history_length: int

    @property
    def images(self) -> tuple[ImageRef, ...]:
        return (self.image,)

    def image_window(self) -> range:
        """Indices of the previous steps whose screenshot the prompt carries."""
        slots = max(0, self.image_slots - 1)
        return range(max(0, self.step_index - slots), self.step_index)

    def history_text(self, step: HistoryStep, history: History) -> str:
        """The assistant turn of an earlier step: the model's own output if it exists, else the GT monologue."""
        header = AGENTNETBENCH_STEP_HEADER.format(step_num=step.index + 1)
        if step.sample_id in history:
            output = last_output(history[step.sample_id])
            return header + AGENTNETBENCH_OUTPUT_RECORD.format(step_num=step.index + 1, output=output)
        return header + step.fallback

    def _stale_image(self) -> ImageRef | None:
        # Quirk "OpenCUA history images" (§1.3): the reference's out-of-window branch reuses the path its loop left in
        # a variable: the last in-window screenshot of the previous processed step p, i.e. step p-1's screenshot.
        processed = [step.index for step in self.previous if step.image is not None]
        if not processed or self.image_slots < 2 or processed[-1] < 1:
            return None
        return self.previous[processed[-1] - 1].image

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
        history = history or {}
        window = self.image_window()
        opencua_quirk = adapter == "opencua" and mode == "reference"
        stale = self._stale_image() if opencua_quirk else None
        first_text = max(0, self.step_index - self.history_length)
        messages = []
        for step in self.previous:
            if step.index in window:
                if not opencua_quirk and step.image is not None:
                    messages.append(Message("user", (step.image,)))
            elif opencua_quirk and stale is not None:
                messages.append(Message("user", (stale,)))
            if step.index >= first_text:
                messages.append(Message("assistant", (self.history_text(step, history),)))
        messages.append(Message("user", (self.image, agentnetbench_prompt(adapter, self.instruction))))
        return [Message("system", (QWEN3_VL_SYSTEM,)), *messages] if adapter == "qwen3_vl" else messages


# --- the benchmark ------------------------------------------------------------------------------------------------


def _check_action(action: Any, where: str) -> Mapping[str, Any]:
    require(action, "type", str, where)
    require(action, "params", dict, where)
    metadata = action.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise RecordProblem(f"{where} field 'metadata' must be an object")
    for i, box in enumerate(metadata.get("bboxes") or []):
        require_box(box, "rel_bbox", f"{where} metadata.bboxes[{i}]")
    return action


@dataclass(frozen=True)
class AgentNetBench(Benchmark):
    """``image_slots``: screenshots per prompt including the current one; ``history_length``: earlier steps whose text
    is replayed (both as in the reference driver)."""

    image_slots: int = 5
    history_length: int = 10

    name: ClassVar[str] = "agentnetbench"
    data_env: ClassVar[str] = "AGENTNETBENCH_DATA"
    images_env: ClassVar[str] = "AGENTNETBENCH_IMGS"
    data_description: ClassVar[str] = "AgentNetBench test_data: one <task_id>.json per trajectory"
    multi_step: ClassVar[bool] = True
    max_new_tokens: ClassVar[int] = 1000
    headline_label: ClassVar[str] = "step score"
    adapters: ClassVar[tuple[str, ...]] = tuple(TEMPLATES)
    result_files: ClassVar[tuple[str, ...]] = ("agentnetbench_results_budget.json",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_slots < 1:
            raise ValueError(f"image_slots counts the current screenshot too, so it must be >= 1 (got {self.image_slots})")
        if self.history_length < 0:
            raise ValueError(f"history_length must be >= 0 (got {self.history_length})")

    @classmethod
    def default_images_dir(cls, data_dir: Path) -> Path | None:
        return data_dir / "images"

    def _read(self) -> Dataset:
        files = sorted(
            p for p in self.data_dir.iterdir() if p.is_file() and p.name.endswith(".json") and not p.name.startswith("mapping")
        )
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        episodes: list[Episode] = []
        seen: dict[str, Path] = {}
        for path in files:
            try:
                record = read_json(path)
                task_id = require(record, "task_id", str, "trajectory")
                steps = require(record, "steps", list, "trajectory")
                instruction = record.get("high_level_task_description", record.get("user_task_description"))
                if not isinstance(instruction, str):
                    raise RecordProblem("trajectory is missing field 'high_level_task_description' (and 'user_task_description')")
                if task_id in seen:
                    raise RecordProblem(f"task_id {task_id!r} already used by {seen[task_id].name}")
            except RecordProblem as problem:
                bad.append(BadRecord.of(str(path), None, problem))
                continue
            seen[task_id] = path
            episode_samples, episode_bad = self._read_steps(path, task_id, instruction, steps)
            samples.extend(episode_samples)
            bad.extend(episode_bad)
            episodes.append(Episode(task_id, len(steps), tuple(s.id for s in episode_samples), {"path": str(path)}))
        return Dataset(self.name, tuple(samples), tuple(bad), tuple(episodes))

    def _read_steps(self, path: Path, task_id: str, instruction: str, steps: list) -> tuple[list[Sample], list[BadRecord]]:
        samples: list[Sample] = []
        bad: list[BadRecord] = []
        previous: list[HistoryStep] = []
        for index, step in enumerate(steps):
            sample_id = f"{task_id}/{index}"
            where = f"step {index}"
            monologue = step.get("inner_monologue") if isinstance(step, Mapping) else None
            monologue = monologue if isinstance(monologue, Mapping) else {}
            fallback = AGENTNETBENCH_GT_HISTORY.format(
                observation=monologue.get("observation", ""),
                thought=monologue.get("thought", ""),
                action=monologue.get("low_level_instruction", ""),
            )
            image: ImageRef | None = None
            try:
                image_name = require(step, "image", str, where)
                image = self.image(self.images_dir / image_name)
                truth = self._truth(step, where)
            except RecordProblem as problem:
                bad.append(BadRecord.of(str(path), index, problem, {"episode_id": task_id, "step_index": index}))
                previous.append(HistoryStep(index, sample_id, image, fallback))
                continue
            meta = {
                "episode_id": task_id,
                "step_index": index,
                "step_num": index + 1,
                "file_step_num": step.get("step_num"),
                "milestone": truth.milestone,
                "gt_type": action_type(truth.actions[0]) if truth.actions else None,
                "episode_length": len(steps),
            }
            samples.append(
                AgentNetBenchSample(
                    sample_id, self.name, truth, meta, image=image, instruction=instruction, step_index=index,
                    previous=tuple(previous), image_slots=self.image_slots, history_length=self.history_length,
                )
            )
            previous.append(HistoryStep(index, sample_id, image, fallback))
        return samples, bad

    @staticmethod
    def _truth(step: Mapping[str, Any], where: str) -> AgentNetTruth:
        actions = require(step, "ground_truth_actions", list, where)
        actions = tuple(_check_action(a, f"{where} ground_truth_actions[{i}]") for i, a in enumerate(actions))
        options = step.get("alternative_options") or []
        if not isinstance(options, list) or not all(isinstance(option, list) for option in options):
            raise RecordProblem(f"{where} field 'alternative_options' must be a list of action lists")
        alternatives = tuple(
            tuple(_check_action(a, f"{where} alternative_options[{i}][{j}]") for j, a in enumerate(option))
            for i, option in enumerate(options)
        )
        milestone = step.get("milestone", False)
        if not isinstance(milestone, bool):
            raise RecordProblem(f"{where} field 'milestone' is {type(milestone).__name__}, expected bool")
        return AgentNetTruth(actions, alternatives, milestone)

    def score(
        self, prediction: str | Sequence[str], sample: Sample, adapter: AdapterName, mode: ScoringMode = DEFAULT_MODE
    ) -> Score:
        check_mode(mode)
        if not isinstance(sample, AgentNetBenchSample):
            raise TypeError(f"{self.name} cannot score a {type(sample).__name__}")
        turns = as_turns(prediction)
        text = turns[-1] if turns else ""
        truth: AgentNetTruth = sample.truth
        details: dict[str, Any] = {
            "task_id": sample.meta["episode_id"],
            "step_num": sample.step_index + 1,
            "raw_response": text,
            "is_milestone": truth.milestone,
            "gt_type": sample.meta["gt_type"],
        }
        try:
            actions = predicted_actions(text, adapter, sample.image.width, sample.image.height, mode, self.pixels)
        except ActionParseError as error:
            details.update(predicted_actions=[], used_alternative=False, scored=False)
            return Score(sample.id, self.name, adapter, mode, 0.0, [], details, dict(sample.meta), str(error))
        value, used_alternative = score_step(actions, truth, mode)
        details.update(
            predicted_actions=jsonable(actions), used_alternative=used_alternative, scored=bool(actions and truth.actions)
        )
        return Score(sample.id, self.name, adapter, mode, float(value), jsonable(actions), details, dict(sample.meta))

    @classmethod
    def reference_files(cls, result: Any) -> dict[str, Any]:
        return agentnetbench_files.reference_files(result)

    @classmethod
    def headline(cls, summary: Mapping[str, Any]) -> float:
        return float(summary["metrics"]["overall_score"])

    @classmethod
    def categories(cls, summary: Mapping[str, Any]) -> dict[str, float]:
        metrics = summary["metrics"]
        steps = metrics.get("action_type_steps", {})
        found = {f"gt {kind}": value for kind, value in metrics["action_type_scores"].items() if steps.get(kind, 1)}
        return {"milestone": metrics["milestone_score"], **found}

    def summarize(self, scores: Sequence[Score], data: Dataset, mode: ScoringMode = DEFAULT_MODE) -> dict[str, Any]:
        """``metrics`` with the reference's keys (§1.5); ``action_type_steps`` counts the steps behind each type score."""
        check_mode(mode)
        by_id = {score.sample_id: score for score in scores}
        episodes = [ep for ep in data.episodes if not ep.sample_ids or any(i in by_id for i in ep.sample_ids)]
        total_steps = sum(ep.length for ep in episodes)
        trajectory_scores = [
            sum(by_id[i].value for i in ep.sample_ids if i in by_id) / ep.length for ep in episodes if ep.length > 0
        ]
        # Quirk "milestone / per-type only with a prediction" (§1.5): reference rows count only when scored.
        counted = [s for s in scores if mode == "corrected" or s.details.get("scored")]
        milestone = [s.value for s in counted if s.details.get("is_milestone")]
        per_type = {kind: [s.value for s in counted if s.details.get("gt_type") == kind] for kind in ACTION_TYPES}
        alternative_matches = sum(1 for s in scores if s.details.get("used_alternative"))
        metrics = {
            "overall_score": mean(s.value for s in scores),
            "average_trajectory_score": mean(trajectory_scores),
            "total_steps": total_steps,
            "total_trajectories": len(episodes),
            "alternative_matches": alternative_matches,
            "alternative_match_percentage": alternative_matches / total_steps * 100 if total_steps else 0,
            "milestone_score": mean(milestone),
            "milestone_steps": len(milestone),
            "action_type_scores": {kind: mean(values) for kind, values in per_type.items()},
            "action_type_steps": {kind: len(values) for kind, values in per_type.items()},
            "evaluated_steps": len(scores),
            "parse_errors": sum(1 for s in scores if s.error is not None),
        }
        return {"benchmark": self.name, "scoring_mode": mode, "metrics": metrics, "bad_records": data.bad_summary()}
