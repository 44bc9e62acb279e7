"""Model families: one ``ModelSpec`` per family (``spec.py``), one module per family, and the registry."""

from guikv.models.registry import MODEL_SPECS, UnknownModelError, spec_for_config, spec_named, spec_of
from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec

__all__ = [
    "MODEL_SPECS",
    "ImageTokenLayout",
    "ModelSpec",
    "PixelSpec",
    "UnknownModelError",
    "spec_for_config",
    "spec_named",
    "spec_of",
]
