"""Model adapters by name, and the adapter for a checkpoint picked from its config (architectures / model_type)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from agent.errors import UnknownModelError
from agent.models.base import ModelAdapter
from agent.models.opencua import OpenCUAAdapter
from agent.models.qwen3_vl import Qwen3VLAdapter
from agent.models.ui_tars import UITarsAdapter

ADAPTERS: dict[str, type[ModelAdapter]] = {cls.name: cls for cls in (UITarsAdapter, OpenCUAAdapter, Qwen3VLAdapter)}

# A stock Qwen2.5-VL checkpoint is prompted as UI-TARS-1.5 (which is one); OpenCUA ships remote code; Qwen3-VL
# (dense and MoE) gets its own computer_use tool calls. (Issue 10 moves this mapping into guikv's model specs.)
ARCHITECTURES: dict[str, str] = {
    "Qwen2_5_VLForConditionalGeneration": "ui_tars",
    "OpenCUAForConditionalGeneration": "opencua",
    "Qwen3VLForConditionalGeneration": "qwen3_vl",
    "Qwen3VLMoeForConditionalGeneration": "qwen3_vl",
}
MODEL_TYPES: dict[str, str] = {
    "qwen2_5_vl": "ui_tars",
    "opencua": "opencua",
    "qwen3_vl": "qwen3_vl",
    "qwen3_vl_moe": "qwen3_vl",
}
# Last resort for hub ids whose config cannot be read offline.
NAME_HINTS: dict[str, str] = {
    "ui-tars": "ui_tars",
    "ui_tars": "ui_tars",
    "uitars": "ui_tars",
    "opencua": "opencua",
    "qwen3-vl": "qwen3_vl",
    "qwen3_vl": "qwen3_vl",
}


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
    """The adapter for a checkpoint: by ``config.architectures``, then ``config.model_type``, then the name.

    ``config`` is a transformers ``PretrainedConfig``, a ``config.json`` dict, or ``None`` (then ``config.json`` is
    read from ``name_or_path`` when it is a local folder).
    """
    if config is None:
        config_file = Path(name_or_path) / "config.json"
        if config_file.is_file():
            try:
                config = json.loads(config_file.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{config_file} is not valid JSON ({exc}); expected a model config") from exc
    architectures = list(_field(config, "architectures") or [])
    model_type = _field(config, "model_type")
    for architecture in architectures:
        if architecture in ARCHITECTURES:
            return make_adapter(ARCHITECTURES[architecture], **options)
    if model_type in MODEL_TYPES:
        return make_adapter(MODEL_TYPES[model_type], **options)
    lowered = str(name_or_path).lower()
    for hint, adapter in NAME_HINTS.items():
        if hint in lowered:
            return make_adapter(adapter, **options)
    found = f"architectures={architectures}, model_type={model_type!r}" if config is not None else "no config"
    raise UnknownModelError(
        f"no model adapter for {str(name_or_path)!r} ({found}). Known architectures: {sorted(ARCHITECTURES)}; "
        f"model types: {sorted(MODEL_TYPES)}. Pick one explicitly with make_adapter(name), name in {sorted(ADAPTERS)}."
    )


def _field(config: Any, key: str) -> Any:
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(key)
    return getattr(config, key, None)
