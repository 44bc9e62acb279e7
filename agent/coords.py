"""Screenshot pixels <-> the coordinates a Qwen2.5-VL-based GUI model reads and writes.

UI-TARS-1.5 and OpenCUA-7B see every screenshot after ``smart_resize`` (both sides multiples of 28, area inside the
processor's pixel limits) and answer in absolute pixels of that resized image (specs/models.md A.4, B.4); Qwen3-VL
sees multiples of 32 and answers in thousandths of the image (``agent.models.qwen3_vl``). Actions carry integer
pixels of the screenshot the environment returned, so adapters map ``x_screenshot = x / W_resized * W_screenshot``
(and likewise y), round, and clamp into the image. Device scale factors and monitor offsets are the environment's
business: a 2560x1600 screenshot of a 1280x800 CSS viewport is mapped to 2560x1600 pixels here and divided by the DPR
there.

Why not ``qwen_vl_utils.smart_resize``: qwen-vl-utils 0.0.14 has the same rule, but its module imports torchvision
at import time, which is not installed (its wheels pin a torch build). ``ui_tars.action_parser.smart_resize`` is the
same rule too; the tests check ours against it. Ours adds the newer qwen-vl-utils clamp (a side never shrinks below
one factor) and argument checks.

Model points are hostile input: ``to_screenshot`` takes any number a parser read (``nan``, ``inf``, ``1e999``, a
400-digit integer, ``1.7e308`` that overflows once scaled) and either returns a pixel inside the screenshot or raises
``ModelValueError``: a point outside the image (a click at ``(-5, -5)``) is clamped onto the nearest edge pixel; a
coordinate that is not finite or whose magnitude exceeds ``MAX_COORDINATE`` (a million, in the model's units: no
screen is that large, and ``1.7e308`` would overflow once scaled) is a model error.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Literal

from agent.errors import ModelValueError
from environments.actions import Point
from guikv.loading import UI_TARS_MAX_PIXELS, UI_TARS_MIN_PIXELS

IMAGE_FACTOR = 28  # ViT patch 14 x spatial merge 2
MAX_ASPECT_RATIO = 200
MAX_COORDINATE = 1_000_000  # largest |coordinate| a model point may have, in the model's own units

Convention = Literal["absolute", "relative", "thousandths"]
"""How a model writes a point: ``absolute`` pixels of the smart-resized image (UI-TARS-1.5, OpenCUA-7B), ``relative``
fractions in [0, 1] (OpenCUA-Qwen2-7B), ``thousandths`` 0-1000 (UI-TARS 1.0 / Doubao deployments, factor 1000)."""

CONVENTIONS: tuple[str, ...] = ("absolute", "relative", "thousandths")


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


UI_TARS_PIXEL_LIMITS = PixelLimits(min_pixels=UI_TARS_MIN_PIXELS, max_pixels=UI_TARS_MAX_PIXELS)  # 78,400 / 12,845,056
OPENCUA_PIXEL_LIMITS = PixelLimits(min_pixels=4 * 28 * 28, max_pixels=UI_TARS_MAX_PIXELS)  # 3,136 / 12,845,056
# Qwen3-VL checkpoints' preprocessor_config.json: patch 16 x merge 2, size {shortest_edge: 65536, longest_edge: 16777216}.
QWEN3_VL_PIXEL_LIMITS = PixelLimits(min_pixels=65_536, max_pixels=16_777_216, factor=32)


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = IMAGE_FACTOR,
    min_pixels: int = UI_TARS_PIXEL_LIMITS.min_pixels,
    max_pixels: int = UI_TARS_PIXEL_LIMITS.max_pixels,
) -> tuple[int, int]:
    """``(height, width)`` of the image the model sees (Qwen2.5-VL rule, argument order as in qwen-vl-utils).

    Round each side to the nearest multiple of ``factor``; if the area then exceeds ``max_pixels`` scale both sides
    by ``sqrt(h*w / max_pixels)`` and floor, if it falls below ``min_pixels`` scale up and ceil.
    """
    PixelLimits(min_pixels, max_pixels, factor)  # validates the limits
    height, width = _positive_ints(height, width, what="image size (height, width)")
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


def _positive_ints(a, b, *, what: str) -> tuple[int, int]:
    try:
        a, b = operator.index(a), operator.index(b)
    except TypeError:
        raise ValueError(f"{what} must be positive integers, got {(a, b)!r}") from None
    if a <= 0 or b <= 0:
        raise ValueError(f"{what} must be positive integers, got {(a, b)!r}")
    return a, b


def resized_size(size: tuple[int, int], limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> tuple[int, int]:
    """``(width, height)`` (PIL order) of the smart-resized image for a ``(width, height)`` screenshot."""
    width, height = size
    h_bar, w_bar = smart_resize(
        height, width, factor=limits.factor, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels
    )
    return w_bar, h_bar


@dataclass(frozen=True)
class CoordinateMap:
    """Maps points between the model's coordinate space and the pixels of one screenshot.

    ``screenshot_size`` and ``model_size`` are ``(width, height)``; ``model_size`` is the smart-resized size, which
    only the ``absolute`` convention uses.
    """

    screenshot_size: tuple[int, int]
    model_size: tuple[int, int]
    convention: Convention = "absolute"

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"unknown coordinate convention {self.convention!r}; expected one of {CONVENTIONS}")
        for label, (w, h) in (("screenshot_size", self.screenshot_size), ("model_size", self.model_size)):
            if w <= 0 or h <= 0:
                raise ValueError(f"{label} must be a positive (width, height), got {(w, h)}")

    @classmethod
    def for_screenshot(
        cls, screenshot_size: tuple[int, int], limits: PixelLimits = UI_TARS_PIXEL_LIMITS,
        convention: Convention = "absolute",
    ) -> CoordinateMap:
        """The map for a screenshot of ``(width, height)`` resized by a processor with ``limits``."""
        width, height = _positive_ints(*screenshot_size, what="screenshot_size (width, height)")
        return cls((width, height), resized_size((width, height), limits), convention)

    @property
    def model_extent(self) -> tuple[float, float]:
        """Width and height of the model's coordinate space under this convention."""
        if self.convention == "absolute":
            return float(self.model_size[0]), float(self.model_size[1])
        if self.convention == "relative":
            return 1.0, 1.0
        return 1000.0, 1000.0

    def to_screenshot(self, x: float, y: float) -> Point:
        """The screenshot pixel for a model point: scaled, rounded half up, clamped inside the image.

        ``ModelValueError`` when a coordinate is not a finite number or its magnitude exceeds ``MAX_COORDINATE``.
        """
        fx, fy = finite_number(x, "x coordinate"), finite_number(y, "y coordinate")
        if abs(fx) > MAX_COORDINATE or abs(fy) > MAX_COORDINATE:
            raise ModelValueError(
                f"point ({short(x)}, {short(y)}) is not on any screen: coordinates are at most {MAX_COORDINATE:,} in "
                f"magnitude (this image is {self.model_extent[0]:g}x{self.model_extent[1]:g} in the model's units)"
            )
        extent_w, extent_h = self.model_extent
        width, height = self.screenshot_size
        px = math.floor(fx / extent_w * width + 0.5)
        py = math.floor(fy / extent_h * height + 0.5)
        return min(max(px, 0), width - 1), min(max(py, 0), height - 1)

    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """The model-space point for a screenshot pixel (exact inverse of the scaling, before rounding)."""
        extent_w, extent_h = self.model_extent
        width, height = self.screenshot_size
        return x / width * extent_w, y / height * extent_h


def finite_number(value: object, what: str) -> float:
    """``value`` as a finite float; ``ModelValueError`` naming ``what`` for a non-number, ``nan``, ``inf`` or an
    integer too large for a float (``float(10**400)`` raises ``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelValueError(f"{what} must be a number, got {short(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ModelValueError(f"{what} {short(value)} is too large to be a coordinate or a count") from None
    if not math.isfinite(number):
        raise ModelValueError(f"{what} {short(value)} is not finite")
    return number


def short(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters (a 400-digit number in an error message says nothing more)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
