"""The step loop: observe -> policy (prompt, model with a persistent compressed memory, parse) -> act, as a generator.

``run_steps`` yields one ``StepRecord`` per step, smolagents style; the last one carries the ``StopReason``. The same
record (``StepRecord.to_dict``) is the run log's row, the replay input and an eval row. What the model gets wrong is
recorded and handled (``agent.policy``: an unusable answer is counted and the model is asked again, then the run
stops with a reason). An ``EnvError`` raised while an action runs ends the run too, and the step is still yielded with
the model's answer and the error (``StopReason`` ``failsafe`` when a person pushed the mouse into a screen corner,
``env_error`` otherwise); our own bugs propagate, and the caller still writes what was recorded.

Stops take effect within a second: for the duration of the run the environment's ``should_stop`` (and a policy's,
when it has one: ``ModelPolicy`` checks it between retries) answers True once ``stop_requested()`` does or
``max_seconds`` have passed, so a long action is cut short; the loop checks both again before every action.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from agent.policy import CORRECTION, FAILED_ACTION_NOTE, ModelCall, ModelPolicy, Policy, PolicyOutput
from agent.safety import BROWSER_RULES, SafetyGate
from environments.actions import Action, CallUser, Finished, action_from_dict
from environments.base import Env, Observation
from environments.errors import EnvError, FailSafeError

__all__ = [  # the policy side lives in agent.policy; these names stay importable from here
    "CORRECTION", "FAILED_ACTION_NOTE", "ActionOutcome", "ModelCall", "ModelPolicy", "Policy", "PolicyOutput",
    "StepRecord", "StopReason", "actions_of_row", "run_steps",
]

StopKind = Literal[
    "finished", "call_user", "max_steps", "max_seconds", "interrupted", "bad_output", "model_error", "declined", "failsafe",
    "env_error",
]
OutcomeStatus = Literal["executed", "failed", "dry_run", "declined", "skipped", "terminal"]


@dataclass(frozen=True)
class ActionOutcome:
    """What became of one action: ``executed``, ``failed`` (the environment refused it: ``detail``), ``dry_run``,
    ``declined`` (by the person), ``skipped`` (an earlier action failed or the run was interrupted) or ``terminal``
    (``finished``/``call_user``, nothing to execute). ``risk`` says why it needed approval, if it did."""

    action: Action
    status: OutcomeStatus
    detail: str | None = None
    risk: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, "risk": self.risk, "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class StopReason:
    kind: StopKind
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class StepRecord:
    """One step: the screenshot the policy saw, its decision, what happened to each action, timings.

    ``screenshot`` and ``after`` (the observation once the step's actions ran) stay in memory; the run record writes
    them as PNG files. ``stop_reason`` is set on the last step of a run.
    """

    step: int
    started_at: float
    screenshot: Image.Image
    info: dict[str, Any]
    thought: str
    reflection: str | None
    outcomes: tuple[ActionOutcome, ...]
    calls: tuple[ModelCall, ...]
    policy_seconds: float
    action_seconds: float
    seconds: float
    error: str | None = None
    stop_reason: StopReason | None = None
    after: Observation | None = field(default=None, repr=False, compare=False)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(outcome.action for outcome in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of this step (images left out; the run record adds their file names)."""
        return {
            "step": self.step,
            "started_at": round(self.started_at, 3),
            "screenshot_size": list(self.screenshot.size),
            "info": _jsonable(self.info),
            "thought": self.thought,
            "reflection": self.reflection,
            "actions": [action.to_dict() for action in self.actions],
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
            "calls": [call.to_dict() for call in self.calls],
            "bad_outputs": sum(call.error is not None for call in self.calls),
            "policy_seconds": round(self.policy_seconds, 4),
            "action_seconds": round(self.action_seconds, 4),
            "seconds": round(self.seconds, 4),
            "error": self.error,
            "stop_reason": self.stop_reason.to_dict() if self.stop_reason else None,
        }


def actions_of_row(row: Mapping[str, Any]) -> list[tuple[Action, str | None]]:
    """``(action, status)`` pairs of a step row (``status`` ``None`` when the row has no ``outcomes``)."""
    raw_actions = row.get("actions")
    if not isinstance(raw_actions, list):
        raise ValueError(f"a step row needs an 'actions' list, got {raw_actions!r}")
    outcomes = row.get("outcomes")
    if outcomes is not None and (not isinstance(outcomes, list) or len(outcomes) != len(raw_actions)):
        raise ValueError(f"'outcomes' must be a list as long as 'actions' ({len(raw_actions)}), got {outcomes!r}")
    statuses = [o.get("status") if isinstance(o, Mapping) else None for o in outcomes] if outcomes else [None] * len(
        raw_actions
    )
    return [(action_from_dict(data), status) for data, status in zip(raw_actions, statuses, strict=True)]


def run_steps(
    env: Env,
    policy: Policy,
    task: str,
    *,
    max_steps: int = 30,
    max_seconds: float | None = None,
    gate: SafetyGate | None = None,
    dry_run: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[StepRecord]:
    """Run ``task`` in ``env`` with ``policy``, yielding each step's record; the last one has ``stop_reason``.

    ``gate`` decides which actions need a person's approval (default: only ``call_user``, refused: nobody is asked).
    ``dry_run``: actions are reviewed and recorded but never executed; the screenshot stays the same.
    ``stop_requested`` (Ctrl+C, SIGTERM) and ``max_seconds`` are checked before every action and after every step,
    and polled inside long actions through ``env.should_stop`` (see the module docstring): the action in progress
    stops within a second, the rest are skipped and the run stops. ``clock`` times the steps and the limit checks
    after each step; the in-action deadline uses ``time.monotonic``.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    gate = gate or SafetyGate(BROWSER_RULES, None)
    gate.reset()
    deadline = None if max_seconds is None else time.monotonic() + max_seconds

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    stoppers = _install_stop(stop_requested, out_of_time, env, policy)
    try:
        yield from _steps(env, policy, task, max_steps, max_seconds, gate, dry_run, stop_requested, out_of_time, clock)
    finally:
        for owner, previous in stoppers:
            owner.should_stop = previous


def _install_stop(stop_requested: Callable[[], bool], out_of_time: Callable[[], bool], *owners: Any
                  ) -> list[tuple[Any, Any]]:
    """Give each owner with a ``should_stop`` attribute the run's stop condition (or-ed with its own); the previous
    values, to restore."""
    installed = []
    for owner in owners:
        if not hasattr(owner, "should_stop"):
            continue
        previous = owner.should_stop

        def should_stop(previous: Callable[[], bool] | None = previous) -> bool:
            return stop_requested() or out_of_time() or (previous is not None and bool(previous()))

        installed.append((owner, previous))
        owner.should_stop = should_stop
    return installed


def _steps(env: Env, policy: Policy, task: str, max_steps: int, max_seconds: float | None, gate: SafetyGate,
           dry_run: bool, stop_requested: Callable[[], bool], out_of_time: Callable[[], bool],
           clock: Callable[[], float]) -> Iterator[StepRecord]:
    started = clock()
    policy.reset(task)
    observation = env.reset(task)
    for step in range(max_steps):
        step_started, wall_started = clock(), time.time()
        decision = policy.act(observation)
        policy_seconds = clock() - step_started
        seen = observation
        after: Observation | None = observation
        outcomes: list[ActionOutcome] = []
        stop: StopReason | None = None
        error = decision.error
        if decision.error is not None:
            stop = StopReason(decision.stop_kind, f"step {step}: {decision.error}")
        actions = list(decision.actions)
        for index, action in enumerate(actions):
            if stop_requested() or out_of_time():
                why = "the run was interrupted" if stop_requested() else "the time limit was reached"
                outcomes += [ActionOutcome(a, "skipped", why) for a in actions[index:]]
                stop = (StopReason("interrupted", f"interrupted at step {step}, before {action.kind}")
                        if stop_requested() else _time_limit(max_seconds, clock() - started, f"before {action.kind}"))
                break
            try:
                outcome, observation, stop = _perform(env, gate, action, observation, step, dry_run)
            except EnvError as exc:
                kind = "failsafe" if isinstance(exc, FailSafeError) else "env_error"
                error = error or f"the environment failed during {action.kind}: {exc}"
                outcomes.append(ActionOutcome(action, "failed", str(exc)))
                outcomes += [ActionOutcome(a, "skipped", "the environment failed") for a in actions[index + 1 :]]
                stop, after = StopReason(kind, f"step {step}, {action.kind}: {exc}"), None
                break
            after = observation
            outcomes.append(outcome)
            if stop is not None or outcome.status == "failed":
                rest = "the run stopped" if stop is not None else f"{action.kind} failed"
                outcomes += [ActionOutcome(a, "skipped", rest) for a in actions[index + 1 :]]
                break
        action_seconds = clock() - step_started - policy_seconds
        if stop is None:
            stop = _limit_reached(step, max_steps, clock() - started, max_seconds, stop_requested, out_of_time)
        yield StepRecord(
            step=step,
            started_at=wall_started,
            screenshot=seen.screenshot,
            info=dict(seen.info),
            thought=decision.thought,
            reflection=decision.reflection,
            outcomes=tuple(outcomes),
            calls=decision.calls,
            policy_seconds=policy_seconds,
            action_seconds=action_seconds,
            seconds=clock() - step_started,
            error=error,
            stop_reason=stop,
            after=after,
        )
        if stop is not None:
            return


def _perform(
    env: Env, gate: SafetyGate, action: Action, observation: Observation, step: int, dry_run: bool
) -> tuple[ActionOutcome, Observation, StopReason | None]:
    """Review, then execute (or not) one action; the observation after it and a stop reason if the run ends."""
    if isinstance(action, Finished):
        return ActionOutcome(action, "terminal"), observation, StopReason("finished", action.content or "finished")
    if dry_run:
        risk = None if isinstance(action, CallUser) else gate.risk(action, observation.info)
        gate.executed(action, observation.info)  # as if it ran: the typed line grows as it would
        stop = StopReason("call_user", action.reason or "the model asks for a person") if isinstance(
            action, CallUser
        ) else None
        detail = f"not executed (dry run); would ask first: {risk}" if risk else "not executed (dry run)"
        return ActionOutcome(action, "dry_run", detail, risk), observation, stop
    decision = gate.review(action, observation.info, step, observation.screenshot)
    if not decision.allowed:
        kind = "call_user" if isinstance(action, CallUser) else "declined"
        message = decision.reason if kind == "call_user" else f"declined: {decision.reason}"
        return ActionOutcome(action, "declined", message, decision.reason), observation, StopReason(kind, message)
    if isinstance(action, CallUser):  # the person helped: observe the screen they left (a terminal action is a no-op)
        observation = env.step(action)
        return ActionOutcome(action, "terminal", "the person approved going on", decision.reason), observation, None
    started = time.monotonic()
    before = observation.info
    observation = env.step(action)
    seconds = time.monotonic() - started
    if observation.error is not None:
        return ActionOutcome(action, "failed", observation.error, decision.reason, seconds), observation, None
    gate.executed(action, before)
    cut_short = observation.info.get("cut_short")  # a long action a stop request cut short says how far it got
    return ActionOutcome(action, "executed", cut_short, decision.reason, seconds), observation, None


def _limit_reached(
    step: int, max_steps: int, elapsed: float, max_seconds: float | None, stop_requested: Callable[[], bool],
    out_of_time: Callable[[], bool],
) -> StopReason | None:
    if stop_requested():
        return StopReason("interrupted", f"interrupted after step {step}")
    if step + 1 >= max_steps:
        return StopReason("max_steps", f"reached the limit of {max_steps} step(s)")
    if max_seconds is not None and (elapsed >= max_seconds or out_of_time()):
        return _time_limit(max_seconds, elapsed, f"after step {step}")
    return None


def _time_limit(max_seconds: float | None, elapsed: float, where: str) -> StopReason:
    return StopReason("max_seconds", f"reached the time limit of {max_seconds:g} s ({where}, {elapsed:.1f} s)")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


