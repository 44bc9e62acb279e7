"""guikv: GUI-KV and baseline KV-cache compression for vision-language GUI agents, applied through hooks.

    import guikv
    with guikv.press("gui_kv", budget=0.1, alpha=2.0, temperature=3.5, window_size=8)(model):
        model(**inputs)                      # the prefill's cache comes out compressed

    session = guikv.MemorySession(model, processor, method="gui_kv", budget=4096)   # one cache for a whole task
"""

from __future__ import annotations

from typing import Any

from guikv.budget import Budget
from guikv.cache import CompressedCache
from guikv.presses.base import Press
from guikv.presses.registry import PRESSES, make_press
from guikv.rope import UnsupportedModelError


def press(method: str | Press = "gui_kv", **options: Any) -> Press:
    """A compression method by name (``full``, ``snap_kv``, ``pyramid_kv``, ``vl_cache``, ``gui_kv``).

    The result is a frozen dataclass; call it on a model to get the context manager that applies it.
    """
    return make_press(method, **options)


def __getattr__(name: str) -> Any:  # lazy: keep ``import guikv`` light
    if name in ("MemorySession", "Reply", "SessionState", "SessionError", "RejectedTurnError", "ContextTooLongError"):
        from guikv import session

        return getattr(session, name)
    if name in ("GenerationCancelled", "Sampling"):
        from guikv import decoding

        return getattr(decoding, name)
    if name == "ImageRejected":
        from guikv.processor import ImageRejected

        return ImageRejected
    if name in ("load_model", "ModelLoadError"):
        from guikv import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'guikv' has no attribute {name!r}")


__all__ = [
    "PRESSES",
    "Budget",
    "CompressedCache",
    "ContextTooLongError",
    "GenerationCancelled",
    "ImageRejected",
    "MemorySession",
    "ModelLoadError",
    "Press",
    "RejectedTurnError",
    "Reply",
    "Sampling",
    "SessionError",
    "SessionState",
    "UnsupportedModelError",
    "load_model",
    "press",
]
