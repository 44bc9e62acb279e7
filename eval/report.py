"""Tables and a plot of a results directory: accuracy per method and budget, both scoring modes, per-category breakdowns.

Reads every run's ``summary.json`` (written by the runner when the run is complete), so a report never needs the data
sets or the model. One table per run group (benchmark, model, memory, prompts, settings) and scoring mode, methods as
rows and budgets as columns; the full cache is one column of its own. The plot has one panel per group and mode:
accuracy against budget, one line per method, the full cache as a dashed horizontal line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.benchmarks import benchmark_class
from eval.results import SUMMARY_FILE, RunSpec
from eval.scoring import SCORING_MODES
from guikv.budget import Budget
from guikv.presses.registry import PRESSES

# --- what each benchmark reports (the benchmark says: eval.benchmarks.base.Benchmark.headline/categories) ------------


def headline(benchmark: str, summary: Mapping[str, Any]) -> float:
    """The benchmark's headline metric of one summary (one scoring mode)."""
    return float(benchmark_class(benchmark).headline(summary))


# --- collecting runs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    """One finished run as its ``summary.json`` tells it."""

    run: RunSpec
    path: Path
    samples: int
    failures: int
    headline: Mapping[str, float]
    categories: Mapping[str, Mapping[str, float]]
    bad_records: int

    @property
    def group(self) -> tuple[str, ...]:
        """Runs whose outputs differ only by method and budget share a group (and a table)."""
        run = self.run
        return (run.benchmark, run.model, run.memory, run.prompts, run.setting_hash())

    @property
    def group_title(self) -> str:
        run = self.run
        options = ", ".join(f"{k}={v}" for k, v in sorted(run.options.items()))
        extra = f", {options}" if options else ""
        return (f"{run.benchmark}: {Path(run.model).name if Path(run.model).is_absolute() else run.model} "
                f"({run.adapter}), {run.memory} memory, {run.prompts} prompts{extra}")


def load_run(path: Path) -> RunResult:
    """A run from its ``summary.json``; ValueError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        fields = data["run"]
        run = RunSpec(**{**fields, "pixels": tuple(fields["pixels"])})
        bench = benchmark_class(run.benchmark)
        scoring = data["scoring"]
        return RunResult(
            run=run,
            path=Path(path),
            samples=int(data["samples"]),
            failures=int(data["generation_failures"]["count"]),
            headline={mode: float(bench.headline(scoring[mode])) for mode in SCORING_MODES},
            categories={mode: bench.categories(scoring[mode]) for mode in SCORING_MODES},
            bad_records=int(scoring[SCORING_MODES[0]]["bad_records"]["count"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise ValueError(f"{path} is not a run summary written by `guikv-agent eval` ({problem})") from error


def collect(results_dir: Path) -> list[RunResult]:
    """Every finished run under ``results_dir``; ValueError when there is none (saying why)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ValueError(f"results directory {results_dir} does not exist")
    runs = [load_run(path) for path in sorted(results_dir.rglob(SUMMARY_FILE))]
    if not runs:
        hint = (" (results.jsonl is there: the sweep did not finish; re-run the same eval command to resume and write "
                "the summaries)") if (results_dir / "results.jsonl").exists() else ""
        raise ValueError(f"no run summaries ({SUMMARY_FILE}) under {results_dir}{hint}")
    return runs


# --- tables ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A plain table: rendered with rich by the CLI and as Markdown into ``report.md``."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines) + "\n"


def _budget_sort(budget: str | None) -> tuple[int, float]:
    """Fractions first (ascending), then token budgets, then the full cache."""
    if budget is None:
        return (2, 0.0)
    parsed = Budget.parse(budget)
    return (0 if parsed.is_fraction else 1, float(parsed.value))


def _budget_tick(budget: str) -> str:
    parsed = Budget.parse(budget)
    return f"{100 * parsed.value:g}%" if parsed.is_fraction else str(parsed.value)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def groups(runs: Sequence[RunResult]) -> dict[tuple[str, ...], list[RunResult]]:
    grouped: dict[tuple[str, ...], list[RunResult]] = {}
    for run in runs:
        grouped.setdefault(run.group, []).append(run)
    return grouped


def _methods(members: Sequence[RunResult]) -> list[str]:
    """Methods in the registry's order (full, snap_kv, pyramid_kv, vl_cache, gui_kv), unknown ones last."""
    order = list(PRESSES)
    names = dict.fromkeys(run.run.method for run in members)
    return sorted(names, key=lambda name: order.index(name) if name in order else len(order))


