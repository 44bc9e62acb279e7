"""CLI commands of the agent: ``run`` (drive a browser or the desktop with a model), ``replay`` (redo a run's actions).

Thin by design: flags become a ``RunConfig``; ``agent.loop.run_steps`` does the work and ``agent.record`` writes the
run folder; this module only renders (a panel per step, a summary table) and owns the terminal: the confirmation
prompt and Ctrl+C (the first one stops after the current action and still writes the record, a second one aborts).
"""

from __future__ import annotations

import enum
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.prompt import Confirm as RichConfirm
from rich.table import Table
from rich.text import Text

from agent.config import RunConfig
from agent.errors import AgentError
from agent.loop import ModelPolicy, StepRecord, StopReason, run_steps
from agent.models.registry import ADAPTERS
from agent.record import RunRecord, default_run_folder, describe
from agent.replay import ReplayStep, env_config_of, load_run, replay
from agent.safety import ConfirmRequest, SafetyGate, rules_for
from environments.errors import EnvError
from environments.registry import make, registered
from guikv.budget import Budget
from guikv.loading import DEFAULT_MODEL, ModelLoadError
from guikv.presses.registry import PRESSES

EnvName = enum.Enum("EnvName", {name: name for name in registered()}, type=str)
KvMethod = enum.Enum("KvMethod", {name: name for name in PRESSES}, type=str)
AdapterName = enum.Enum("AdapterName", {name: name for name in ADAPTERS}, type=str)

# Exit codes: 0 the model finished or a limit was reached; 1 the run stopped early (unusable output, declined action,
# call_user, broken environment) or a replayed action failed; 2 bad setup (flags, environment, model); 130 Ctrl+C.
EXIT_STOPPED, EXIT_SETUP, EXIT_INTERRUPTED = 1, 2, 130
CLEAN_STOPS = ("finished", "max_steps", "max_seconds")

ENV_PANEL, MODEL_PANEL, MEMORY_PANEL, LIMITS_PANEL, SAFETY_PANEL = (
    "Environment", "Model", "KV memory", "Limits", "Safety and output")

RUN_HELP = (
    "Give the model a task and let it act, step by step: screenshot -> model (with a compressed, persistent KV "
    "memory) -> action -> executed.\n\n"
    "Each step prints the model's thought, its action, the cache size and the step's latency. The run folder (--out) "
    "gets config.json, steps.jsonl (written as the run goes), every screenshot and a self-contained report.html."
    """

Examples:

  guikv-agent run "Search for GUI-KV" --env browser --url https://duckduckgo.com --kv gui_kv --budget 10%

  guikv-agent run "Open the text editor and write hello" --env desktop --model ./weights/UI-TARS-1.5-7B --dry-run

Ctrl+C stops after the current action (the record is still written); a second Ctrl+C aborts at once."""
)

REPLAY_HELP = (
    "Re-execute the actions of a run folder in an environment (by default the one the run used).\n\n"
    "Actions declined or skipped in the run are left out; points are scaled when the screenshot size differs. A "
    'hand-written folder needs only steps.jsonl with one {"actions": [...]} object per line.'
    """

Example:  guikv-agent replay runs/20250101-120000-search --url http://127.0.0.1:8000/"""
)


def register_agent_commands(app: typer.Typer) -> None:
    """Add ``run`` and ``replay`` to ``app``."""
    app.command("run", help=RUN_HELP)(run_command)
    app.command("replay", help=REPLAY_HELP)(replay_command)


# -- flag parsing ----------------------------------------------------------------------------------------------------
def _viewport(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"expected WIDTHxHEIGHT in CSS pixels like 1280x800, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise typer.BadParameter(f"the viewport needs positive sides, got {text!r}")
    return width, height


def _options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false, lists), else strings."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{flag} takes key=value, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _browser_config(url: str | None, viewport: str, dpr: float, headed: bool, allow: list[str] | None,
                    strict: bool = False, **_: Any) -> dict[str, Any]:
    if not url:
        raise typer.BadParameter("the browser needs a start page: pass --url https://...", param_hint="--url")
    if strict and not allow:
        raise typer.BadParameter("confines sub-resources to the allowed origins: pass --allow-origin too",
                                 param_hint="--strict-origins")
    config: dict[str, Any] = {"start_url": url, "viewport": _viewport(viewport), "device_scale_factor": dpr,
                              "headless": not headed}
    if allow:
        config["allowed_origins"] = tuple(allow)
    if strict:
        config["strict_origins"] = True
    return config


