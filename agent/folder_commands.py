"""CLI commands on a run folder: ``replay`` (re-execute its actions) and ``report`` (rebuild its summary and report; a
results directory goes to eval's tables)."""

from __future__ import annotations

import enum
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent.annotate import describe
from agent.flags import options
from agent.flags import viewport as parse_viewport
from agent.replay import ReplayStep, env_config_of, load_run, replay
from agent.run_folder import STEPS_FILE, TornRowWarning
from agent.run_report import rebuild_report
from agent.safety import SafetyGate, rules_for
from agent.terminal import (
    EXIT_INTERRUPTED,
    EXIT_STOPPED,
    STATUS_STYLES,
    fail,
    graceful_interrupt,
    summary_table,
    terminal_confirm,
)
from environments.errors import EnvError
from environments.registry import make, registered
from eval.commands import REPORT_HELP as EVAL_REPORT_HELP
from eval.commands import ReportModes
from eval.commands import report_command as eval_report_command

EnvName = enum.Enum("EnvName", {name: name for name in registered()}, type=str)

REPLAY_HELP = (
    "Re-execute the actions of a run folder in an environment (by default the one the run used).\n\n"
    "Actions declined or skipped in the run are left out; points are scaled when the screenshot size differs. A "
    'hand-written folder needs only steps.jsonl with one {"actions": [...]} object per line.'
    """

Example:  guikv-agent replay runs/20250101-120000-search --url http://127.0.0.1:8000/"""
)


# -- replay ----------------------------------------------------------------------------------------------------------
def replay_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (steps.jsonl, optionally config.json).")],
    env: Annotated[EnvName | None, typer.Option(help="Where to act (default: the run's environment).")] = None,
    url: Annotated[str | None, typer.Option(help="Browser: the start page (default: the run's).")] = None,
    viewport: Annotated[str | None, typer.Option(help="Browser: viewport WIDTHxHEIGHT (default: the run's).")
                        ] = None,
    headed: Annotated[bool, typer.Option(help="Browser: show the window.")] = False,
    env_option: Annotated[list[str] | None, typer.Option(help="Environment config field key=value (repeatable).")
                          ] = None,
    delay: Annotated[float, typer.Option(help="Seconds to wait between actions (to watch).")] = 0.0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Never ask before risky desktop actions.")] = False,
    report_only: Annotated[bool, typer.Option(
        "--report-only", help="Replay nothing: rebuild the folder's summary.json and report.html (as `report`).")
    ] = False,
) -> None:
    console = Console(highlight=False)
    if report_only:
        _rebuild(console, run_dir)
        return
    try:
        run = load_run(run_dir)
    except ValueError as exc:
        raise fail(console, str(exc)) from None
    recorded_env, env_config = env_config_of(run)
    env_name = env.value if isinstance(env, enum.Enum) else (env or recorded_env)
    if env_name is None:
        raise fail(console, f"{run_dir} has no config.json naming its environment: pass --env "
                             f"({', '.join(registered())})")
    if env_name != recorded_env:
        env_config = {}
    if url is not None:
        env_config["start_url"] = url
    if viewport is not None:
        env_config["viewport"] = parse_viewport(viewport)
    if env_name == "browser":
        env_config["headless"] = not headed
        if "start_url" not in env_config:
            raise fail(console, "the browser needs a start page: pass --url")
    env_config.update(options(env_option, "--env-option"))
    try:
        environment = make(env_name, **env_config)
    except ValueError as exc:
        raise fail(console, f"--env {env_name}: {exc}") from None

    table = Table(title=f"Replay of {run_dir}", title_justify="left")
    for column in ("step", "#", "action", "status", "detail"):
        table.add_column(column)
    results: list[ReplayStep] = []
    status = console.status("Replaying...")
    gate = SafetyGate(rules_for(env_name), None if yes else terminal_confirm(console, status))
    try:
        with graceful_interrupt(console) as interrupted:
            status.start()
            for item in replay(run, environment, gate=gate, delay=delay, stop_requested=interrupted.is_set):
                results.append(item)
                points = " ".join(f"({x}, {y})" for x, y in item.action.points)
                table.add_row(str(item.step), str(item.index + 1), f"{describe(item.action)} {points}".rstrip(),
                              Text(item.status, style=STATUS_STYLES.get(item.status, "")), item.detail or "")
    except EnvError as exc:
        status.stop()
        raise fail(console, str(exc)) from None
    except KeyboardInterrupt:
        status.stop()
        console.print(table)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        status.stop()
        environment.close()
    console.print(table)
    bad = [r for r in results if r.status in ("failed", "declined")]
    executed = sum(r.status == "executed" for r in results)
    console.print(f"{executed} action(s) executed, {len(bad)} failed or declined.")
    raise typer.Exit(EXIT_STOPPED if bad else 0)


# -- report ----------------------------------------------------------------------------------------------------------
REPORT_HELP = (
    "Rebuild the report of a run folder, or tabulate a results directory.\n\n"
    "A run folder (it holds steps.jsonl, written by `guikv-agent run`): summary.json and report.html are rewritten "
    "from its files, whatever state it is in: a run killed with SIGKILL, whose last row may be cut in half (it is "
    "skipped with a warning), or a hand-written folder. Same as `replay RUN_DIR --report-only`.\n\n"
    "Anything else is a results directory of `guikv-agent eval`:\n\n" + EVAL_REPORT_HELP
)


def _rebuild(console: Console, folder: Path) -> None:
    """Rewrite a run folder's summary and report; the summary table, or a one-line error (exit 2)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TornRowWarning)
        try:
            summary = rebuild_report(folder)
        except ValueError as exc:
            raise fail(console, str(exc)) from None
    for warning in caught:
        if issubclass(warning.category, TornRowWarning):
            console.print(Text("warning: ", style="bold yellow") + Text(str(warning.message)), soft_wrap=True)
    console.print(summary_table(summary, folder))


def report_command(
    folder: Annotated[Path, typer.Argument(
        help="A run folder (holds steps.jsonl) or a results directory written by `guikv-agent eval`.")],
    out: Annotated[Path | None, typer.Option(
        help="Results directories: where report.md and report.png go (default: the directory).")] = None,
    scoring: Annotated[ReportModes, typer.Option(help="Results directories: scoring modes to tabulate.")] = "both",
    categories: Annotated[bool, typer.Option(help="Results directories: also the per-category tables.")] = True,
) -> None:
    console = Console(highlight=False)
    if (folder / STEPS_FILE).is_file():
        if out is not None:
            raise fail(console, f"{folder} is a run folder: its report is written into it; --out is for results "
                                 "directories")
        _rebuild(console, folder)
        return
    eval_report_command(folder, out, scoring, categories)
