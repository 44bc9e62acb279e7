"""CLI commands of the offline evaluation: ``eval`` (a budget sweep over one benchmark) and ``report`` (tables and a
plot of a results directory). Thin: flags become an ``EvalConfig``; ``eval.runner`` and ``eval.report`` do the work;
this module reads environment variables (once, here), renders progress and tables, and owns exit codes."""

from __future__ import annotations

import enum
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from eval.benchmarks import BENCHMARKS, BenchmarkDataError, benchmark_class
from eval.report import Table as ReportTable
from eval.report import write_report
from eval.results import ResultsError
from eval.runner import MEMORIES, EvalAborted, EvalConfig, RunProgress, SweepResult, run_sweep
from eval.scoring import ADAPTER_NAMES, SCORING_MODES
from guikv.loading import DEFAULT_MODEL, ModelLoadError

BenchmarkName = enum.Enum("BenchmarkName", {name: name for name in BENCHMARKS}, type=str)
MemoryName = enum.Enum("MemoryName", {name: name for name in MEMORIES}, type=str)
ModeName = enum.Enum("ModeName", {name: name for name in SCORING_MODES}, type=str)
AdapterChoice = enum.Enum("AdapterChoice", {name: name for name in ADAPTER_NAMES}, type=str)
ReportModes = enum.Enum("ReportModes", {name: name for name in ("both", *SCORING_MODES)}, type=str)

# Exit codes: 0 done; 1 stopped (too many failed generations in a row); 2 bad setup (flags, data, model, results dir);
# 130 Ctrl+C (the results file is consistent: re-run the same command to resume).
EXIT_ABORTED, EXIT_SETUP, EXIT_INTERRUPTED = 1, 2, 130

console = Console()
SWEEP, DATA, MODEL, OUTPUT = "Sweep", "Data", "Model", "Results, resume and scale-out"

_VARIABLES = "\n\n".join(
    f"  {cls.name}: ${cls.data_env} ({cls.data_description}), ${cls.images_env}" for cls in BENCHMARKS.values()
)

EVAL_HELP = (
    "Replay an offline GUI benchmark with a compressed KV cache, for every method and budget of a sweep.\n\n"
    "Each (method, budget) is one run; --methods full runs once (no compression). Every sample appends one row to "
    "RESULTS/results.jsonl as it is produced (raw output, scores in both scoring modes, timings, cache state, error). "
    "A finished run writes the reference's result files (same names and keys) under "
    "RESULTS/<benchmark>/<model>/<settings>/<method>_budget-<B>/{reference,corrected}/ and a summary.json.\n\n"
    "Scoring modes (both always stored; --scoring picks what the progress bar and summary show): reference = as the "
    "GUI-KV reference scores, its quirks included (compare with the paper); corrected = those quirks fixed.\n\n"
    "Memory (multi-step benchmarks: agentnetbench, mind2web): reference = rebuild and re-prefill the full prompt at "
    "every step (the paper's setting); persistent = one session per episode, each step appended to one compressed "
    "cache.\n\n"
    "Resume: re-run the same command; finished samples are skipped, never counted twice (persistent memory replays a "
    "cut-off episode from its first step). A generation that raises is recorded as a failure and scored as wrong.\n\n"
    "Data: --data/--images, else these environment variables:\n\n" + _VARIABLES + "\n\n"
    "Examples:\n\n"
    "  guikv-agent eval screenspot_v2 --methods full,snap_kv,gui_kv --budgets 0.01,0.03,0.05,0.1,0.2\n\n"
    "  guikv-agent eval agentnetbench --memory persistent --methods gui_kv --budgets 10%,20% --ray\n\n"
    "  guikv-agent eval androidcontrol --option instruction_level=low --method-option gui_kv.alpha=2"
)

REPORT_HELP = (
    "Tables and a plot of a results directory written by `guikv-agent eval`.\n\n"
    "One table per benchmark setting and scoring mode (methods x budgets, the headline metric in percent), tables per "
    "category the benchmark defines (ScreenSpot text/icon, splits and platform groups, Mind2Web splits, AndroidControl "
    "level), and a PNG of accuracy against budget per method. Writes report.md and report.png (--out, default the "
    "results directory).\n\n"
    "Example:  guikv-agent report results/"
)