def accuracy_tables(runs: Sequence[RunResult], modes: Sequence[str] = SCORING_MODES) -> list[Table]:
    """Per group and mode: methods x budgets of the headline metric (percent)."""
    tables = []
    for members in groups(runs).values():
        first = members[0]
        budgets = sorted({run.run.budget for run in members}, key=_budget_sort)
        label = benchmark_class(first.run.benchmark).headline_label
        for mode in modes:
            cells = {(run.run.method, run.run.budget): run for run in members}
            rows = []
            for method in _methods(members):
                row = [method]
                for budget in budgets:
                    run = cells.get((method, budget))
                    row.append(_percent(run.headline[mode]) if run else "")
                rows.append(tuple(row))
            columns = ("method", *("full" if b is None else f"budget {b}" for b in budgets))
            samples = max(run.samples for run in members)
            failures = sum(run.failures for run in members)
            notes = [f"{label} in percent, {samples} samples per run, {first.bad_records} bad records"]
            if failures:
                notes.append(f"{failures} failed generations (scored as wrong) across these runs")
            tables.append(Table(f"{first.group_title} [{mode} scoring]", columns, tuple(rows), tuple(notes)))
    return tables


def category_tables(runs: Sequence[RunResult], modes: Sequence[str] = SCORING_MODES) -> list[Table]:
    """Per group and mode: one row per (method, budget), one column per category the benchmark defines."""
    tables = []
    for members in groups(runs).values():
        first = members[0]
        ordered = sorted(members, key=lambda r: (_methods(members).index(r.run.method), _budget_sort(r.run.budget)))
        for mode in modes:
            names = list(dict.fromkeys(name for run in ordered for name in run.categories[mode]))
            if not names:
                continue
            rows = tuple(
                (run.run.method, "full" if run.run.budget is None else run.run.budget,
                 *(_percent(run.categories[mode][n]) if n in run.categories[mode] else "" for n in names))
                for run in ordered
            )
            tables.append(Table(f"{first.group_title} [{mode} scoring, by category]", ("method", "budget", *names), rows))
    return tables


# --- the plot -------------------------------------------------------------------------------------------------------


def plot(runs: Sequence[RunResult], path: Path, modes: Sequence[str] = SCORING_MODES) -> Path:
    """Accuracy against budget, one line per method, one panel per group and scoring mode (PNG, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot

    grouped = list(groups(runs).values())
    figure, axes = pyplot.subplots(
        len(grouped), len(modes), figsize=(6.4 * len(modes), 4.2 * len(grouped)), squeeze=False
    )
    for row, members in enumerate(grouped):
        label = benchmark_class(members[0].run.benchmark).headline_label
        budgets = sorted({run.run.budget for run in members if run.run.budget is not None}, key=_budget_sort)
        for column, mode in enumerate(modes):
            axis = axes[row][column]
            values = [100 * run.headline[mode] for run in members]
            for method in _methods(members):
                points = sorted(
                    (float(run.run.budget), 100 * run.headline[mode])
                    for run in members if run.run.method == method and run.run.budget is not None
                )
                if points:
                    axis.plot([x for x, _ in points], [y for _, y in points], marker="o", label=method)
            for run in members:
                if run.run.budget is None:
                    axis.axhline(100 * run.headline[mode], linestyle="--", color="black", label="full (no compression)")
            if budgets:
                axis.set_xscale("log")
                axis.set_xticks([float(b) for b in budgets], [_budget_tick(b) for b in budgets])
                axis.minorticks_off()
            axis.set_ylim(0, min(105.0, max(10.0, 1.15 * max(values, default=0.0))))
            axis.set_xlabel("KV budget (share of the prompt kept, or tokens)")
            axis.set_ylabel(f"{label} (%)")
            axis.set_title(f"{members[0].group_title}\n[{mode} scoring]", fontsize=8)
            axis.grid(True, alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path


# --- all of it ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    runs: tuple[RunResult, ...]
    tables: tuple[Table, ...]
    markdown: Path
    plot: Path


def write_report(
    results_dir: Path, out_dir: Path | None = None, *, modes: Sequence[str] = SCORING_MODES, categories: bool = True
) -> Report:
    """``report.md`` (every table) and ``report.png`` (the plot) in ``out_dir`` (default: the results directory)."""
    runs = collect(results_dir)
    tables = accuracy_tables(runs, modes) + (category_tables(runs, modes) if categories else [])
    out_dir = Path(out_dir or results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "report.md"
    markdown.write_text(
        f"# Results in {results_dir}\n\n" + "\n".join(table.to_markdown() for table in tables), encoding="utf-8"
    )
    image = plot(runs, out_dir / "report.png", modes)
    return Report(tuple(runs), tuple(tables), markdown, image)
