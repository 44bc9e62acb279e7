"""The sweep runner: every (method, budget) run of one benchmark, one JSONL row per sample as it is produced, resumable.

The seams live in their own modules: configuration ``eval.config``, work planning ``eval.planning``, the model replica
``eval.replayer``, resume ``eval.resume``; this module is the sweep (and re-exports those names).

    config = EvalConfig("screenspot_v2", model="ByteDance-Seed/UI-TARS-1.5-7B", methods=("snap_kv", "gui_kv"),
                        budgets=("0.1", "0.2"), data_dir=..., images_dir=..., results_dir=Path("results"))
    result = run_sweep(config, on_event=print)        # rows in results/results.jsonl, files per run (eval.results)

How a sample is generated. Single-screenshot benchmarks: one fresh session holding the sample's prompt. Multi-step
benchmarks (``bench.multi_step``) have two memories:

* ``reference`` (the GUI-KV paper): each generation rebuilds the sample's full prompt (earlier steps as the reference
  lays them out, with the model's own earlier outputs) and prefills it from scratch in a fresh session.
* ``persistent`` (ours): an episode is ONE session: the preamble, then per step the new user turn, a generation, and
  the model's raw output kept as the assistant turn, the cache compressed to its budget on every prefill.

Prompts are built in one mode (``prompts``, default ``reference``: byte-identical to the reference drivers, quirks in
prompt construction included) and every output is scored in both scoring modes; both are stored in the row.

Resume. A row's key is its run (``eval.results.RUN_FIELDS``) and sample id; a sweep skips keys already in the file and
seeds the prompts' history with their recorded outputs, which is exactly what an uninterrupted run would have seen.
Persistent memory is the exception: an episode's rows come from one conversation whose cache was compressed step by
step, and re-feeding finished steps would compress at other points and change later outputs. So a resume discards the
rows of an episode that was cut off (the results file is rewritten atomically without them) and replays that episode
from its first step: a resumed sweep writes the same rows as one that never stopped, and nothing is counted twice.

Failures. A generation that raises is recorded in its row (``error``), scored as an empty answer (wrong in both modes),
and left out of later prompts' history (those fall back to what the reference uses for a step without output); it is
never replaced by another sample's output. In persistent memory the next step starts a new session rebuilt from the
episode's successful turns. ``max_consecutive_failures`` failures in a row stop the sweep (a broken setup, not a model
error); ``retry_failed`` re-runs failed rows on resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from eval.benchmarks import Benchmark, BenchmarkDataError, Dataset
from eval.benchmarks.base import nothing_to_run
from eval.config import MEMORIES as MEMORIES
from eval.config import EvalConfig as EvalConfig
from eval.config import Memory as Memory
from eval.config import budget_label as budget_label
from eval.config import detect_adapter as detect_adapter
from eval.config import model_spec as model_spec
from eval.planning import CHUNK as CHUNK
from eval.planning import Group as Group
from eval.planning import WorkUnit as WorkUnit
from eval.planning import plan_units as plan_units
from eval.planning import select as select
from eval.replayer import Replayer as Replayer
from eval.replayer import resolve_device as resolve_device
from eval.report import headline
from eval.results import (
    RESULTS_FILE,
    SWEEPS_FILE,
    RowWriter,
    RunScores,
    RunSpec,
    append_json,
    generation_failures,
    results_lock,
    run_key,
    score_from_row,
    write_run_files,
)
from eval.resume import ResumeInfo as ResumeInfo
from eval.resume import prepare_resume as prepare_resume
from eval.scoring import SCORING_MODES, ScoringMode


class EvalAborted(RuntimeError):
    """Too many generations failed in a row: the setup is broken (rows so far are saved; fix it and resume)."""


# --- the sweep ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its folder, sample and failure counts, the headline metric per scoring mode, files written."""

    run: RunSpec
    folder: Path
    samples: int
    failures: int
    headline: Mapping[str, float]
    files: tuple[Path, ...]
    first_error: str | None = None


