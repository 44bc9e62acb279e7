"""Agent-side failures, split the smolagents way: what the model said wrong (recorded, the loop recovers) versus our bugs.

``ModelOutputError`` is the model's fault: the loop records it and asks the model once more. Everything else raised by
the agent package is a programming or configuration error and propagates.
"""

from __future__ import annotations

_PREVIEW_CHARS = 300
_REASON_CHARS = 600


class AgentError(Exception):
    """Base of the agent package's own error types."""


class ModelOutputError(AgentError):
    """The model's text cannot be turned into actions (malformed, truncated, unknown verb, ...).

    ``raw_text`` is the full text the model produced; ``reason`` says what was expected and what was found.
    """

    def __init__(self, raw_text: str, reason: str) -> None:
        self.raw_text = raw_text
        # The reason quotes the model's text and goes back to the model in a correction turn: keep it short.
        self.reason = reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."
        preview = raw_text if len(raw_text) <= _PREVIEW_CHARS else raw_text[:_PREVIEW_CHARS] + "..."
        super().__init__(f"unusable model output: {self.reason}; the model wrote {preview!r}")

    def __reduce__(self):
        # Exceptions pickle as cls(*args); keep both fields when the error crosses a process boundary (ray workers).
        return (type(self), (self.raw_text, self.reason))


class ModelValueError(AgentError, ValueError):
    """One value in the model's answer is unusable: a number that is not finite or lies far outside the screen, a
    count above its cap, text that is not valid Unicode (a lone surrogate cannot be typed nor written as UTF-8).

    Raised where the value is read (``agent.coords``, the adapters, ``agent.models.base.check_actions``), which does
    not know the whole answer; ``ModelAdapter.interpret`` re-raises it as a ``ModelOutputError`` that does.
    """


class UnknownModelError(AgentError, LookupError):
    """No model adapter fits the requested name, architecture or model type."""
