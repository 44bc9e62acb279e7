"""What the project knows about one model family, in one frozen dataclass (issue 10: one registry of model specs).

A ``ModelSpec`` names the ``config.json`` ``model_type`` values / architectures it matches, how the checkpoint is loaded,
the RoPE scheme the compression hooks rotate with, the image-token layout, the pixel limits and resize factor its
image processor uses, the token that ends a chat turn, and the prompt adapter the agent uses by default. Everything
family-specific outside this file reads it from here (``guikv.models.registry``); adding a family is one spec module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from guikv.models.pixels import QWEN2_5_VL_MAX_PIXELS, QWEN2_5_VL_MIN_PIXELS, PixelLimits, smart_resize
from guikv.rope import RopeScheme
from guikv.spans import VisionTokenIds


@dataclass(frozen=True)
class ImageTokenLayout:
    """How a screenshot appears in the token sequence: ``start`` + ``pad`` * N + ``end`` (after expansion).

    Token texts are looked up in the tokenizer; the ``*_config_keys`` name ``config.json`` fields that hold the ids,
    which win when present (the checkpoint's own word).
    """

    pad: str
    start: str | None = None
    end: str | None = None
    pad_config_keys: tuple[str, ...] = ("image_token_id",)
    start_config_keys: tuple[str, ...] = ("vision_start_token_id",)
    end_config_keys: tuple[str, ...] = ("vision_end_token_id",)

    def ids(self, config: Any, tokenizer: Any = None) -> VisionTokenIds | None:
        """The ids from ``config`` fields, else from ``tokenizer``; ``None`` when the pad id cannot be found."""

        def lookup(keys: tuple[str, ...], text: str | None) -> int | None:
            for key in keys:
                value = _field(config, key)
                if value is not None:
                    return int(value)
            if text is not None and tokenizer is not None:
                found = tokenizer.convert_tokens_to_ids(text)
                if found is not None and found != getattr(tokenizer, "unk_token_id", None):
                    return int(found)
            return None

        pad = lookup(self.pad_config_keys, self.pad)
        if pad is None:
            return None
        return VisionTokenIds(
            image_pad=pad,
            vision_start=lookup(self.start_config_keys, self.start),
            vision_end=lookup(self.end_config_keys, self.end),
        )


@dataclass(frozen=True)
class PixelSpec:
    """The image processor's resize rule: sides multiples of ``patch_size * merge_size``, area in [min, max] pixels.

    The rule itself is ``guikv.models.pixels.smart_resize``; this holds each family's numbers (the one place they are
    written). ``min_pixels`` / ``max_pixels`` are per image (what the model sees). ``frames_per_image``: how many frames the
    image processor counts an image as against its own ``size`` limits (GLM-4.1V's counts ``temporal_patch_size`` = 2,
    so its ``size`` must hold twice the per-image limits); ``image_processor`` is the (slow) class that implements it.
    """

    patch_size: int = 14
    merge_size: int = 2
    min_pixels: int = QWEN2_5_VL_MIN_PIXELS
    max_pixels: int = QWEN2_5_VL_MAX_PIXELS
    frames_per_image: int = 1
    image_processor: str = "Qwen2VLImageProcessor"

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def processor_limits(self, min_pixels: int | None = None, max_pixels: int | None = None) -> dict[str, int]:
        """The image processor's ``min_pixels`` / ``max_pixels`` for these (or the given) per-image limits."""
        lo = self.min_pixels if min_pixels is None else min_pixels
        hi = self.max_pixels if max_pixels is None else max_pixels
        if not 0 < lo <= hi:
            raise ValueError(f"pixel limits must satisfy 0 < min_pixels <= max_pixels, got {lo} and {hi}")
        return {"min_pixels": lo * self.frames_per_image, "max_pixels": hi * self.frames_per_image}

    @property
    def limits(self) -> PixelLimits:
        """These limits as the ``PixelLimits`` that coordinate conversion and eval's scorers take."""
        return PixelLimits(self.min_pixels, self.max_pixels, self.factor)

    def resize(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` the model sees for an image (``smart_resize`` under these limits)."""
        return smart_resize(height, width, factor=self.factor, min_pixels=self.min_pixels, max_pixels=self.max_pixels)

    def tokens(self, height: int, width: int) -> int:
        """Language-model tokens of one image: the resized area over ``factor ** 2``."""
        h, w = self.resize(height, width)
        return (h // self.factor) * (w // self.factor)


@dataclass(frozen=True)
class ModelSpec:
    """One model family. See the module docstring; ``load`` is ``(source, **options) -> (model, processor)``."""

    name: str
    model_types: tuple[str, ...]
    architectures: tuple[str, ...]
    rope: RopeScheme
    load: Callable[..., tuple[Any, Any]]
    image_tokens: ImageTokenLayout | None = None
    pixels: PixelSpec | None = None
    # The token the chat template puts after an assistant reply (the session feeds it back into the cache when a
    # generation stops); GLM-4.1V closes no turn, its reply ends where the next ``<|user|>`` turn begins.
    turn_end: str = "<|im_end|>"
    stop_tokens: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")  # any of these ends a generation
    default_adapter: str | None = None  # agent prompt/action adapter by name (agent.models), None for no agent use
    # the adapter's fields this family needs on top of its defaults (e.g. how its checkpoints write points)
    default_adapter_options: Mapping[str, Any] = field(default_factory=dict, compare=False)
    checkpoints: tuple[str, ...] = ()  # public checkpoints of this family (README table)
    # Lower-cased pieces of hub ids that name this family, for an id whose config.json cannot be read offline
    # (``registry.spec_for_model``); the config always wins when there is one.
    name_hints: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def matches(self, config: Any) -> bool:
        """Whether a config (``PretrainedConfig`` or ``config.json`` dict) is of this family."""
        architectures = _field(config, "architectures") or []
        return _field(config, "model_type") in self.model_types or any(a in self.architectures for a in architectures)


def _field(config: Any, key: str) -> Any:
    if config is None:
        return None
    if isinstance(config, dict):
        return config.get(key)
    return getattr(config, key, None)
