"""Re-execute a recorded run's actions in an environment (to check an environment, to redo a dry run, in tests).

A run folder's ``steps.jsonl`` rows carry ``actions`` (``Action.to_dict()`` records) and, when written by a run,
aligned ``outcomes``; a hand-written folder needs only ``{"actions": [...]}`` per line. Actions that were declined or
skipped in the run are not replayed; ``finished``/``call_user`` execute nothing. When a row records the
``screenshot_size`` it was decided on and the replay's screenshot differs in size, points are scaled to the new one.
Risky actions go through the same ``SafetyGate`` as in a run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from agent.loop import actions_of_row
from agent.run_folder import read_json, read_steps
from agent.safety import BROWSER_RULES, SafetyGate
from environments.actions import TERMINAL_ACTIONS, Action
from environments.base import Env, Observation

NOT_REPLAYED = frozenset({"declined", "skipped"})
ReplayStatus = Literal["executed", "failed", "declined", "not_replayed", "terminal"]


@dataclass(frozen=True)
class RecordedRun:
    folder: Path
    task: str
    config: dict[str, Any] | None
    rows: list[dict[str, Any]]


def load_run(folder: str | Path) -> RecordedRun:
    """The task, config (if any) and step rows of a run folder; ``ValueError`` naming what is missing or broken."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"run folder {str(folder)!r} does not exist; pass a folder written by `guikv-agent run`")
    rows = read_steps(folder)
    config = read_json(folder / "config.json")
    task = (config or {}).get("task") or f"replay of {folder.name}"
    for row in rows:  # fail before touching the environment when any row is malformed
        try:
            actions_of_row(row)
        except ValueError as exc:
            raise ValueError(f"{folder / 'steps.jsonl'}, step {row.get('step', '?')}: {exc}") from None
    return RecordedRun(folder, task, config, rows)


@dataclass(frozen=True)
class ReplayStep:
    """One replayed action: the recorded ``step`` and ``index`` in it, the action as executed (points scaled)."""

    step: int
    index: int
    action: Action
    status: ReplayStatus
    detail: str | None = None
    seconds: float = 0.0
    observation: Observation | None = field(default=None, repr=False, compare=False)


def scale_action(action: Action, recorded: tuple[int, int], current: tuple[int, int]) -> Action:
    """``action`` with its points moved from a ``recorded``-size screenshot to a ``current``-size one."""
    if tuple(recorded) == tuple(current):
        return action
    sx, sy = current[0] / recorded[0], current[1] / recorded[1]
    changes = {}
    for f in fields(action):
        value = getattr(action, f.name)
        if f.name in ("point", "start", "end") and value is not None:
            changes[f.name] = (min(current[0] - 1, int(value[0] * sx)), min(current[1] - 1, int(value[1] * sy)))
    return replace(action, **changes)


def replay(
    run: RecordedRun,
    env: Env,
    *,
    gate: SafetyGate | None = None,
    delay: float = 0.0,
    stop_requested: Callable[[], bool] = lambda: False,
) -> Iterator[ReplayStep]:
    """Reset ``env`` with the run's task and execute its actions in order, yielding one ``ReplayStep`` each.

    ``delay`` seconds pass between actions (to watch). A declined risky action ends the replay.
    """
    gate = gate or SafetyGate(BROWSER_RULES, None)
    gate.reset()
    observation = env.reset(run.task)
    for row in run.rows:
        step = row.get("step", 0)
        recorded_size = _size(row.get("screenshot_size"))
        for index, (action, status) in enumerate(actions_of_row(row)):
            if stop_requested():
                return
            if status in NOT_REPLAYED:
                yield ReplayStep(step, index, action, "not_replayed", f"{status} in the recorded run")
                continue
            if isinstance(action, TERMINAL_ACTIONS):
                yield ReplayStep(step, index, action, "terminal", None, 0.0, observation)
                continue
            if recorded_size is not None:
                action = scale_action(action, recorded_size, observation.size)
            decision = gate.review(action, observation.info, step, observation.screenshot)
            if not decision.allowed:
                yield ReplayStep(step, index, action, "declined", decision.reason)
                return
            started = time.monotonic()
            before = observation.info
            observation = env.step(action)
            seconds = time.monotonic() - started
            status_now: ReplayStatus = "failed" if observation.error else "executed"
            if not observation.error:
                gate.executed(action, before)
            yield ReplayStep(step, index, action, status_now, observation.error, seconds, observation)
            if delay > 0:
                time.sleep(delay)


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    return None


def env_config_of(run: RecordedRun) -> tuple[str | None, Mapping[str, Any]]:
    """The environment name and options the run used (``(None, {})`` for a hand-written folder)."""
    config = run.config or {}
    return config.get("env"), dict(config.get("env_config") or {})
