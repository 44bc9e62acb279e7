"""What decides a step's actions: the ``Policy`` protocol, its ``PolicyOutput``, and ``ModelPolicy``, a model adapter on
a ``guikv.MemorySession`` that keeps one KV cache for the whole task::

    step 0: adapter.system_and_task_messages(task) + adapter.observation_message(screenshot_0, 0) -> generate
    step k: adapter.observation_message(screenshot_k, k) -> generate    (earlier turns stay in the compressed cache)

What the model gets wrong is recorded and handled: an unusable answer (``ModelAdapter.interpret`` raises
``ModelOutputError`` for any bad text) is kept as a ``ModelCall`` with its error, a short correction turn is added and
the model answers again, up to ``retries`` times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.errors import ModelOutputError
from agent.models.base import ModelAdapter
from environments.actions import Action
from environments.base import Observation

CORRECTION = (
    "Your previous answer could not be used: {reason}. Answer again for the same screenshot, exactly in the output "
    "format given at the start (a thought, then one action from the action space)."
)
FAILED_ACTION_NOTE = "The previous action was not executed: {error}"


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
    """What the policy decided for one observation; ``error`` set (and no actions) when it could not decide.

    ``stop_kind``: the run's stop reason when ``error`` is set: ``bad_output`` (the model's answers were unusable) or
    ``model_error`` (the model could not be asked: a screenshot its processor rejects, an endpoint that failed)."""

    actions: tuple[Action, ...]
    thought: str = ""
    reflection: str | None = None
    calls: tuple[ModelCall, ...] = ()
    error: str | None = None
    stop_kind: str = "bad_output"


class Policy(Protocol):
    """Decides actions from observations, one episode at a time.

    A policy may also have a ``should_stop`` attribute (like ``Env.should_stop``): ``run_steps`` then sets it for the
    run, and a policy that takes long (retries) should return early, with no actions, once it answers True.
    """

    def reset(self, task: str) -> None:
        """Start an episode for ``task`` (fresh memory)."""

    def act(self, observation: Observation) -> PolicyOutput:
        """Actions for the current screenshot; ``PolicyOutput.error`` ends the run."""

    def close(self) -> None:
        """Release what the policy holds."""


class ModelPolicy:
    """A model adapter on a ``guikv.MemorySession``: one append-only conversation and one compressed cache per task.

    An unusable answer (``ModelOutputError``) is recorded; a short correction turn is added and the model answers
    again, up to ``retries`` times; then ``PolicyOutput.error`` ends the run. A failed previous action is told to the
    model as a text note in the next observation turn. ``should_stop`` (set by ``run_steps``) is checked before each
    retry: a stop request does not wait for the remaining retries.
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
        self.should_stop: Callable[[], bool] | None = None  # set by run_steps: checked before each retry
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
        from guikv.processor import ImageRejected
        from guikv.session import RejectedTurnError

        try:
            session.add(message["role"], content)
        except ImageRejected as exc:  # nothing was added: the session is as before this step
            self.step += 1
            return PolicyOutput((), error=f"the model's image processor rejected the screenshot: {exc}",
                                stop_kind="model_error")
        self.step += 1
        calls: list[ModelCall] = []
        for attempt in range(self.retries + 1):
            if attempt:
                if self.should_stop is not None and self.should_stop():
                    return PolicyOutput((), calls=tuple(calls))  # stopped between two answers: the loop ends the run
                session.add("user", CORRECTION.format(reason=calls[-1].error))
            try:
                reply = session.generate(max_new_tokens=self.max_new_tokens)
            except RejectedTurnError as exc:  # the turn was removed from the session; later steps are not blocked
                return PolicyOutput((), calls=tuple(calls), error=f"the model's image processor rejected a turn: {exc}",
                                    stop_kind="model_error")
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
            cache["budget_tokens"] = state.live_tokens
        else:
            cache["budget_tokens"] = press.capacity(state.live_tokens - decoded) + decoded
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

    @staticmethod
    def adapter_for(config: Any) -> ModelAdapter:
        """The adapter of a ``RunConfig``, its options checked (``--adapter`` or the model's own config, plus the
        pixel limits and token budget of the run); reads at most the model folder's ``config.json``, loads nothing.

        ``guikv.ModelLoadError`` for a missing model folder, ``UnknownModelError`` when no adapter fits the model,
        ``ValueError`` for a bad option.
        """
        from agent.errors import UnknownModelError
        from agent.models.registry import ADAPTERS, adapter_for_model, make_adapter
        from guikv.loading import resolve_source

        options = dict(config.adapter_options)
        for name in ("min_pixels", "max_pixels", "max_new_tokens"):
            if getattr(config, name) is not None:
                options[name] = getattr(config, name)
        resolve_source(config.model)  # a wrong path says so, rather than "no adapter for it"
        if config.adapter is not None:
            return make_adapter(config.adapter, **options)
        try:
            return adapter_for_model(config.model, **options)
        except UnknownModelError as exc:
            raise UnknownModelError(f"{exc} On the command line: --adapter {'|'.join(ADAPTERS)}.") from None

    @classmethod
    def from_config(cls, config: Any, adapter: ModelAdapter | None = None) -> ModelPolicy:
        """Adapter (``adapter_for(config)`` unless given), model and processor for a ``RunConfig`` (loads the
        weights: slow for a real model).

        The processor and the adapter share the pixel limits (``config.min_pixels``/``max_pixels`` or the adapter's
        defaults), so coordinates map back onto the screenshot exactly. ``guikv.ModelLoadError`` when the weights
        cannot be found, with how to pass a local folder.
        """
        from guikv.loading import load_model

        adapter = adapter or cls.adapter_for(config)
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
