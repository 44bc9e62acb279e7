"""Shared loading for families whose checkpoint is a stock transformers class (``from_pretrained`` on a hub id/folder)."""

from __future__ import annotations

from typing import Any

from guikv.models.spec import ModelSpec
from guikv.processor import VisionTextProcessor


def load_stock(model_class: Any, source: str, spec: ModelSpec, *, model_options: dict[str, Any],
               min_pixels: int | None = None, max_pixels: int | None = None,
               trust_remote_code: bool = False) -> tuple[Any, VisionTextProcessor]:
    """``model_class.from_pretrained`` plus the project's processor, with the spec's (or the given) pixel limits."""
    model = model_class.from_pretrained(source, trust_remote_code=trust_remote_code, **model_options)
    processor_options: dict[str, Any] = {}
    if spec.pixels is not None:
        processor_options["min_pixels"] = min_pixels if min_pixels is not None else spec.pixels.min_pixels
        processor_options["max_pixels"] = max_pixels if max_pixels is not None else spec.pixels.max_pixels
    processor = VisionTextProcessor.from_pretrained(source, trust_remote_code=trust_remote_code, **processor_options)
    if spec.image_tokens is not None:
        processor.image_token = spec.image_tokens.pad
    return model, processor
