"""The registry of model specs: ``config.json`` -> ``ModelSpec``, and a loaded model -> its spec.

Lookups raise ``UnknownModelError`` listing the known families; nothing falls back silently to a default family.
Families the hook design cannot serve at all are named with the reason (``UNSERVABLE``), not registered.
"""

from __future__ import annotations

from typing import Any

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
