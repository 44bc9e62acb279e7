"""The terminal side of the agent's commands: one-line errors, the stop signals, the confirmation prompt, and the
panels and tables a run prints."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Confirm as RichConfirm
from rich.table import Table
from rich.text import Text

from agent.annotate import describe
from agent.loop import StepRecord
from agent.run_folder import clean_text
from agent.safety import ConfirmRequest

# Exit codes: 0 the model finished or a limit was reached; 1 the run stopped early (unusable output, declined action,
# call_user, broken environment) or a replayed action failed; 2 bad setup (flags, environment, model); 130 a person
# stopped it (Ctrl+C, SIGTERM, SIGHUP, the fail-safe corner).
EXIT_STOPPED, EXIT_SETUP, EXIT_INTERRUPTED = 1, 2, 130
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def fail(console: Console, message: str, code: int = EXIT_SETUP) -> typer.Exit:
    """Print ``error: <message>`` as ONE line (newlines folded, never wrapped by the terminal width); the exit to
    raise."""
    console.print(Text("error: ", style="bold red") + Text(" ".join(clean_text(message).split())), soft_wrap=True)
    return typer.Exit(code)


# -- terminal: Ctrl+C and confirmation ------------------------------------------------------------------------------
@contextmanager
def graceful_interrupt(console: Console) -> Iterator[threading.Event]:
    """The first SIGINT, SIGTERM or SIGHUP sets the event (the run stops within a second and writes its record: what
    ``timeout``, systemd and container runtimes send is a clean stop too); a second one raises KeyboardInterrupt."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print(f"[yellow]{signal.Signals(signum).name}: stopping after the current action; the record will be "
                      "written (send it again to abort now).[/]")

    if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
        yield stop
        return
    previous = {number: signal.signal(number, handle) for number in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def terminal_confirm(console: Console, status: Any) -> Callable[[ConfirmRequest], bool]:
    def confirm(request: ConfirmRequest) -> bool:
        status.stop()
        try:
            return RichConfirm.ask(Text(request.question, style="bold yellow"), console=console, default=False)
        except (EOFError, OSError, ValueError, RuntimeError):
            # EOF (stdin at its end or /dev/null), a closed stdin (ValueError: I/O on closed file; RuntimeError:
            # lost sys.stdin; OSError: bad file descriptor): nobody can answer, so the answer is no.
            console.print("[yellow]No answer (no terminal input): treated as no. Pass --yes to approve without "
                          "asking.[/]")
            return False
        finally:
            status.start()

    return confirm


# -- rendering -------------------------------------------------------------------------------------------------------
def cache_text(record: StepRecord) -> str:
    if record.calls and record.calls[-1].cache.get("endpoint"):  # the server keeps the cache: say what it reused
        cache = record.calls[-1].cache
        cached = cache.get("cached_tokens")
        return (f"endpoint: {cache.get('prompt_tokens', '?')} prompt tokens"
                + (f", {cached} of them cached" if cached is not None else "")
                + f", {cache.get('screenshots_sent', '?')} screenshot(s) sent")
    if not record.calls or not record.calls[-1].cache.get("tokens_per_layer"):
        return "cache -"
    cache = record.calls[-1].cache
    tokens = cache["tokens_per_layer"]
    return (f"cache {sum(tokens) / len(tokens):.0f} tok/layer of {cache.get('logical_tokens', '?')} seen, "
            f"{cache.get('bytes', 0) / 2**20:.1f} MB")


STATUS_STYLES = {"executed": "green", "terminal": "cyan", "failed": "red", "dry_run": "blue", "declined": "yellow",
                 "skipped": "dim", "not_replayed": "dim"}


def step_panel(record: StepRecord, row: dict[str, Any], folder: Path) -> Panel:
    body = Text()
    if record.thought:
        thought = clean_text(record.thought if len(record.thought) <= 400 else record.thought[:397] + "...")
        body.append(thought + "\n", style="italic")
    for index, outcome in enumerate(record.outcomes, start=1):
        points = " ".join(f"({x}, {y})" for x, y in outcome.action.points)
        body.append(f"{index}. {describe(outcome.action)} {points}".rstrip() + "  ")
        body.append(outcome.status, style=STATUS_STYLES.get(outcome.status, ""))
        if outcome.detail:
            body.append(f"  {clean_text(outcome.detail)}", style="dim")
        body.append("\n")
    for call in record.calls:
        if call.error:
            raw = call.raw if len(call.raw) <= 80 else call.raw[:77] + "..."
            body.append(f"unusable answer ({call.error}): {raw!r}\n", style="red")
    if "annotated" in row:
        body.append(f"shown at {folder / row['annotated']}\n", style="dim")
    if record.stop_reason:
        body.append(f"stop: {record.stop_reason.kind}: {record.stop_reason.message}", style="bold")
    subtitle = f"{record.seconds:.2f} s (model {record.policy_seconds:.2f} s)  {cache_text(record)}"
    return Panel(body, title=f"Step {record.step}", subtitle=subtitle, title_align="left", subtitle_align="right")


def summary_table(summary: dict[str, Any], folder: Path) -> Table:
    table = Table(title="Run summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    stop = summary.get("stop_reason") or {}
    rows = [
        ("stopped", f"{stop.get('kind', '-')}: {stop.get('message', '')}" if stop else "-"),
        ("steps", summary["steps"]),
        ("model calls (unusable)", f"{summary['model_calls']} ({summary['bad_outputs']})"),
        ("actions", ", ".join(f"{k} {v}" for k, v in summary["actions"].items()) or "-"),
        ("time", f"{summary['seconds']:.1f} s, model {summary['model_seconds']:.1f} s, "
                 f"mean step {summary['mean_step_seconds'] or 0:.2f} s"),
        ("peak cache", f"{summary['peak_cache_tokens']} tokens/layer, {summary['peak_cache_bytes'] / 2**20:.1f} MB"),
        ("run folder", str(folder)),
        ("report", str(folder / "report.html")),
    ]
    if summary.get("error"):
        rows.insert(1, ("error", summary["error"]))
    for key, value in rows:
        table.add_row(key, str(value))
    return table
