"""Screenshot pixels <-> the coordinates a Qwen2.5-VL-based GUI model reads and writes.

UI-TARS-1.5 and OpenCUA-7B see every screenshot after ``smart_resize`` (both sides multiples of 28, area inside the
processor's pixel limits) and answer in absolute pixels of that resized image (specs/models.md A.4, B.4); Qwen3-VL
sees multiples of 32 and answers in thousandths of the image (``agent.models.qwen3_vl``). Actions carry integer
pixels of the screenshot the environment returned, so adapters map ``x_screenshot = x / W_resized * W_screenshot``
(and likewise y), round, and clamp into the image. Device scale factors and monitor offsets are the environment's
business: a 2560x1600 screenshot of a 1280x800 CSS viewport is mapped to 2560x1600 pixels here and divided by the DPR
there.

The resize rule (``smart_resize``, ``resized_size``, ``PixelLimits``) and the per-family limits live in the model
layer (``guikv.models.pixels``, the registry's ``PixelSpec``); they are re-exported here for the adapters.

Model points are hostile input: ``to_screenshot`` takes any number a parser read (``nan``, ``inf``, ``1e999``, a
400-digit integer, ``1.7e308`` that overflows once scaled) and either returns a pixel inside the screenshot or raises
``ModelValueError``: a point outside the image (a click at ``(-5, -5)``) is clamped onto the nearest edge pixel; a
coordinate that is not finite or whose magnitude exceeds ``MAX_COORDINATE`` (a million, in the model's units: no
screen is that large, and ``1.7e308`` would overflow once scaled) is a model error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from agent.errors import ModelValueError
from environments.actions import Point
from guikv.models.pixels import IMAGE_FACTOR as IMAGE_FACTOR
from guikv.models.pixels import MAX_ASPECT_RATIO as MAX_ASPECT_RATIO
from guikv.models.pixels import PixelLimits as PixelLimits
from guikv.models.pixels import positive_ints as _positive_ints
from guikv.models.pixels import resized_size as _resized_size
from guikv.models.pixels import smart_resize as smart_resize
from guikv.models.registry import OPENCUA_PIXEL_LIMITS as OPENCUA_PIXEL_LIMITS
from guikv.models.registry import QWEN3_VL_PIXEL_LIMITS as QWEN3_VL_PIXEL_LIMITS
from guikv.models.registry import UI_TARS_PIXEL_LIMITS as UI_TARS_PIXEL_LIMITS

MAX_COORDINATE = 1_000_000  # largest |coordinate| a model point may have, in the model's own units

Convention = Literal["absolute", "relative", "thousandths"]
"""How a model writes a point: ``absolute`` pixels of the smart-resized image (UI-TARS-1.5, OpenCUA-7B), ``relative``
fractions in [0, 1] (OpenCUA-Qwen2-7B), ``thousandths`` 0-1000 (UI-TARS 1.0 / Doubao deployments, factor 1000)."""

CONVENTIONS: tuple[str, ...] = ("absolute", "relative", "thousandths")


def resized_size(size: tuple[int, int], limits: PixelLimits = UI_TARS_PIXEL_LIMITS) -> tuple[int, int]:
    """``(width, height)`` of the smart-resized screenshot (``guikv.models.pixels.resized_size``; UI-TARS by default)."""
    return _resized_size(size, limits)


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
