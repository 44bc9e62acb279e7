"""Where a sweep's results live: one JSONL row per (run, sample) written as produced, and per run the reference's
result files (specs/benchmarks.md §1.8, 2.7, 3.5, 4.5, 5.6) in both scoring modes, written when the run is complete.

Layout of a results directory::

    RESULTS_DIR/results.jsonl        one row per (run, sample), every benchmark and run of the directory (fsynced per row)
    RESULTS_DIR/sweeps.jsonl         the configuration of every ``eval`` invocation, appended
    RESULTS_DIR/<benchmark>/<model>/<memory>-memory_<prompts>-prompts_<hash>/<method>_budget-<B>/
        summary.json                 both scoring modes' summaries, bad records, generation failures, the run's identity
        reference/<reference names>  the reference's file names and keys, scored as the reference scores (quirks kept)
        corrected/<reference names>  the same names and keys, quirks fixed

A row is identified by its run (:data:`RUN_FIELDS`: benchmark, model, adapter, memory, prompts, method, budget, ...) and
its sample id; that pair is the resume key, and readers keep the first row of a key, so nothing is ever counted twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from eval.benchmarks.base import Dataset, Score
from eval.scoring import SCORING_MODES, ScoringMode
from guikv.budget import Budget

RESULTS_FILE = "results.jsonl"
SWEEPS_FILE = "sweeps.jsonl"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".results.lock"

RUN_FIELDS = (
    "benchmark",
    "model",
    "adapter",
    "memory",
    "prompts",
    "method",
    "budget",
    "max_new_tokens",
    "options",
    "method_options",
    "pixels",
)
"""Row fields that identify a run; with ``sample_id`` they are a row's resume key."""

TIMING_FIELD = "timing"
"""The only row field that differs between two runs of the same work (seconds, wall clock, worker)."""


class ResultsError(RuntimeError):
    """A results directory or file cannot be used as it is (corrupt row, held by another sweep); the message says what to do."""


# --- run identity ---------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """``value`` as JSON would give it back (tuples become lists), so run identities compare equal after a round trip."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True)
class RunSpec:
    """One (method, budget) point of a sweep with everything else that changes its outputs.

    ``budget`` is the canonical budget string (``"0.1"`` for 10 %, ``"4096"`` for tokens) or None for ``full``;
    ``options`` are the benchmark options that differ from their defaults; ``method_options`` this method's options.
    """

    benchmark: str
    model: str
    adapter: str
    memory: str
    prompts: str
    method: str
    budget: str | None
    max_new_tokens: int
    options: Mapping[str, Any] = field(default_factory=dict)
    method_options: Mapping[str, Any] = field(default_factory=dict)
    pixels: tuple[int, int] = (0, 0)

    def to_dict(self) -> dict[str, Any]:
        return _plain({name: getattr(self, name) for name in RUN_FIELDS})

    @property
    def key(self) -> str:
        return run_key(self.to_dict())

    @property
    def budget_value(self) -> Budget | None:
        return None if self.budget is None else Budget.parse(self.budget)

    @property
    def budget_percent(self) -> float | int:
        """The budget as the reference prints it: a percent (100.0 for the full cache), or a token count."""
        budget = self.budget_value
        if budget is None:
            return 100.0
        return round(budget.value * 100, 6) if budget.is_fraction else int(budget.value)

    @property
    def budget_folder(self) -> str:
        budget = self.budget_value
        if budget is None:
            return "full"
        return f"{self.budget_percent:g}" if budget.is_fraction else f"{budget.value}tok"

    def setting_hash(self) -> str:
        """Eight hex digits over what is neither in the folder names nor the method/budget (adapter, options, ...)."""
        extra = {k: v for k, v in self.to_dict().items() if k not in ("benchmark", "memory", "prompts", "method", "budget")}
        return hashlib.sha1(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:8]

    def folder(self, results_dir: Path) -> Path:
        model = Path(self.model).name if Path(self.model).is_absolute() else self.model.replace("/", "_")
        setting = f"{self.memory}-memory_{self.prompts}-prompts_{self.setting_hash()}"
        return Path(results_dir) / self.benchmark / model / setting / f"{self.method}_budget-{self.budget_folder}"

    def label(self) -> str:
        return f"{self.method} @ {'full' if self.budget is None else self.budget}"


def run_key(fields: Mapping[str, Any]) -> str:
    """The canonical string of a run's identity fields (from a RunSpec or a row)."""
    return json.dumps({name: fields.get(name) for name in RUN_FIELDS}, sort_keys=True)


def row_key(row: Mapping[str, Any]) -> tuple[str, str]:
    """(run key, sample id): the resume key of a row."""
    return run_key(row), str(row["sample_id"])


