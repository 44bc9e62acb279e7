"""CLI commands of the agent: ``run`` (drive a browser or the desktop with a model) here; ``replay`` and ``report``
(on a run folder) in ``agent.folder_commands``.

Thin by design: flags become a ``RunConfig``; ``agent.loop.run_steps`` does the work and ``agent.record`` writes the
run folder; this module only renders (``agent.terminal``: a panel per step, a summary table) and owns the terminal:
the confirmation prompt and the stop signals (the first Ctrl+C, SIGTERM or SIGHUP stops within a second and still
writes the record, a second one aborts).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from agent.config import RunConfig
from agent.endpoint import EndpointPolicy
from agent.errors import AgentError
from agent.flags import options as _options
from agent.flags import viewport as _viewport
from agent.folder_commands import REPLAY_HELP, REPORT_HELP, replay_command, report_command
from agent.loop import ModelPolicy, Policy, StopReason, run_steps
from agent.models.registry import ADAPTERS
from agent.record import RunRecord, check_run_folder, default_run_folder
from agent.safety import SafetyGate, rules_for
from agent.terminal import EXIT_INTERRUPTED, EXIT_STOPPED, step_panel, summary_table
from agent.terminal import fail as _fail
from agent.terminal import graceful_interrupt as _graceful_interrupt
from agent.terminal import terminal_confirm as _terminal_confirm
from environments.errors import EnvError
from environments.registry import make, registered
from guikv.budget import Budget
from guikv.loading import DEFAULT_MODEL, ModelLoadError
from guikv.presses.registry import PRESSES

EnvName = enum.Enum("EnvName", {name: name for name in registered()}, type=str)
KvMethod = enum.Enum("KvMethod", {name: name for name in PRESSES}, type=str)
AdapterName = enum.Enum("AdapterName", {name: name for name in ADAPTERS}, type=str)

CLEAN_STOPS = ("finished", "max_steps", "max_seconds")
PERSON_STOPS = ("interrupted", "failsafe")  # exit code 130, as Ctrl+C

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

Ctrl+C (or SIGTERM, SIGHUP) stops within a second (the record is still written); a second one aborts at once."""
)


def register_agent_commands(app: typer.Typer) -> None:
    """Add ``run``, ``replay`` and ``report`` to ``app``; this ``report`` replaces one registered before (eval's), and
    hands it every folder that is not a run folder."""
    app.command("run", help=RUN_HELP)(run_command)
    app.command("replay", help=REPLAY_HELP)(replay_command)
    app.registered_commands[:] = [info for info in app.registered_commands if info.name != "report"]
    app.command("report", help=REPORT_HELP)(report_command)