@dataclass(frozen=True)
class RunProgress:
    """A progress event: a run started (``start``), produced a row (``row``) or wrote its files (``finish``).
    ``accuracy`` is the running mean of per-sample scores in the configured scoring mode (None before any row)."""

    kind: Literal["start", "row", "finish"]
    run: RunSpec
    done: int
    total: int
    accuracy: float | None
    failures: int
    row: Mapping[str, Any] | None = None
    outcome: RunOutcome | None = None


@dataclass(frozen=True)
class SweepResult:
    config: EvalConfig
    results_file: Path
    samples: int
    outcomes: tuple[RunOutcome, ...]
    resume: ResumeInfo
    bad_records: Mapping[str, Any]


class _RunState:
    """One run's rows so far (resumed ones included) and its running accuracy."""

    def __init__(self, run: RunSpec, total: int, rows: dict[str, dict[str, Any]], scoring: ScoringMode) -> None:
        self.run, self.total, self.scoring = run, total, scoring
        self.rows: dict[str, dict[str, Any]] = {}
        self.value_sum, self.failures = 0.0, 0
        self.outcome: RunOutcome | None = None
        for row in rows.values():
            self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        self.rows[row["sample_id"]] = row
        self.value_sum += row["scores"][self.scoring]["value"]
        self.failures += 1 if row.get("error") else 0

    @property
    def complete(self) -> bool:
        return len(self.rows) >= self.total

    def event(self, kind: Literal["start", "row", "finish"], row: Mapping[str, Any] | None = None) -> RunProgress:
        accuracy = self.value_sum / len(self.rows) if self.rows else None
        return RunProgress(kind, self.run, len(self.rows), self.total, accuracy, self.failures, row, self.outcome)


def reference_header(run: RunSpec, mode: ScoringMode, engine: Mapping[str, Any] | None) -> dict[str, Any]:
    """The reference's run keys (its names and units: ``original`` = full cache, budget in percent), then ours."""
    engine = engine or {}
    header = {
        "model_path": run.model,
        "kv_cache": "original" if run.method == "full" else run.method,
        "kv_cache_budget": run.budget_percent,
        "attention_implementation": engine.get("attention"),
        "model_dtype": engine.get("dtype"),
        "max_new_tokens": run.max_new_tokens,
        "scoring_mode": mode,
        "memory": run.memory,
        "prompt_mode": run.prompts,
        "model_family": run.adapter,
    }
    if run.method_options:
        header["kv_cache_options"] = dict(run.method_options)
    return header


def finish_run(
    run: RunSpec, rows: Mapping[str, Mapping[str, Any]], bench: Benchmark, data: Dataset, config: EvalConfig
) -> RunOutcome:
    """Summaries in both modes from the rows (in data order) and the run's files: ``summary.json`` and the reference's."""
    ordered = tuple(rows[sample.id] for sample in data.samples)
    engine = ordered[0].get("engine") if ordered else None
    results, summaries = {}, {}
    for mode in SCORING_MODES:
        scores = tuple(score_from_row(row, mode) for row in ordered)
        summaries[mode] = bench.summarize(scores, data, mode)
        results[mode] = RunScores(run, mode, ordered, scores, summaries[mode], data, reference_header(run, mode, engine))
    headlines = {mode: headline(run.benchmark, summaries[mode]) for mode in SCORING_MODES}
    failures = generation_failures(ordered)
    summary = {
        "run": run.to_dict(),
        "samples": len(ordered),
        "generation_failures": failures,
        "headline": headlines,
        "engine": engine,
        "scoring": summaries,
        "config": config.to_dict(),
    }
    folder = run.folder(config.results_dir)
    files = write_run_files(folder, {mode: bench.reference_files(result) for mode, result in results.items()}, summary)
    first_error = failures["samples"][0]["error"] if failures["samples"] else None
    return RunOutcome(run, folder, len(ordered), failures["count"], headlines, tuple(files), first_error)


