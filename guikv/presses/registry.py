"""Method name -> press class; ``make_press`` builds one with a clear error for unknown names or options."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from guikv.presses.base import Press
from guikv.presses.full import FullPress
from guikv.presses.gui_kv import GuiKVPress
from guikv.presses.pyramid_kv import PyramidKVPress
from guikv.presses.snap_kv import SnapKVPress
from guikv.presses.vl_cache import VLCachePress

PRESSES: dict[str, type[Press]] = {cls.name: cls for cls in (FullPress, SnapKVPress, PyramidKVPress, VLCachePress, GuiKVPress)}


def make_press(method: str | Press, **options: Any) -> Press:
    """``make_press("gui_kv", budget=0.1, alpha=2.0)``; a ``Press`` instance passes through unchanged."""
    if isinstance(method, Press):
        if options:
            raise ValueError(f"options {sorted(options)} given together with a ready {type(method).__name__}")
        return method
    cls = PRESSES.get(method)
    if cls is None:
        raise ValueError(f"unknown compression method {method!r}; available: {', '.join(PRESSES)}")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{method}: unknown option(s) {unknown}; accepted: {sorted(allowed)}")
    return cls(**options)
