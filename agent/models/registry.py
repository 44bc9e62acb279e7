"""Model adapters by name, and the adapter for a checkpoint: its model spec's ``default_adapter`` (guikv.models)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from agent.errors import UnknownModelError
from agent.models.base import ModelAdapter
from agent.models.opencua import OpenCUAAdapter
from agent.models.qwen3_vl import Qwen3VLAdapter
from agent.models.ui_tars import UITarsAdapter
from guikv.models.registry import MODEL_SPECS, spec_for_model
from guikv.models.registry import UnknownModelError as GuikvUnknownModelError

ADAPTERS: dict[str, type[ModelAdapter]] = {cls.name: cls for cls in (UITarsAdapter, OpenCUAAdapter, Qwen3VLAdapter)}

def make_adapter(name: str, **options: Any) -> ModelAdapter:
    """The adapter registered as ``name`` with its options (fields of its dataclass); ``ValueError`` naming an unknown
    option (with the accepted ones) or a value of the wrong type."""
    cls = ADAPTERS.get(name)
    if cls is None:
        raise UnknownModelError(f"no model adapter named {name!r}; available: {sorted(ADAPTERS)}")
    accepted = sorted(f.name for f in fields(cls) if f.init)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"the {name} adapter has no option(s) {unknown}; accepted: {accepted}")
    try:
        return cls(**options)
    except TypeError as exc:  # e.g. max_new_tokens='many' compared with 0
        raise ValueError(f"the {name} adapter's options {options!r} do not fit: {exc}") from None


def adapter_for_model(name_or_path: str | Path, config: Any = None, **options: Any) -> ModelAdapter:
    """The adapter for a checkpoint: the ``default_adapter`` of its model spec (``guikv.models.spec_for_model``: by
    ``config.model_type`` / ``architectures``, else the name of a hub id with no local config).

    ``config`` is a transformers ``PretrainedConfig``, a ``config.json`` dict, or ``None`` (then ``config.json`` is
    read from ``name_or_path`` when it is a local folder). A model no family matches, or whose family has no agent
    adapter, is an ``UnknownModelError`` naming the families that have one.
    """
    try:
        spec = spec_for_model(name_or_path, config)
    except GuikvUnknownModelError as exc:
        raise UnknownModelError(f"no model adapter for {str(name_or_path)!r}: {exc}. {_pick_one()}") from None
    if spec.default_adapter is None:
        raise UnknownModelError(
            f"no model adapter for {str(name_or_path)!r}: its family {spec.name} ({'/'.join(spec.architectures)}) has no "
            f"default agent adapter. {_pick_one()}"
        )
    # The family's own needs first (how it writes points, its processor's pixel limits), then what the caller set.
    defaults: dict[str, Any] = dict(spec.default_adapter_options)
    if spec.pixels is not None:
        limits = spec.pixels.limits
        defaults.update(min_pixels=limits.min_pixels, max_pixels=limits.max_pixels)
    return make_adapter(spec.default_adapter, **{**defaults, **options})


def _pick_one() -> str:
    served = "; ".join(
        f"{spec.name} ({'/'.join(spec.architectures)}) -> {spec.default_adapter}"
        for spec in MODEL_SPECS.values()
        if spec.default_adapter is not None
    )
    return f"Families with an adapter: {served}. Pick one explicitly with make_adapter(name), name in {sorted(ADAPTERS)}."
