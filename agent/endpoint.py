"""``EndpointPolicy``: the model answers from an OpenAI-compatible chat-completions endpoint instead of a local model.

What ``guikv-agent run --endpoint URL`` uses to drive a laptop's screen while the model runs on a GPU box: our own
``guikv-agent serve`` (which keeps one compressed cache per conversation) or any vLLM / SGLang server. The requests are
laid out as UI-TARS-desktop lays them out (``packages/ui-tars/sdk/src/utils.ts``: ``processVlmParams`` and
``convertToOpenAIMessages``): the adapter's system and task turns, then per step the screenshot's user turn and the
model's reply as an assistant text turn; only the last ``max_screenshots`` screenshot turns are sent (older screenshot
turns are dropped whole, the replies around them stay as text), each screenshot a ``data:image/png;base64,`` URL.

The answer streams (``stream_options.include_usage``), so the step's record has the time to the first token
(``prefill_seconds``) apart from the decode, and ``usage`` (prompt tokens, and ``cached_tokens`` where the server says
what it reused) lands in the call's ``cache`` field. A failed request (connection refused, an error status, a timeout)
is the step's error: the run stops with what it wrote so far.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from agent.errors import ModelOutputError
from agent.models.base import Message, ModelAdapter
from agent.policy import CORRECTION, FAILED_ACTION_NOTE, ModelCall, PolicyOutput
from environments.base import Observation

API_KEY_VARIABLES = ("GUIKV_API_KEY", "OPENAI_API_KEY")  # read in this order; the key is never written to a record


def check_endpoint_url(url: str) -> str:
    """``url`` without a trailing slash if it is an ``http(s)://host[:port][/path]`` base URL, else ``ValueError``.

    The base URL is what the OpenAI client takes (``http://gpu-box:8000/v1``): ``/chat/completions`` is appended."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--endpoint takes a base URL like http://127.0.0.1:8000/v1, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"--endpoint takes a base URL without query or fragment, got {url!r}")
    return url.rstrip("/")


def png_data_url(image: Any) -> str:
    """A PIL image as the ``data:image/png;base64,...`` URL of an ``image_url`` content part."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_screenshot_turn(message: Message) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(part, dict) and part.get("type") == "image" for part in content)


def windowed(messages: list[Message], max_screenshots: int | None) -> list[Message]:
    """``messages`` without the oldest screenshot turns beyond ``max_screenshots`` (``None``: all kept)."""
    if max_screenshots is None:
        return list(messages)
    excess = sum(_is_screenshot_turn(m) for m in messages) - max_screenshots
    kept: list[Message] = []
    for message in messages:
        if excess > 0 and _is_screenshot_turn(message):
            excess -= 1
            continue
        kept.append(message)
    return kept


def openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our chat messages (content a string or parts ``{"type": "text"|"image", ...}``) in the OpenAI wire format."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image":
                    parts.append({"type": "image_url", "image_url": {"url": png_data_url(part["image"])}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            content = parts
        wire.append({"role": message["role"], "content": content})
    return wire


class EndpointPolicy:
    """A model adapter whose answers come from ``client.chat.completions`` (an ``openai.OpenAI``-like client).

    ``max_screenshots``: the sliding window of screenshot turns sent per request (UI-TARS-desktop's 5; ``None`` sends
    every one). Unusable answers are retried with a correction turn as ``ModelPolicy`` does; ``should_stop`` is
    checked before each retry and between streamed chunks (a stop request ends the request early).
    """

    def __init__(self, adapter: ModelAdapter, client: Any, model: str, *, max_screenshots: int | None = 5,
                 max_new_tokens: int | None = None, retries: int = 1, temperature: float = 0.0,
                 endpoint: str = "") -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if max_screenshots is not None and max_screenshots < 1:
            raise ValueError(f"max_screenshots must be >= 1 (or None for all), got {max_screenshots}")
        self.adapter, self.client, self.model = adapter, client, model
        self.max_screenshots = max_screenshots
        self.max_new_tokens = max_new_tokens or adapter.max_new_tokens
        self.retries, self.temperature, self.endpoint = retries, temperature, endpoint
        self.max_text_chars = 32 * self.max_new_tokens + 1024  # no token is longer than ~32 characters of text
        self.should_stop: Callable[[], bool] | None = None
        self.messages: list[Message] = []
        self.task: str | None = None
        self.step = 0

    @classmethod
    def from_config(cls, config: Any, adapter: ModelAdapter, *, api_key: str | None = None) -> EndpointPolicy:
        """The policy of a ``RunConfig`` with ``endpoint`` set; the API key from ``api_key`` or the environment."""
        import os

        import openai

        key = api_key or next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None) or "EMPTY"
        client = openai.OpenAI(base_url=config.endpoint, api_key=key, max_retries=1, timeout=config.endpoint_timeout)
        name = config.endpoint_model or config.model
        try:  # fail before the first step: the server is there and serves this model
            served = [entry.id for entry in client.models.list()]
        except openai.APIError as exc:
            client.close()
            raise ValueError(f"--endpoint {config.endpoint}: cannot list its models ({type(exc).__name__}: {exc})") from None
        if served and name not in served:
            client.close()
            raise ValueError(f"--endpoint {config.endpoint} does not serve {name!r}; it serves {served}: pass "
                             "--endpoint-model NAME")
        return cls(adapter, client, config.endpoint_model or config.model, max_screenshots=config.max_screenshots,
                   max_new_tokens=config.max_new_tokens, retries=config.retries, endpoint=config.endpoint)

    def reset(self, task: str) -> None:
        self.task, self.step = task, 0
        self.messages = list(self.adapter.system_and_task_messages(task))

    def act(self, observation: Observation) -> PolicyOutput:
        if self.task is None:
            raise RuntimeError("EndpointPolicy.act() before reset(task)")
        message = self.adapter.observation_message(observation.screenshot, self.step)
        content = message["content"]
        if observation.error is not None:
            note = {"type": "text", "text": FAILED_ACTION_NOTE.format(error=observation.error)}
            content = [*content, note] if isinstance(content, list) else [{"type": "text", "text": content}, note]
        import openai

        self.messages.append({"role": message["role"], "content": content})
        self.step += 1
        calls: list[ModelCall] = []
        for attempt in range(self.retries + 1):
            if attempt:
                if self.should_stop is not None and self.should_stop():
                    return PolicyOutput((), calls=tuple(calls))
                self.messages.append({"role": "user", "content": CORRECTION.format(reason=calls[-1].error)})
            try:
                call = self._complete()
            except openai.APIError as exc:  # connection refused, an error status, a timeout: the step's error
                return PolicyOutput((), calls=tuple(calls), stop_kind="model_error",
                                    error=f"the endpoint {self.endpoint} failed: {type(exc).__name__}: {exc}")
            self.messages.append({"role": "assistant", "content": call.raw})
            try:
                parsed = self.adapter.interpret(call.raw, observation.size)
            except ModelOutputError as exc:
                calls.append(_with_error(call, exc.reason))
                continue
            calls.append(call)
            return PolicyOutput(parsed.actions, parsed.thought, parsed.reflection, tuple(calls))
        return PolicyOutput((), calls=tuple(calls), error=f"the model's answer could not be used {len(calls)} time(s) "
                                                          f"in a row; last: {calls[-1].error}")

    def _complete(self) -> ModelCall:
        """One streamed chat completion of the windowed conversation."""
        request = openai_messages(windowed(self.messages, self.max_screenshots))
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        usage: Any = None
        finish: str | None = None
        stream = self.client.chat.completions.create(
            model=self.model, messages=request, max_tokens=self.max_new_tokens, temperature=self.temperature,
            stream=True, stream_options={"include_usage": True},
        )
        try:
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        first = first if first is not None else time.perf_counter()
                        pieces.append(choice.delta.content)
                    finish = choice.finish_reason or finish
                if self.should_stop is not None and self.should_stop():
                    break
                if sum(map(len, pieces)) > self.max_text_chars:  # a server that ignores max_tokens is cut off
                    finish = "length"
                    break
        finally:
            stream.close()
        ended = time.perf_counter()
        first = first if first is not None else ended
        details = getattr(usage, "prompt_tokens_details", None)
        cache = {
            "endpoint": self.endpoint,
            "model": self.model,
            "screenshots_sent": sum(_is_screenshot_turn(m) for m in windowed(self.messages, self.max_screenshots)),
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "cached_tokens": getattr(details, "cached_tokens", None),
            "finish_reason": finish,
        }
        text = "".join(pieces)
        return ModelCall(
            raw=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            prefill_seconds=first - started,
            decode_seconds=ended - first,
            stopped_by_eos=finish == "stop",
            cache=cache,
        )

    def close(self) -> None:
        self.messages, self.task = [], None
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def _with_error(call: ModelCall, error: str) -> ModelCall:
    from dataclasses import replace

    return replace(call, error=error)