# -- flag parsing ----------------------------------------------------------------------------------------------------
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
    endpoint: Annotated[str | None, typer.Option(
        help="Ask an OpenAI-compatible server instead of loading the model here, e.g. http://gpu-box:8000/v1 "
             "(guikv-agent serve, vLLM, SGLang). Sends the last --max-screenshots screenshots per step; --model names "
             "the model (and picks the adapter); the key comes from GUIKV_API_KEY or OPENAI_API_KEY.",
        rich_help_panel=MODEL_PANEL)] = None,
    endpoint_model: Annotated[str | None, typer.Option(
        help="The model name sent to --endpoint (default: --model).", rich_help_panel=MODEL_PANEL)] = None,
    endpoint_timeout: Annotated[float, typer.Option(
        help="Seconds one request to --endpoint may take.", rich_help_panel=MODEL_PANEL)] = 600.0,
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
    max_screenshots: Annotated[int, typer.Option(help="Screenshots kept in reference mode, and sent per request to "
                                                      "--endpoint.",
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
    config, adapter_ = _validated_config(
        console, task=task, env=env, flags={"url": url, "viewport": viewport, "dpr": dpr, "headed": headed,
                                            "allow": allow_origin, "strict": strict_origins,
                                            "monitor": monitor, "scale": scale,
                                            "max_size": max_size},
        env_option=env_option, model=model, adapter=adapter, adapter_option=adapter_option,
        trust_remote_code=trust_remote_code, device=device, dtype=dtype, min_pixels=min_pixels, max_pixels=max_pixels,
        kv=kv, budget=budget, kv_option=kv_option, memory=memory, max_screenshots=max_screenshots,
        max_steps=max_steps, max_seconds=max_seconds, max_new_tokens=max_new_tokens, retries=retries,
        endpoint=endpoint, endpoint_model=endpoint_model, endpoint_timeout=endpoint_timeout,
        dry_run=dry_run, yes=yes, out=out,
    )
    folder = Path(config.out)
    try:
        environment = make(config.env, **config.env_config)
    except ValueError as exc:
        raise _fail(console, f"--env {config.env}: {exc}") from None
    except TypeError as exc:  # a value of the wrong type reached the config's checks
        raise _fail(console, f"--env {config.env}: an option has a value of the wrong type ({exc})") from None
    with _graceful_interrupt(console) as interrupted:  # from here on SIGINT, SIGTERM and SIGHUP stop cleanly
        try:
            with console.status(f"Opening the {config.env} environment..."):
                environment.reset(config.task)  # fail fast (no browser, no display, bad URL) before loading weights
            if config.endpoint is not None:
                with console.status(f"Connecting to {config.endpoint}..."):
                    policy = EndpointPolicy.from_config(config, adapter_)
            else:
                with console.status(f"Loading {config.model} on {config.device}..."):
                    policy = ModelPolicy.from_config(config, adapter_)
            if interrupted.is_set():
                raise KeyboardInterrupt
            record = RunRecord(folder, config, annotate_steps=config.dry_run)  # only now, with everything valid
        except (EnvError, ModelLoadError, AgentError, ValueError, OSError) as exc:
            environment.close()
            raise _fail(console, str(exc)) from None
        except KeyboardInterrupt:
            environment.close()
            raise _fail(console, "interrupted before the first step; nothing was recorded", EXIT_INTERRUPTED) from None
        stop, error, code = _run(console, config, environment, policy, record, interrupted)
    summary = record.finish(stop, error)
    console.print(summary_table(summary, folder))
    if error:
        console.print(Text("error: ", style="bold red") + Text(error))
    if code == 0 and stop is not None and stop.kind in PERSON_STOPS:
        code = EXIT_INTERRUPTED
    elif code == 0 and (stop is None or stop.kind not in CLEAN_STOPS):
        code = EXIT_STOPPED
    raise typer.Exit(code)


def _validated_config(console: Console, *, task: str, env: Any, flags: dict[str, Any], env_option: list[str] | None,
                      adapter: Any, adapter_option: list[str] | None, kv: Any, budget: str, kv_option: list[str] | None,
                      memory: str, out: Path | None, **fields: Any) -> tuple[RunConfig, Any]:
    """The run's ``RunConfig`` and adapter, every flag checked (values, the method's and the adapter's options, the
    budget against the method's window, the run folder free and writable) before anything starts; a bad flag is a
    one-line error (exit 2) and leaves nothing behind."""
    env_name = env.value if isinstance(env, enum.Enum) else str(env)
    try:
        parsed_budget = Budget.parse(budget)
    except ValueError as exc:
        raise _fail(console, f"--budget: {exc}") from None
    folder = out or default_run_folder(task)
    try:
        env_config = ENV_FLAGS[env_name](**flags) if env_name in ENV_FLAGS else {}
        env_config.update(_options(env_option, "--env-option"))
        adapter_options = _options(adapter_option, "--adapter-option")
        kv_options = _options(kv_option, "--kv-option")
    except typer.BadParameter as exc:
        raise _fail(console, f"{exc.param_hint}: {exc.message}" if exc.param_hint else exc.message) from None
    try:
        config = RunConfig(
            task=task, env=env_name, env_config=env_config, adapter=adapter.value if isinstance(adapter, enum.Enum)
            else adapter, adapter_options=adapter_options, kv=kv.value if isinstance(kv, enum.Enum) else kv,
            budget=parsed_budget.value, kv_options=kv_options, memory_mode=memory, out=str(folder), **fields,
        )
    except ValueError as exc:
        raise _fail(console, str(exc).replace("kv_options: ", "--kv-option: ", 1)) from None
    try:
        adapter_ = ModelPolicy.adapter_for(config)
    except (ModelLoadError, AgentError, ValueError) as exc:
        raise _fail(console, str(exc)) from None
    if config.adapter is None:  # the run folder names the adapter picked from the model's config, not "auto"
        config = dataclasses.replace(config, adapter=adapter_.name)
    try:
        check_run_folder(folder)
    except ValueError as exc:
        raise _fail(console, f"--out: {exc}") from None
    return config, adapter_


def _run(console: Console, config: RunConfig, environment: Any, policy: Policy, record: RunRecord,
         interrupted: Any) -> tuple[StopReason | None, str | None, int]:
    """The step loop with its live view; ``(stop reason, error, exit code so far)``. The record is written by the
    caller whatever happens here (our own bug: written, then the traceback)."""
    folder = record.folder
    model = (f"{config.endpoint_model or config.model} at {config.endpoint} (last {config.max_screenshots} screenshots)"
             if config.endpoint else f"{config.model} | {config.kv} budget {Budget.parse(config.budget)}")
    console.print(f"[bold]Task:[/] {config.task}\n[dim]{config.env} | {model} | up to {config.max_steps} steps"
                  + (" | DRY RUN" if config.dry_run else "") + f" | run folder {folder}[/]")
    stop: StopReason | None = None
    error: str | None = None
    code = 0
    status = console.status("Step 0: observing and thinking...")
    gate = SafetyGate(rules_for(config.env), None if config.yes else _terminal_confirm(console, status))
    try:
        status.start()
        steps = run_steps(
            environment, policy, config.task, max_steps=config.max_steps, max_seconds=config.max_seconds,
            gate=gate, dry_run=config.dry_run, stop_requested=interrupted.is_set,
        )
        for step in steps:
            row = record.add(step)
            status.stop()
            console.print(step_panel(step, row, folder))
            stop = step.stop_reason
            if stop is None:
                status.update(f"Step {step.step + 1}: observing and thinking...")
                status.start()
    except KeyboardInterrupt:
        stop, code = StopReason("interrupted", "aborted by a second stop signal during a step"), EXIT_INTERRUPTED
    except EnvError as exc:
        error, code = f"the environment failed: {exc}", EXIT_STOPPED
    except Exception as exc:  # our bug: keep what was recorded, then show the traceback
        status.stop()
        record.finish(stop, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        status.stop()
        policy.close()
        environment.close()
    return stop, error, code