def _desktop_config(monitor: int, scale: float, max_size: int | None, **_: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"monitor": monitor, "scale": scale}
    if max_size is not None:
        config["max_size"] = max_size
    return config


# Environment name -> its flags turned into the keyword arguments of environments.make (others use --env-option only).
ENV_FLAGS: dict[str, Callable[..., dict[str, Any]]] = {"browser": _browser_config, "desktop": _desktop_config}


def _quiet_transformers() -> None:
    """No weight-loading progress bars under the live view (set once, at the CLI edge)."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def _fail(console: Console, message: str, code: int = EXIT_SETUP) -> typer.Exit:
    console.print(Text("error: ", style="bold red") + Text(message))
    return typer.Exit(code)


# -- terminal: Ctrl+C and confirmation ------------------------------------------------------------------------------
@contextmanager
def _graceful_interrupt(console: Console) -> Iterator[threading.Event]:
    """First SIGINT sets the event (the loop stops after the current action); the second raises KeyboardInterrupt."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print("[yellow]Stopping after the current action; the record will be written "
                      "(Ctrl+C again to abort now).[/]")

    if threading.current_thread() is not threading.main_thread():  # signals reach only the main thread
        yield stop
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _terminal_confirm(console: Console, status: Any) -> Callable[[ConfirmRequest], bool]:
    def confirm(request: ConfirmRequest) -> bool:
        status.stop()
        try:
            return RichConfirm.ask(Text(request.question, style="bold yellow"), console=console, default=False)
        except EOFError:
            console.print("[yellow]No answer (no terminal input): treated as no. Pass --yes to approve without "
                          "asking.[/]")
            return False
        finally:
            status.start()

    return confirm


# -- rendering -------------------------------------------------------------------------------------------------------
def _cache_text(record: StepRecord) -> str:
    if not record.calls or not record.calls[-1].cache.get("tokens_per_layer"):
        return "cache -"
    cache = record.calls[-1].cache
    tokens = cache["tokens_per_layer"]
    return (f"cache {sum(tokens) / len(tokens):.0f} tok/layer of {cache.get('logical_tokens', '?')} seen, "
            f"{cache.get('bytes', 0) / 2**20:.1f} MB")


STATUS_STYLES = {"executed": "green", "terminal": "cyan", "failed": "red", "dry_run": "blue", "declined": "yellow",
                 "skipped": "dim", "not_replayed": "dim"}


def _step_panel(record: StepRecord, row: dict[str, Any], folder: Path) -> Panel:
    body = Text()
    if record.thought:
        thought = record.thought if len(record.thought) <= 400 else record.thought[:397] + "..."
        body.append(thought + "\n", style="italic")
    for index, outcome in enumerate(record.outcomes, start=1):
        points = " ".join(f"({x}, {y})" for x, y in outcome.action.points)
        body.append(f"{index}. {describe(outcome.action)} {points}".rstrip() + "  ")
        body.append(outcome.status, style=STATUS_STYLES.get(outcome.status, ""))
        if outcome.detail:
            body.append(f"  {outcome.detail}", style="dim")
        body.append("\n")
    for call in record.calls:
        if call.error:
            raw = call.raw if len(call.raw) <= 80 else call.raw[:77] + "..."
            body.append(f"unusable answer ({call.error}): {raw!r}\n", style="red")
    if "annotated" in row:
        body.append(f"shown at {folder / row['annotated']}\n", style="dim")
    if record.stop_reason:
        body.append(f"stop: {record.stop_reason.kind}: {record.stop_reason.message}", style="bold")
    subtitle = f"{record.seconds:.2f} s (model {record.policy_seconds:.2f} s)  {_cache_text(record)}"
    return Panel(body, title=f"Step {record.step}", subtitle=subtitle, title_align="left", subtitle_align="right")