# --- JSONL rows -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowFile:
    """The rows of a results file, first row per key kept; what was odd about the file is counted, not hidden."""

    rows: tuple[dict[str, Any], ...]
    duplicates: int = 0
    truncated_tail: bool = False


def read_rows(path: Path) -> RowFile:
    """Every row of ``path`` (none if it does not exist). A last line cut short by a kill is dropped and reported
    (``truncated_tail``); an unreadable line elsewhere raises ResultsError naming it."""
    path = Path(path)
    if not path.exists():
        return RowFile(())
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    duplicates, truncated = 0, False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "sample_id" not in row:
                raise ValueError("not a result row (a JSON object with 'sample_id')")
            if "family" in row and "adapter" not in row:  # rows written before eval named it the adapter (issue 10)
                row["adapter"] = row.pop("family")
        except ValueError as error:
            if number == len(lines) and not text.endswith("\n"):
                truncated = True  # the write the process was killed in
                continue
            raise ResultsError(f"{path} line {number} is not a result row ({error}); remove or repair that line") from error
        key = row_key(row)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(row)
    return RowFile(tuple(rows), duplicates, truncated)


def rewrite_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace ``path`` with exactly ``rows``, atomically: a kill leaves either the old file or the new one."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class RowWriter:
    """Appends rows to a results file, one line each, flushed and fsynced before ``write`` returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = self.path.open("a", encoding="utf-8")

    def write(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``row``; returns it as a reader will see it (after the JSON round trip)."""
        if self._handle is None:
            raise ResultsError(f"{self.path} writer is closed")
        line = json.dumps(row)
        self._handle.write(line + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return json.loads(line)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def results_lock(results_dir: Path) -> Iterator[None]:
    """Hold the directory's lock for a sweep: two sweeps appending to one results file would interleave and re-run work.
    The kernel releases it when the process dies, so a killed sweep never blocks its resume."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        yield
        return
    with (results_dir / LOCK_FILE).open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ResultsError(
                f"{results_dir} is in use by another eval ({holder}); wait for it or use another --results directory"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def append_json(path: Path, record: Mapping[str, Any]) -> None:
    """One JSON line appended to ``path`` (the sweep log)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Path(path).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def write_json(path: Path, payload: Any) -> Path:
    """``payload`` as indented JSON, replaced atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


# --- scores in rows -------------------------------------------------------------------------------------------------


def score_record(score: Score) -> dict[str, Any]:
    """What a row stores of one mode's score (the sample's identity and meta live once in the row)."""
    return {"value": score.value, "prediction": score.prediction, "details": dict(score.details), "error": score.error}


def score_from_row(row: Mapping[str, Any], mode: ScoringMode) -> Score:
    """The :class:`Score` a row holds for ``mode``, as the benchmark's ``summarize`` takes it."""
    record = row["scores"][mode]
    return Score(
        str(row["sample_id"]), row["benchmark"], row["adapter"], mode, float(record["value"]), record["prediction"],
        record["details"], row["meta"], record["error"],
    )


# --- the reference's result files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunScores:
    """Everything a run's result files are written from, for one scoring mode; rows and scores in data order."""

    run: RunSpec
    mode: ScoringMode
    rows: tuple[Mapping[str, Any], ...]
    scores: tuple[Score, ...]
    summary: Mapping[str, Any]
    data: Dataset
    header: Mapping[str, Any]
    """The reference's run keys (model_path, kv_cache, kv_cache_budget, attention_implementation, model_dtype,
    max_new_tokens) followed by ours (scoring_mode, memory, prompt_mode, ...)."""

    @property
    def extras(self) -> dict[str, Any]:
        """Our additions to a reference file: bad records and generation failures, never silently dropped."""
        return {"bad_records": self.summary.get("bad_records"), "generation_failures": generation_failures(self.rows)}


def generation_failures(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    failed = [{"sample_id": row["sample_id"], "error": row["error"]} for row in rows if row.get("error")]
    return {"count": len(failed), "samples": failed}


def write_run_files(
    folder: Path, files: Mapping[ScoringMode, Mapping[str, Any]], summary: Mapping[str, Any]
) -> list[Path]:
    """``summary.json`` plus, per scoring mode, the reference's files (file name -> payload, as the run's benchmark
    built them from its ``RunScores``: ``Benchmark.reference_files``) under ``<folder>/<mode>/``; returns the paths."""
    written = [write_json(Path(folder) / SUMMARY_FILE, summary)]
    for mode in SCORING_MODES:
        if mode in files:
            for name, payload in files[mode].items():
                written.append(write_json(Path(folder) / mode / name, payload))
    return written