def register_eval_commands(app: typer.Typer) -> None:
    """Add ``eval`` and ``report`` to ``app``."""
    app.command("eval", help=EVAL_HELP)(eval_command)
    app.command("report", help=REPORT_HELP)(report_command)


# --- flag parsing ---------------------------------------------------------------------------------------------------


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _pair(text: str, flag: str, example: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not KEY=VALUE (e.g. {example})", param_hint=flag)
    return key.strip(), value.strip()


def benchmark_options(name: str, pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` benchmark options typed like the option's default (comma lists for tuples)."""
    defaults = benchmark_class(name).option_defaults()
    options: dict[str, Any] = {}
    for text in pairs:
        key, value = _pair(text, "--option", "instruction_level=low")
        if key not in defaults:
            known = ", ".join(sorted(defaults))
            raise typer.BadParameter(f"{name} has no option {key!r}; options: {known}", param_hint="--option")
        default = defaults[key]
        try:
            if isinstance(default, bool):
                options[key] = value.lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                options[key] = int(value)
            elif isinstance(default, tuple):
                options[key] = _csv(value)
            else:
                options[key] = value
        except ValueError:
            raise typer.BadParameter(f"{key}={value!r}: expected a {type(default).__name__}", param_hint="--option") from None
    return options


def method_options(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``METHOD.KEY=VALUE`` press options; values read as JSON when they parse (numbers, true/false), else text."""
    options: dict[str, dict[str, Any]] = {}
    for text in pairs:
        key, value = _pair(text, "--method-option", "gui_kv.alpha=2")
        method, dot, option = key.partition(".")
        if not dot or not option:
            raise typer.BadParameter(f"{key!r} is not METHOD.OPTION (e.g. gui_kv.alpha=2)", param_hint="--method-option")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        options.setdefault(method, {})[option] = parsed
    return options


# --- eval -----------------------------------------------------------------------------------------------------------


def _flag(panel: str, help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, rich_help_panel=panel)


def eval_command(
    benchmark: Annotated[BenchmarkName, typer.Argument(help="which benchmark to replay")],
    model: Annotated[str, _flag(MODEL, "hub id or local folder (OpenCUA: --trust-remote-code)")] = DEFAULT_MODEL,
    methods: Annotated[str, _flag(SWEEP, "comma-separated: full,snap_kv,pyramid_kv,vl_cache,gui_kv")] = "gui_kv",
    budgets: Annotated[str, _flag(SWEEP, "comma-separated fractions (0.1), percents (10%) or tokens (4096)")] = "0.1",
    memory: Annotated[MemoryName, _flag(SWEEP, "multi-step: reference (re-prefill) or persistent")] = "reference",
    prompts: Annotated[ModeName, _flag(SWEEP, "prompts as the reference builds them, or quirks fixed")] = "reference",
    scoring: Annotated[ModeName, _flag(SWEEP, "mode the progress and summary show (both stored)")] = "corrected",
    method_option: Annotated[list[str] | None, _flag(SWEEP, "press option METHOD.KEY=VALUE (repeat)", "--method-option")] = None,
    max_new_tokens: Annotated[int | None, _flag(SWEEP, "default: the reference's, per benchmark")] = None,
    data: Annotated[Path | None, _flag(DATA, "data directory (else the variable)", "--data")] = None,
    images: Annotated[Path | None, _flag(DATA, "images directory (else variable/layout)", "--images")] = None,
    option: Annotated[list[str] | None, _flag(DATA, "benchmark option KEY=VALUE (repeatable)", "--option", "-o")] = None,
    limit: Annotated[int | None, _flag(DATA, "only the first N samples (multi-step: episodes)")] = None,
    adapter: Annotated[
        AdapterChoice | None, _flag(MODEL, "prompt/parse format (default: the model family's)", "--adapter", "--family")
    ] = None,
    device: Annotated[str, _flag(MODEL, "auto, cpu or cuda")] = "auto",
    dtype: Annotated[str, _flag(MODEL, "auto (bf16 on GPU), float32, bfloat16, float16")] = "auto",
    attn: Annotated[str | None, _flag(MODEL, "attention implementation (default: flash-attn if present)")] = None,
    trust_remote_code: Annotated[bool, _flag(MODEL, "needed for OpenCUA")] = False,
    min_pixels: Annotated[int | None, _flag(MODEL, "processor min pixels (default: the model family's)")] = None,
    max_pixels: Annotated[int | None, _flag(MODEL, "processor max pixels (default: the model family's)")] = None,
    results: Annotated[Path, _flag(OUTPUT, "results directory (resumable)", "--results")] = Path("results"),
    retry_failed: Annotated[bool, _flag(OUTPUT, "re-run samples whose generation failed")] = False,
    ray: Annotated[bool, _flag(OUTPUT, "spread samples over a Ray cluster", "--ray")] = False,
    ray_address: Annotated[str | None, _flag(OUTPUT, "Ray cluster address (implies --ray)")] = None,
    workers: Annotated[int | None, _flag(OUTPUT, "Ray replicas (default: one per GPU, else CPU)")] = None,
    threads: Annotated[int | None, _flag(MODEL, "torch CPU threads per replica (default: torch's; Ray: 1)")] = None,
) -> None:
    name = benchmark.value
    try:
        options = benchmark_options(name, option or [])
        located = benchmark_class(name).locate(data, images, env=os.environ, **options)
        config = EvalConfig(
            benchmark=name, model=model, results_dir=results, methods=_csv(methods), budgets=_csv(budgets),
            memory=memory.value, prompts=prompts.value, scoring=scoring.value,
            adapter=adapter.value if adapter else None, data_dir=located.data_dir, images_dir=located.images_dir,
            options=options, method_options=method_options(method_option or []), max_new_tokens=max_new_tokens,
            limit=limit, device=device, dtype=dtype, attn_implementation=attn, trust_remote_code=trust_remote_code,
            min_pixels=min_pixels, max_pixels=max_pixels, retry_failed=retry_failed, ray=ray, ray_address=ray_address,
            workers=workers, threads=threads,
        )
    except (BenchmarkDataError, ModelLoadError, ValueError, TypeError) as error:  # an unknown model: before it loads
        console.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        raise typer.Exit(EXIT_SETUP) from None
    if not config.data_dir or not config.images_dir:  # pragma: no cover - locate always resolves both
        raise typer.Exit(EXIT_SETUP)
    problem = results_dir_problem(config.results_dir)
    if problem is not None:  # before any model loads
        console.print(f"[red]error:[/red] --results: {escape(problem)}", soft_wrap=True)
        raise typer.Exit(EXIT_SETUP)
    console.print(
        f"[bold]{name}[/bold]: {', '.join(config.methods)} x {', '.join(config.budgets) or '-'}, {config.memory} memory, "
        f"{config.prompts} prompts, model {config.model}{' on Ray' if config.ray else ''}\n"
        f"data {config.data_dir}, images {config.images_dir} -> {config.results_dir}"
    )
    try:
        result = _run_with_progress(config)
    except (BenchmarkDataError, ModelLoadError, ResultsError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_SETUP) from None
    except EvalAborted as error:
        console.print(f"[red]stopped:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_ABORTED) from None
    except KeyboardInterrupt:
        console.print(
            f"[yellow]interrupted[/yellow]: every finished sample is saved in {config.results_dir / 'results.jsonl'}; "
            "re-run the same command to resume"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_summary(result)


def results_dir_problem(path: Path) -> str | None:
    """Why results cannot be written under ``path`` (a file in the way, a folder that cannot be written), or ``None``.

    An existing, non-empty results directory is fine: a sweep resumes in it.
    """
    if path.exists() and not path.is_dir():
        return f"{path} exists and is not a folder"
    probe = path if path.exists() else path.absolute().parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"cannot create {path}: {probe} is a file, not a folder"
    try:
        handle, name = tempfile.mkstemp(dir=probe, prefix=".guikv-write-check-")
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        return f"cannot write into {probe} ({exc.strerror or exc}); pass a --results folder you can write to"
    return None


def _accuracy_text(event: RunProgress, mode: str) -> str:
    if event.accuracy is None:
        return ""
    failed = f", [red]{event.failures} failed[/red]" if event.failures else ""
    return f"acc {100 * event.accuracy:.1f}% ({mode}){failed}"


def _run_with_progress(config: EvalConfig) -> SweepResult:
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        overall = progress.add_task("all runs", total=0, acc="")
        tasks: dict[str, Any] = {}

        def on_event(event: RunProgress) -> None:
            key = event.run.key
            if event.kind == "start":
                tasks[key] = progress.add_task(f"  {event.run.label()}", total=event.total, completed=event.done,
                                               acc=_accuracy_text(event, config.scoring), visible=False)
                overall_task = progress.tasks[overall]
                progress.update(overall, total=(overall_task.total or 0) + event.total, advance=event.done)
            elif event.kind == "row":
                progress.update(tasks[key], completed=event.done, acc=_accuracy_text(event, config.scoring), visible=True)
                progress.update(overall, advance=1, acc=f"{event.run.label()}: {_accuracy_text(event, config.scoring)}")
            else:
                progress.update(tasks[key], visible=False)

        return run_sweep(config, on_event=on_event)


def _print_summary(result: SweepResult) -> None:
    config = result.config
    label = benchmark_class(config.benchmark).headline_label
    table = Table(title=f"{config.benchmark}: {label} per run ({result.samples} samples each)")
    for column in ("method", "budget", "samples", "failed"):
        table.add_column(column, justify="right" if column in ("samples", "failed") else "left")
    for mode in SCORING_MODES:
        table.add_column(f"{mode}{' (shown)' if mode == config.scoring else ''}", justify="right",
                         style="bold" if mode == config.scoring else None)
    table.add_column(f"folder (under {config.results_dir})", overflow="fold")
    for outcome in result.outcomes:
        run = outcome.run
        values = (f"{100 * outcome.headline[mode]:.1f}" for mode in SCORING_MODES)
        table.add_row(run.method, "full" if run.budget is None else run.budget, str(outcome.samples),
                      str(outcome.failures) if outcome.failures else "", *values,
                      str(outcome.folder.relative_to(config.results_dir)))
    console.print(table)
    failed = [outcome for outcome in result.outcomes if outcome.failures]
    if failed:
        total = sum(outcome.failures for outcome in failed)
        console.print(f"[red]{total} generations failed[/red] (recorded, scored as wrong; --retry-failed redoes them). "
                      f"First: {escape(str(failed[0].first_error))}")
    bad = result.bad_records
    if bad["count"]:
        console.print(f"[yellow]{bad['count']} bad records[/yellow] (not run, listed in every summary):")
        for record in bad["records"][:10]:
            where = f"{record['path']}" + (f" #{record['index']}" if record["index"] is not None else "")
            console.print(f"  {escape(where)}: {escape(record['reason'])}")
        if bad["count"] > 10:
            console.print(f"  ... and {bad['count'] - 10} more")
    resume = result.resume
    if resume.resumed_rows:
        console.print(f"resumed: {resume.resumed_rows} rows were already done")
    for episode in resume.discarded_episodes:
        console.print(f"replayed cut-off episode {episode['episode_id']} of {episode['run']} ({episode['rows']} rows discarded)")
    if resume.truncated_tail:
        console.print("the results file ended in a half-written row (a killed run); it was removed")
    if resume.retried_failures:
        console.print(f"retried {resume.retried_failures} failed samples")
    console.print(f"rows: {result.results_file}\nnext: guikv-agent report {config.results_dir}")


# --- report ---------------------------------------------------------------------------------------------------------


def _render(table: ReportTable) -> Table:
    rich_table = Table(title=escape(table.title), caption=escape(" ".join(table.notes)) or None)
    for index, column in enumerate(table.columns):
        rich_table.add_column(column, justify="left" if index == 0 else "right")
    for row in table.rows:
        rich_table.add_row(*row)
    return rich_table


def report_command(
    results_dir: Annotated[Path, typer.Argument(help="a results directory written by `guikv-agent eval`")],
    out: Annotated[Path | None, typer.Option(help="where report.md and report.png go (default: RESULTS_DIR)")] = None,
    scoring: Annotated[ReportModes, typer.Option(help="which scoring modes to tabulate and plot")] = "both",
    categories: Annotated[bool, typer.Option(help="also the per-category tables")] = True,
) -> None:
    modes = SCORING_MODES if scoring.value == "both" else (scoring.value,)
    try:
        report = write_report(results_dir, out, modes=modes, categories=categories)
    except ValueError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(EXIT_SETUP) from None
    for table in report.tables:
        console.print(_render(table))
    console.print(f"{len(report.runs)} runs. Tables: {report.markdown}  Plot: {report.plot}")