def _summary_table(summary: dict[str, Any], folder: Path) -> Table:
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


# -- run -------------------------------------------------------------------------------------------------------------
def run_command(
    task: Annotated[str, typer.Argument(help="The instruction for the agent, e.g. \"Search for GUI-KV\".")],
    env: Annotated[EnvName, typer.Option(help="Where to act.", rich_help_panel=ENV_PANEL)] = "browser",
    url: Annotated[str | None, typer.Option(help="Browser: the start page (required).", rich_help_panel=ENV_PANEL)
                   ] = None,
    viewport: Annotated[str, typer.Option(help="Browser: viewport WIDTHxHEIGHT in CSS pixels.",
                                          rich_help_panel=ENV_PANEL)] = "1280x800",
    dpr: Annotated[float, typer.Option(help="Browser: device scale factor (screenshot = viewport x dpr).",
                                       rich_help_panel=ENV_PANEL)] = 1.0,
    headed: Annotated[bool, typer.Option(help="Browser: show the window (needs an X display).",
                                         rich_help_panel=ENV_PANEL)] = False,
    allow_origin: Annotated[list[str] | None, typer.Option(
        help="Browser: only navigate to these origins (repeatable), e.g. https://example.com.",
        rich_help_panel=ENV_PANEL)] = None,
    strict_origins: Annotated[bool, typer.Option(
        help="Browser: with --allow-origin, also refuse sub-resources (images, scripts, fetch, WebSockets) to other "
             "origins.", rich_help_panel=ENV_PANEL)] = False,
    monitor: Annotated[int, typer.Option(help="Desktop: mss monitor index (1 = first).", rich_help_panel=ENV_PANEL)
                       ] = 1,
    scale: Annotated[float, typer.Option(help="Desktop: screenshot size / monitor size.", rich_help_panel=ENV_PANEL)
                     ] = 1.0,
    max_size: Annotated[int | None, typer.Option(help="Desktop: cap on the screenshot's longest side (pixels).",
                                                 rich_help_panel=ENV_PANEL)] = None,
    env_option: Annotated[list[str] | None, typer.Option(
        help="Any other field of the environment's config, key=value (repeatable), e.g. settle=0.5.",
        rich_help_panel=ENV_PANEL)] = None,
    model: Annotated[str, typer.Option(help="Hugging Face hub id or a local folder with the weights.",
                                       rich_help_panel=MODEL_PANEL)] = DEFAULT_MODEL,
    adapter: Annotated[AdapterName | None, typer.Option(
        help="Prompt/parse adapter (default: picked from the model's config).", rich_help_panel=MODEL_PANEL)] = None,
    adapter_option: Annotated[list[str] | None, typer.Option(
        help="Adapter field key=value (repeatable), e.g. prompt=computer_think.", rich_help_panel=MODEL_PANEL)] = None,
    min_pixels: Annotated[int | None, typer.Option(help="Image processor min pixels (default: the adapter's).",
                                                   rich_help_panel=MODEL_PANEL)] = None,
    max_pixels: Annotated[int | None, typer.Option(
        help="Image processor max pixels (default: the adapter's); lower it for speed, e.g. 1003520 = 1280x784.",
        rich_help_panel=MODEL_PANEL)] = None,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1...", rich_help_panel=MODEL_PANEL)
                      ] = "cpu",
    dtype: Annotated[str, typer.Option(help="auto (bf16 on GPU, fp32 on CPU), bf16, fp16, fp32.",
                                       rich_help_panel=MODEL_PANEL)] = "auto",
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model's own code (OpenCUA).",
                                                    rich_help_panel=MODEL_PANEL)] = False,
    max_new_tokens: Annotated[int | None, typer.Option(help="Tokens per answer (default: the adapter's).",
                                                       rich_help_panel=MODEL_PANEL)] = None,
    kv: Annotated[KvMethod, typer.Option(help="KV-cache compression method.", rich_help_panel=MEMORY_PANEL)
                  ] = "gui_kv",
    budget: Annotated[str, typer.Option(
        help="KV budget: a fraction (0.1), a percent (10%) or a token count per layer (4096: memory stays flat).",
        rich_help_panel=MEMORY_PANEL)] = "0.1",
    kv_option: Annotated[list[str] | None, typer.Option(
        help="Method field key=value (repeatable), e.g. alpha=2.0 window_size=8.", rich_help_panel=MEMORY_PANEL)
    ] = None,
    memory: Annotated[str, typer.Option(
        help="persistent: one growing compressed cache; reference: re-prefill the last --max-screenshots each step.",
        rich_help_panel=MEMORY_PANEL)] = "persistent",
    max_screenshots: Annotated[int, typer.Option(help="Screenshots kept in reference mode.",
                                                 rich_help_panel=MEMORY_PANEL)] = 5,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps.", rich_help_panel=LIMITS_PANEL)] = 30,
    max_seconds: Annotated[float | None, typer.Option(help="Stop once this much time has passed (checked after "
                                                           "each step).", rich_help_panel=LIMITS_PANEL)] = None,
    retries: Annotated[int, typer.Option(help="Times the model is asked again after an unusable answer.",
                                         rich_help_panel=LIMITS_PANEL)] = 1,
    dry_run: Annotated[bool, typer.Option(help="Show each action on the screenshot; execute nothing.",
                                          rich_help_panel=SAFETY_PANEL)] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Never ask: risky desktop actions run, call_user ends the "
                                      "run.", rich_help_panel=SAFETY_PANEL)] = False,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/<time>-<task>).",
                                             rich_help_panel=SAFETY_PANEL)] = None,
) -> None:
    console = Console(highlight=False)
    _quiet_transformers()
    env_name = env.value if isinstance(env, enum.Enum) else str(env)
    try:
        parsed_budget = Budget.parse(budget)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from None
    flags = {"url": url, "viewport": viewport, "dpr": dpr, "headed": headed, "allow": allow_origin, "strict": strict_origins,
             "monitor": monitor, "scale": scale, "max_size": max_size}
    env_config = ENV_FLAGS[env_name](**flags) if env_name in ENV_FLAGS else {}
    env_config.update(_options(env_option, "--env-option"))
    folder = out or default_run_folder(task)
    try:
        config = RunConfig(
            task=task, env=env_name, env_config=env_config, model=model,
            adapter=adapter.value if isinstance(adapter, enum.Enum) else adapter,
            adapter_options=_options(adapter_option, "--adapter-option"), trust_remote_code=trust_remote_code,
            device=device, dtype=dtype, min_pixels=min_pixels, max_pixels=max_pixels,
            kv=kv.value if isinstance(kv, enum.Enum) else kv, budget=parsed_budget.value,
            kv_options=_options(kv_option, "--kv-option"), memory_mode=memory, max_screenshots=max_screenshots,
            max_steps=max_steps, max_seconds=max_seconds, max_new_tokens=max_new_tokens, retries=retries,
            dry_run=dry_run, yes=yes, out=str(folder),
        )
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    if (folder / "steps.jsonl").exists():
        raise _fail(console, f"{folder} already holds a run; pass another --out")

    try:
        environment = make(config.env, **config.env_config)
    except ValueError as exc:
        raise _fail(console, f"--env {config.env}: {exc}") from None
    try:
        with console.status(f"Opening the {config.env} environment..."):
            environment.reset(config.task)  # fail fast (no browser, no display, bad URL) before loading weights
        with console.status(f"Loading {config.model} on {config.device}..."):
            policy = ModelPolicy.from_config(config)
    except (EnvError, ModelLoadError, AgentError, ValueError) as exc:
        environment.close()
        raise _fail(console, str(exc)) from None
    except KeyboardInterrupt:
        environment.close()
        raise _fail(console, "interrupted before the first step; nothing was recorded", EXIT_INTERRUPTED) from None

    console.print(f"[bold]Task:[/] {config.task}\n[dim]{config.env} | {config.model} | {config.kv} budget "
                  f"{Budget.parse(config.budget)} | up to {config.max_steps} steps"
                  + (" | DRY RUN" if config.dry_run else "") + f" | run folder {folder}[/]")
    record = RunRecord(folder, config, annotate_steps=config.dry_run)
    stop: StopReason | None = None
    error: str | None = None
    code = 0
    status = console.status("Step 0: observing and thinking...")
    gate = SafetyGate(rules_for(config.env), None if config.yes else _terminal_confirm(console, status))
    try:
        with _graceful_interrupt(console) as interrupted:
            status.start()
            steps = run_steps(
                environment, policy, config.task, max_steps=config.max_steps, max_seconds=config.max_seconds,
                gate=gate, dry_run=config.dry_run, stop_requested=interrupted.is_set,
            )
            for step in steps:
                row = record.add(step)
                status.stop()
                console.print(_step_panel(step, row, folder))
                stop = step.stop_reason
                if stop is None:
                    status.update(f"Step {step.step + 1}: observing and thinking...")
                    status.start()
    except KeyboardInterrupt:
        stop, code = StopReason("interrupted", "aborted by a second Ctrl+C during a step"), EXIT_INTERRUPTED
    except EnvError as exc:
        error, code = f"the environment failed: {exc}", EXIT_STOPPED
    except Exception as exc:  # our bug: keep what was recorded, then show the traceback
        error = f"{type(exc).__name__}: {exc}"
        status.stop()
        record.finish(stop, error)
        raise
    finally:
        status.stop()
        policy.close()
        environment.close()
    summary = record.finish(stop, error)
    console.print(_summary_table(summary, folder))
    if error:
        console.print(Text("error: ", style="bold red") + Text(error))
    if code == 0 and stop is not None and stop.kind == "interrupted":
        code = EXIT_INTERRUPTED
    elif code == 0 and (stop is None or stop.kind not in CLEAN_STOPS):
        code = EXIT_STOPPED
    raise typer.Exit(code)


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
) -> None:
    console = Console(highlight=False)
    try:
        run = load_run(run_dir)
    except ValueError as exc:
        raise _fail(console, str(exc)) from None
    recorded_env, env_config = env_config_of(run)
    env_name = env.value if isinstance(env, enum.Enum) else (env or recorded_env)
    if env_name is None:
        raise _fail(console, f"{run_dir} has no config.json naming its environment: pass --env "
                             f"({', '.join(registered())})")
    if env_name != recorded_env:
        env_config = {}
    if url is not None:
        env_config["start_url"] = url
    if viewport is not None:
        env_config["viewport"] = _viewport(viewport)
    if env_name == "browser":
        env_config["headless"] = not headed
        if "start_url" not in env_config:
            raise _fail(console, "the browser needs a start page: pass --url")
    env_config.update(_options(env_option, "--env-option"))
    try:
        environment = make(env_name, **env_config)
    except ValueError as exc:
        raise _fail(console, f"--env {env_name}: {exc}") from None

    table = Table(title=f"Replay of {run_dir}", title_justify="left")
    for column in ("step", "#", "action", "status", "detail"):
        table.add_column(column)
    results: list[ReplayStep] = []
    status = console.status("Replaying...")
    gate = SafetyGate(rules_for(env_name), None if yes else _terminal_confirm(console, status))
    try:
        with _graceful_interrupt(console) as interrupted:
            status.start()
            for item in replay(run, environment, gate=gate, delay=delay, stop_requested=interrupted.is_set):
                results.append(item)
                points = " ".join(f"({x}, {y})" for x, y in item.action.points)
                table.add_row(str(item.step), str(item.index + 1), f"{describe(item.action)} {points}".rstrip(),
                              Text(item.status, style=STATUS_STYLES.get(item.status, "")), item.detail or "")
    except EnvError as exc:
        status.stop()
        raise _fail(console, str(exc)) from None
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
