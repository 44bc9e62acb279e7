"""Shared loading for families whose checkpoint is a stock transformers class (``from_pretrained`` on a hub id/folder)."""

from __future__ import annotations

from typing import Any

from guikv.models.spec import ModelSpec
from guikv.processor import VisionTextProcessor


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to pass instead. (Here, below every family's loader; the
    public loading API, ``guikv.loading``, raises it too.)"""


class ProcessorMismatchError(ValueError):
    """A checkpoint's image processor is not the one its family's spec describes (or it has none)."""


def load_stock(model_class: Any, source: str, spec: ModelSpec, *, model_options: dict[str, Any],
               min_pixels: int | None = None, max_pixels: int | None = None,
               trust_remote_code: bool = False) -> tuple[Any, VisionTextProcessor]:
    """``model_class.from_pretrained`` plus the project's processor, with the spec's (or the given) per-image limits.

    The checkpoint's ``preprocessor_config.json`` supplies the image processor; it must be the spec's class with the
    spec's patch and merge sizes (``ProcessorMismatchError`` otherwise: coordinates and token counts would be wrong).
    """
    processor_options: dict[str, Any] = {}
    if spec.pixels is not None:
        processor_options = spec.pixels.processor_limits(min_pixels, max_pixels)
    processor = VisionTextProcessor.from_pretrained(source, trust_remote_code=trust_remote_code, **processor_options)
    if spec.image_tokens is not None:
        processor.image_token = spec.image_tokens.pad
    if spec.pixels is not None:
        check_image_processor(processor.image_processor, spec, source)
    model = model_class.from_pretrained(source, trust_remote_code=trust_remote_code, **model_options)
    return model, processor


def check_image_processor(image_processor: Any, spec: ModelSpec, source: str) -> None:
    pixels = spec.pixels
    if image_processor is None:
        raise ProcessorMismatchError(
            f"{source} has no image processor (preprocessor_config.json); a {spec.name} model needs "
            f"{pixels.image_processor} (patch {pixels.patch_size}, merge {pixels.merge_size}): copy the checkpoint's file"
        )
    name = type(image_processor).__name__.removesuffix("Fast")
    found = (name, getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None))
    if found != (pixels.image_processor, pixels.patch_size, pixels.merge_size):
        raise ProcessorMismatchError(
            f"{source}: image processor {found[0]} with patch {found[1]}, merge {found[2]}; a {spec.name} model "
            f"expects {pixels.image_processor} with patch {pixels.patch_size}, merge {pixels.merge_size}"
        )
