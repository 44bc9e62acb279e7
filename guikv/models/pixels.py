"""The Qwen2-VL-style image resize rule (``smart_resize``) and the pixel limits it runs under.

Every family the project serves resizes a screenshot the same way before the vision tower sees it (both sides
multiples of ``factor`` = patch size x spatial merge, area inside ``[min_pixels, max_pixels]``); the model then reads
and writes coordinates in that resized frame. The rule lives here, in the model layer, so the agent (``agent.coords``),
eval's scorers and the registry's ``PixelSpec`` (whose numbers per family are the single source of the limits) share it.

Why not ``qwen_vl_utils.smart_resize``: qwen-vl-utils 0.0.14 has the same rule, but its module imports torchvision
at import time, which is not installed (its wheels pin a torch build). ``ui_tars.action_parser.smart_resize`` is the
same rule too; the tests check ours against it and against transformers'. Ours adds the newer qwen-vl-utils clamp
(a side never shrinks below one factor) and argument checks.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

IMAGE_FACTOR = 28  # Qwen2/2.5-VL: ViT patch 14 x spatial merge 2 (Qwen3-VL: 16 x 2 = 32)
MAX_ASPECT_RATIO = 200
# Qwen2.5-VL's image processor defaults, which UI-TARS-1.5 keeps (specs/models.md A.4): 78,400 / 12,845,056 pixels.
QWEN2_5_VL_MIN_PIXELS = 100 * 28 * 28
QWEN2_5_VL_MAX_PIXELS = 16384 * 28 * 28


@dataclass(frozen=True)
class PixelLimits:
    """Area bounds (in pixels) that the image processor resizes every screenshot into, and the side multiple."""

    min_pixels: int
    max_pixels: int
    factor: int = IMAGE_FACTOR

    def __post_init__(self) -> None:
        if self.factor <= 0:
            raise ValueError(f"factor must be positive, got {self.factor}")
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(
                f"pixel limits need 0 < min_pixels <= max_pixels, got min_pixels={self.min_pixels}, "
                f"max_pixels={self.max_pixels}"
            )


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = IMAGE_FACTOR,
    min_pixels: int = QWEN2_5_VL_MIN_PIXELS,
    max_pixels: int = QWEN2_5_VL_MAX_PIXELS,
) -> tuple[int, int]:
    """``(height, width)`` of the image the model sees (Qwen2.5-VL rule, argument order as in qwen-vl-utils).

    Round each side to the nearest multiple of ``factor``; if the area then exceeds ``max_pixels`` scale both sides
    by ``sqrt(h*w / max_pixels)`` and floor, if it falls below ``min_pixels`` scale up and ceil. The default limits are
    Qwen2.5-VL's (UI-TARS-1.5's); pass a family's own (``PixelSpec.limits``).
    """
    PixelLimits(min_pixels, max_pixels, factor)  # validates the limits
    height, width = positive_ints(height, width, what="image size (height, width)")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"aspect ratio of a {width}x{height} image is above {MAX_ASPECT_RATIO}; Qwen2.5-VL processors reject it"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def positive_ints(a, b, *, what: str) -> tuple[int, int]:
    """``(a, b)`` as ints; ``ValueError`` naming ``what`` unless both are positive integers (bools and floats too)."""
    try:
        a, b = operator.index(a), operator.index(b)
    except TypeError:
        raise ValueError(f"{what} must be positive integers, got {(a, b)!r}") from None
    if a <= 0 or b <= 0:
        raise ValueError(f"{what} must be positive integers, got {(a, b)!r}")
    return a, b


def resized_size(size: tuple[int, int], limits: PixelLimits) -> tuple[int, int]:
    """``(width, height)`` (PIL order) of the smart-resized image for a ``(width, height)`` screenshot."""
    width, height = size
    h_bar, w_bar = smart_resize(
        height, width, factor=limits.factor, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels
    )
    return w_bar, h_bar
