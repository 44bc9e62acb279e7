"""Model families: one ``ModelSpec`` per family (``spec.py``), one module per family, and the registry."""

from guikv.models.pixels import PixelLimits, resized_size, smart_resize
from guikv.models.registry import (
    MODEL_SPECS,
    OPENCUA_PIXEL_LIMITS,
    QWEN3_VL_PIXEL_LIMITS,
    UI_TARS_PIXEL_LIMITS,
    UnknownModelError,
    spec_for_config,
    spec_for_model,
    spec_named,
    spec_of,
)
from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec

__all__ = [
    "MODEL_SPECS",
    "OPENCUA_PIXEL_LIMITS",
    "QWEN3_VL_PIXEL_LIMITS",
    "UI_TARS_PIXEL_LIMITS",
    "ImageTokenLayout",
    "ModelSpec",
    "PixelLimits",
    "PixelSpec",
    "UnknownModelError",
    "resized_size",
    "smart_resize",
    "spec_for_config",
    "spec_for_model",
    "spec_named",
    "spec_of",
]
