"""The registry of model specs: ``config.json`` -> ``ModelSpec``, and a loaded model -> its spec.

Lookups raise ``UnknownModelError`` listing the known families; nothing falls back silently to a default family.
Families the hook design cannot serve at all are named with the reason (``UNSERVABLE``), not registered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from guikv.models.pixels import PixelLimits
from guikv.models.spec import ModelSpec, _field
from guikv.rope import UnsupportedModelError

_RECURRENT = (
    "hybrid linear attention: most layers are Gated DeltaNet layers whose recurrent/convolution state is not a "
    "per-token KV cache, so token eviction cannot compress it (and the cache class is its own)"
)
# model_type -> why guikv's KV-cache hooks cannot serve it (research-10.md F.1).
UNSERVABLE: dict[str, str] = {
    "qwen3_5": f"Qwen3.5: {_RECURRENT}",
    "qwen3_5_moe": f"Qwen3.5 MoE: {_RECURRENT}",
    "qwen3_next": f"Qwen3-Next: {_RECURRENT}",
}


class UnknownModelError(UnsupportedModelError, LookupError):
    """No registered model family matches a config (its ``model_type`` / ``architectures``)."""


def _specs() -> dict[str, ModelSpec]:
    from guikv.models import glm4v, opencua, qwen2, qwen2_5_vl, qwen2_vl, qwen3_vl

    specs = [qwen2_5_vl.SPEC, qwen2_vl.SPEC, opencua.SPEC, qwen3_vl.SPEC, qwen3_vl.MOE_SPEC, glm4v.SPEC, qwen2.SPEC]
    return {spec.name: spec for spec in specs}


MODEL_SPECS: dict[str, ModelSpec] = _specs()


def _limits(name: str) -> PixelLimits:
    pixels = MODEL_SPECS[name].pixels
    assert pixels is not None, name
    return pixels.limits


# The per-family pixel limits under the names the agent and eval use (read from the specs; written nowhere else).
UI_TARS_PIXEL_LIMITS = _limits("qwen2_5_vl")  # UI-TARS-1.5 is a Qwen2.5-VL checkpoint: 78,400 / 12,845,056, factor 28
OPENCUA_PIXEL_LIMITS = _limits("opencua")  # 3,136 / 12,845,056, factor 28
QWEN3_VL_PIXEL_LIMITS = _limits("qwen3_vl")  # preprocessor_config.json: 65,536 / 16,777,216, factor 32


def known_families() -> str:
    return ", ".join(f"{name} (model_type {'/'.join(spec.model_types)})" for name, spec in MODEL_SPECS.items())


def spec_named(name: str) -> ModelSpec:
    if name not in MODEL_SPECS:
        raise UnknownModelError(f"no model family named {name!r}; known families: {known_families()}")
    return MODEL_SPECS[name]


def spec_for_config(config: Any, source: str = "the model") -> ModelSpec:
    """The spec matching a ``PretrainedConfig`` or ``config.json`` dict: by ``model_type``, then ``architectures``."""
    model_type = _field(config, "model_type")
    for spec in MODEL_SPECS.values():
        if model_type in spec.model_types:
            return spec
    for spec in MODEL_SPECS.values():
        if spec.matches(config):
            return spec
    architectures = _field(config, "architectures")
    reason = f" ({UNSERVABLE[model_type]})" if model_type in UNSERVABLE else ""
    raise UnknownModelError(
        f"{source}: model_type {model_type!r} (architectures {architectures}) is not a supported model family{reason}; "
        f"known families: {known_families()}"
    )


def spec_of(model: Any) -> ModelSpec:
    """The spec of a loaded model, from its ``config``."""
    return spec_for_config(model.config, type(model).__name__)


def read_config(name_or_path: str | Path) -> dict[str, Any] | None:
    """``config.json`` of a local model folder as a dict, ``None`` when ``name_or_path`` is no folder with one;
    ``ValueError`` naming the file when it is not a JSON object."""
    config_file = Path(name_or_path).expanduser() / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_file} is not valid JSON ({exc}); expected a model config") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{config_file} holds a {type(config).__name__}; expected a model config (a JSON object)")
    return config


def spec_for_model(name_or_path: str | Path, config: Any = None) -> ModelSpec:
    """The spec of a checkpoint: from ``config`` (a ``PretrainedConfig`` or dict), else the folder's ``config.json``,
    else (a hub id with no local config) a spec whose ``name_hints`` the id contains; ``UnknownModelError`` listing the
    known families when nothing matches."""
    if config is None:
        config = read_config(name_or_path)
    if config is not None:
        return spec_for_config(config, str(name_or_path))
    lowered = str(name_or_path).lower()
    for spec in MODEL_SPECS.values():
        if any(hint in lowered for hint in spec.name_hints):
            return spec
    raise UnknownModelError(
        f"{str(name_or_path)!r}: no config.json to read and no known family in the name; known families: "
        f"{known_families()}"
    )
