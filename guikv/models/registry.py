"""The registry of model specs: ``config.json`` -> ``ModelSpec``, and a loaded model -> its spec.

Lookups raise ``UnknownModelError`` listing the known families; nothing falls back silently to a default family.
"""

from __future__ import annotations

from typing import Any

from guikv.families import UnsupportedModelError
from guikv.models.spec import ModelSpec, _field


class UnknownModelError(UnsupportedModelError, LookupError):
    """No registered model family matches a config (its ``model_type`` / ``architectures``)."""


def _specs() -> dict[str, ModelSpec]:
    from guikv.models import opencua, qwen2, qwen2_5_vl

    specs = [qwen2_5_vl.SPEC, opencua.SPEC, qwen2.SPEC]
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
    raise UnknownModelError(
        f"{source}: model_type {model_type!r} (architectures {architectures}) is not a supported model family; "
        f"known families: {known_families()}"
    )


def spec_of(model: Any) -> ModelSpec:
    """The spec of a loaded model, from its ``config``."""
    return spec_for_config(model.config, type(model).__name__)
