"""What the project knows about one model family, in one frozen dataclass (issue 10: one registry of model specs).

A ``ModelSpec`` names the ``config.json`` ``model_type`` values / architectures it matches, how the checkpoint is loaded,
the RoPE scheme the compression hooks rotate with, the image-token layout, the pixel limits and resize factor its
image processor uses, the token that ends a chat turn, and the prompt adapter the agent uses by default. Everything
family-specific outside this file reads it from here (``guikv.models.registry``); adding a family is one spec module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    """The image processor's resize rule: sides multiples of ``patch_size * merge_size``, area in [min, max] pixels."""

    patch_size: int = 14
    merge_size: int = 2
    min_pixels: int = 100 * 28 * 28
    max_pixels: int = 16384 * 28 * 28

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


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
    turn_end: str = "<|im_end|>"  # closes an assistant turn in the chat template (fed back into the cache)
    stop_tokens: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")  # any of these ends a generation
    default_adapter: str | None = None  # agent prompt/action adapter by name (agent.models), None for no agent use
    checkpoints: tuple[str, ...] = ()  # public checkpoints of this family (README table)
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
