"""The step loop: observe -> policy (prompt, model with a persistent compressed memory, parse) -> act, as a generator.

``run_steps`` yields one ``StepRecord`` per step, smolagents style; the last one carries the ``StopReason``. The same
record (``StepRecord.to_dict``) is the run log's row, the replay input and an eval row. What the model gets wrong is
recorded and handled (an unusable answer is counted and the model is asked again, then the run stops with a reason);
what breaks in our code or in the environment (``EnvError``) propagates, and the caller still writes the record.

A ``Policy`` turns an observation into actions. ``ModelPolicy`` is the real one: a model adapter (prompt layout,
parsing, coordinates) on top of a ``guikv.MemorySession`` that keeps one KV cache for the whole task::

    step 0: adapter.system_and_task_messages(task) + adapter.observation_message(screenshot_0, 0) -> generate
    step k: adapter.observation_message(screenshot_k, k) -> generate    (earlier turns stay in the compressed cache)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

from agent.errors import ModelOutputError
from agent.models.base import ModelAdapter
from agent.safety import BROWSER_RULES, SafetyGate
from environments.actions import Action, CallUser, Finished, action_from_dict
from environments.base import Env, Observation

CORRECTION = (
    "Your previous answer could not be used: {reason}. Answer again for the same screenshot, exactly in the output "
    "format given at the start (a thought, then one action from the action space)."
)
FAILED_ACTION_NOTE = "The previous action was not executed: {error}"

StopKind = Literal["finished", "call_user", "max_steps", "max_seconds", "interrupted", "bad_output", "declined"]
OutcomeStatus = Literal["executed", "failed", "dry_run", "declined", "skipped", "terminal"]


@dataclass(frozen=True)
class ModelCall:
    """One generation: the raw text, its sizes and timings, the cache after it, and why it was unusable (if so).

    ``cache`` is ``SessionState.to_dict()`` (``tokens_per_layer``, ``bytes``, ``logical_tokens``, ``screenshots``...)
    plus ``budget_tokens``: the most tokens a layer may hold right after this call (the press's capacity at the last
    prefill plus the tokens decoded since; the logical length for ``full``).
    """

    raw: str
    prompt_tokens: int
    output_tokens: int
    prefill_seconds: float
    decode_seconds: float
    stopped_by_eos: bool
    cache: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    compress_seconds: float = 0.0  # part of prefill_seconds spent scoring and pruning the cache

    def to_dict(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "prefill_seconds": round(self.prefill_seconds, 4),
            "compress_seconds": round(self.compress_seconds, 4),
            "decode_seconds": round(self.decode_seconds, 4),
            "stopped_by_eos": self.stopped_by_eos,
            "cache": self.cache,
            "error": self.error,
        }


@dataclass(frozen=True)
class PolicyOutput:
    """What the policy decided for one observation; ``error`` set (and no actions) when it could not decide."""

    actions: tuple[Action, ...]
    thought: str = ""
    reflection: str | None = None
    calls: tuple[ModelCall, ...] = ()
    error: str | None = None


class Policy(Protocol):
    """Decides actions from observations, one episode at a time."""

    def reset(self, task: str) -> None:
        """Start an episode for ``task`` (fresh memory)."""

    def act(self, observation: Observation) -> PolicyOutput:
        """Actions for the current screenshot; ``PolicyOutput.error`` ends the run."""

    def close(self) -> None:
        """Release what the policy holds."""


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
    ``stop_requested`` is polled before every action and after every step (Ctrl+C): the action in progress finishes,
    the rest are skipped and the run stops. Limits are checked after each step.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    gate = gate or SafetyGate(BROWSER_RULES, None)
    gate.reset()
    started = clock()
    policy.reset(task)
    observation = env.reset(task)
    for step in range(max_steps):
        step_started, wall_started = clock(), time.time()
        decision = policy.act(observation)
        policy_seconds = clock() - step_started
        seen = observation
        outcomes: list[ActionOutcome] = []
        stop: StopReason | None = None
        if decision.error is not None:
            stop = StopReason("bad_output", f"step {step}: {decision.error}")
        actions = list(decision.actions)
        for index, action in enumerate(actions):
            if stop_requested():
                outcomes += [ActionOutcome(a, "skipped", "the run was interrupted") for a in actions[index:]]
                stop = StopReason("interrupted", f"interrupted at step {step}, before {action.kind}")
                break
            outcome, observation, stop = _perform(env, gate, action, observation, step, dry_run)
            outcomes.append(outcome)
            if stop is not None or outcome.status == "failed":
                rest = "the run stopped" if stop is not None else f"{action.kind} failed"
                outcomes += [ActionOutcome(a, "skipped", rest) for a in actions[index + 1 :]]
                break
        action_seconds = clock() - step_started - policy_seconds
        if stop is None:
            stop = _limit_reached(step, max_steps, clock() - started, max_seconds, stop_requested)
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
            error=decision.error,
            stop_reason=stop,
            after=observation,
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
    return ActionOutcome(action, "executed", None, decision.reason, seconds), observation, None


def _limit_reached(
    step: int, max_steps: int, elapsed: float, max_seconds: float | None, stop_requested: Callable[[], bool]
) -> StopReason | None:
    if stop_requested():
        return StopReason("interrupted", f"interrupted after step {step}")
    if step + 1 >= max_steps:
        return StopReason("max_steps", f"reached the limit of {max_steps} step(s)")
    if max_seconds is not None and elapsed >= max_seconds:
        return StopReason("max_seconds", f"reached the time limit of {max_seconds:g} s after {elapsed:.1f} s")
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class ModelPolicy:
    """A model adapter on a ``guikv.MemorySession``: one append-only conversation and one compressed cache per task.

    An unusable answer (``ModelOutputError``) is recorded; a short correction turn is added and the model answers
    again, up to ``retries`` times; then ``PolicyOutput.error`` ends the run. A failed previous action is told to the
    model as a text note in the next observation turn.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        model: Any,
        processor: Any,
        *,
        method: str = "gui_kv",
        budget: float | int = 0.1,
        mode: str = "persistent",
        max_screenshots: int = 5,
        method_kwargs: Mapping[str, Any] | None = None,
        max_new_tokens: int | None = None,
        retries: int = 1,
        session_factory: Callable[..., Any] | None = None,
    ) -> None:
        """``session_factory(model, processor, method=, budget=, mode=, max_screenshots=, method_kwargs=)`` builds
        the memory of a task (default ``guikv.session.MemorySession``); a server or a test passes its own."""
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.adapter = adapter
        self.model = model
        self.processor = processor
        self.session_options = {
            "method": method,
            "budget": budget,
            "mode": mode,
            "max_screenshots": max_screenshots,
            "method_kwargs": dict(method_kwargs or {}),
        }
        self.max_new_tokens = max_new_tokens or adapter.max_new_tokens
        self.retries = retries
        self.session_factory = session_factory
        self.session: Any = None
        self.task: str | None = None
        self.step = 0

    def reset(self, task: str) -> None:
        from guikv.session import MemorySession

        self.close()
        self.task = task
        self.step = 0
        factory = self.session_factory or MemorySession
        self.session = factory(self.model, self.processor, **self.session_options)

    def act(self, observation: Observation) -> PolicyOutput:
        if self.session is None or self.task is None:
            raise RuntimeError("ModelPolicy.act() before reset(task)")
        session = self.session
        if self.step == 0:
            for message in self.adapter.system_and_task_messages(self.task):
                session.add(message["role"], message["content"])
        message = self.adapter.observation_message(observation.screenshot, self.step)
        content = message["content"]
        if observation.error is not None:
            note = {"type": "text", "text": FAILED_ACTION_NOTE.format(error=observation.error)}
            content = [*content, note] if isinstance(content, list) else [{"type": "text", "text": content}, note]
        session.add(message["role"], content)
        self.step += 1
        calls: list[ModelCall] = []
        for attempt in range(self.retries + 1):
            if attempt:
                session.add("user", CORRECTION.format(reason=calls[-1].error))
            reply = session.generate(max_new_tokens=self.max_new_tokens)
            try:
                parsed = self.adapter.interpret(reply.text, observation.size)  # ModelOutputError for any bad text
            except ModelOutputError as exc:
                calls.append(self._call(reply, exc.reason))
                continue
            calls.append(self._call(reply, None))
            return PolicyOutput(parsed.actions, parsed.thought, parsed.reflection, tuple(calls))
        tries = len(calls)
        return PolicyOutput(
            (), calls=tuple(calls),
            error=f"the model's answer could not be used {tries} time(s) in a row; last: {calls[-1].error}",
        )

    def _call(self, reply: Any, error: str | None) -> ModelCall:
        state = self.session.state()
        cache = state.to_dict()
        decoded = len(reply.token_ids) + int(reply.stopped_by_eos)  # every generated token, EOS included, is cached
        press = self.session.press
        if press.name == "full":
            cache["budget_tokens"] = state.logical_tokens
        else:
            cache["budget_tokens"] = press.capacity(state.logical_tokens - decoded) + decoded
        cache["budget"] = str(press.budget)
        return ModelCall(
            raw=reply.text,
            prompt_tokens=reply.prefill_tokens,
            output_tokens=len(reply.token_ids),
            prefill_seconds=reply.prefill_seconds,
            decode_seconds=reply.decode_seconds,
            stopped_by_eos=reply.stopped_by_eos,
            cache=cache,
            error=error,
            compress_seconds=reply.compress_seconds,
        )

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    @classmethod
    def from_config(cls, config: Any) -> ModelPolicy:
        """Adapter, model and processor for a ``RunConfig`` (loads the weights: slow for a real model).

        The processor and the adapter share the pixel limits (``config.min_pixels``/``max_pixels`` or the adapter's
        defaults), so coordinates map back onto the screenshot exactly. ``guikv.ModelLoadError`` when the weights
        cannot be found, with how to pass a local folder.
        """
        from agent.errors import UnknownModelError
        from agent.models.registry import ADAPTERS, adapter_for_model, make_adapter
        from guikv.loading import load_model, resolve_source

        options = dict(config.adapter_options)
        for name in ("min_pixels", "max_pixels", "max_new_tokens"):
            if getattr(config, name) is not None:
                options[name] = getattr(config, name)
        resolve_source(config.model)  # a wrong path says so, rather than "no adapter for it"
        if config.adapter is not None:
            adapter = make_adapter(config.adapter, **options)
        else:
            try:
                adapter = adapter_for_model(config.model, **options)
            except UnknownModelError as exc:
                raise UnknownModelError(f"{exc} On the command line: --adapter {'|'.join(ADAPTERS)}.") from None
        limits = adapter.model_pixel_limits
        model, processor = load_model(
            config.model, dtype=config.dtype, device=config.device, trust_remote_code=config.trust_remote_code,
            min_pixels=limits.min_pixels, max_pixels=limits.max_pixels,
        )
        return cls(
            adapter, model, processor, method=config.kv, budget=config.budget, mode=config.memory_mode,
            max_screenshots=config.max_screenshots, method_kwargs=config.kv_options,
            max_new_tokens=config.max_new_tokens, retries=config.retries,
        )
