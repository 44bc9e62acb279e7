"""Errors of ``MemorySession`` (a module of their own so the session's parts can raise them)."""

from __future__ import annotations


class SessionError(RuntimeError):
    """A session used out of order (assistant turn first, reused after close, ...)."""


class ContextTooLongError(ValueError):
    """The conversation plus the reply's token reserve would pass the model's (or the caller's) context limit."""