def run_sweep(
    config: EvalConfig,
    *,
    on_event: Callable[[RunProgress], None] | None = None,
    replayer: Replayer | None = None,
) -> SweepResult:
    """Run (or resume) every run of ``config``; rows go to ``results_dir/results.jsonl`` as they are produced, each
    run's files are written when it is complete. ``replayer`` reuses a loaded model (in-process only)."""
    emit = on_event or (lambda event: None)
    bench = config.make_benchmark()
    everything = bench.load()
    data = select(everything, bench, config.limit)
    if not data.samples:  # only bad records: a setup problem (paths, layout), never "accuracy 0.0"
        if everything.samples:
            raise BenchmarkDataError(
                f"{bench.name}: the first {config.limit} episode(s) hold no runnable sample (their rows are all bad "
                "records); raise --limit"
            )
        raise BenchmarkDataError(nothing_to_run(bench, everything))
    runs = config.runs(bench)
    results_file = config.results_dir / RESULTS_FILE
    with results_lock(config.results_dir):
        finished, resume = prepare_resume(results_file, runs, bench, data, retry_failed=config.retry_failed)
        append_json(
            config.results_dir / SWEEPS_FILE,
            {"started_at": time.time(), "config": config.to_dict(), "resume": resume.to_dict()},
        )
        states = {run.key: _RunState(run, len(data), finished[run.key], config.scoring) for run in runs}
        units = []
        for run in runs:
            rows = states[run.key].rows
            seeds = {sid: tuple(r["outputs"]) for sid, r in rows.items() if not r.get("error")}
            for unit in plan_units(bench, data, run):
                if all(sid in rows for sid in unit.sample_ids):
                    continue
                units.append(replace(unit, seeds={sid: seeds[sid] for sid in unit.sample_ids if sid in seeds}))
        for state in states.values():
            emit(state.event("start"))
            if state.complete:
                _finish(state, bench, data, config, emit)
        if units:
            rows_stream = _stream(config, units, bench, everything, replayer)
            _consume(rows_stream, results_file, states, bench, data, config, emit)
        unfinished = [state.run.label() for state in states.values() if state.outcome is None]
        if unfinished:
            raise RuntimeError(f"runs did not complete: {', '.join(unfinished)} (re-run the same command to resume)")
    return SweepResult(
        config, results_file, len(data), tuple(states[run.key].outcome for run in runs), resume, everything.bad_summary()
    )


def _finish(state: _RunState, bench: Benchmark, data: Dataset, config: EvalConfig, emit: Callable) -> None:
    state.outcome = finish_run(state.run, state.rows, bench, data, config)
    emit(state.event("finish"))


def _stream(
    config: EvalConfig, units: Sequence[WorkUnit], bench: Benchmark, data: Dataset, replayer: Replayer | None
) -> Iterable[dict[str, Any]]:
    if config.ray:
        from eval.scale import ray_rows

        return ray_rows(config, units)
    replayer = replayer or Replayer(config, bench=bench, data=data)
    replayer.load_model()  # fail on a bad model before the first row, not inside the progress bar
    return (row for unit in units for row in replayer.run(unit))


def _consume(
    rows: Iterable[dict[str, Any]],
    results_file: Path,
    states: Mapping[str, _RunState],
    bench: Benchmark,
    data: Dataset,
    config: EvalConfig,
    emit: Callable[[RunProgress], None],
) -> None:
    consecutive = 0
    with RowWriter(results_file) as writer:
        for row in rows:
            state = states.get(run_key(row))
            if state is None or row["sample_id"] in state.rows:
                raise RuntimeError(f"a worker returned a row this sweep did not ask for: {row.get('sample_id')!r}")
            written = writer.write(row)
            state.add(written)
            consecutive = consecutive + 1 if written.get("error") else 0
            emit(state.event("row", written))
            if state.complete:
                _finish(state, bench, data, config, emit)
            if config.max_consecutive_failures and consecutive >= config.max_consecutive_failures:
                raise EvalAborted(
                    f"{consecutive} generations in a row failed; the last: {written['error']}. The rows are saved; fix "
                    "the cause and re-run the same command with --retry-failed"
                )
