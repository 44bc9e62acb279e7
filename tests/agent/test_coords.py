"""Smart resize and the model <-> screenshot coordinate map (specs/models.md A.4, benchmarks.md 6.1)."""

from __future__ import annotations

import random

import pytest
from ui_tars.action_parser import smart_resize as official_smart_resize

from agent.coords import (
    MAX_COORDINATE,
    OPENCUA_PIXEL_LIMITS,
    UI_TARS_PIXEL_LIMITS,
    CoordinateMap,
    PixelLimits,
    finite_number,
    resized_size,
    short,
    smart_resize,
)
from agent.errors import ModelValueError


def test_pixel_limit_constants():
    assert PixelLimits(78_400, 12_845_056, 28) == UI_TARS_PIXEL_LIMITS
    assert PixelLimits(3_136, 12_845_056, 28) == OPENCUA_PIXEL_LIMITS


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1920, 1080, (1932, 1092)),  # models.md A.4: 69x39 = 2,691 LLM tokens
        (1080, 2400, (1092, 2408)),  # benchmarks.md 6.1 (phone)
        (2560, 1600, (2548, 1596)),  # benchmarks.md 6.1 (DPR-2 laptop)
        (1280, 1000, (1288, 1008)),  # benchmarks.md 6.1 (Mind2Web block)
        (1932, 1092, (1932, 1092)),  # already a fixed point
        (100, 100, (280, 280)),  # below min_pixels: scaled up, ceil
        (8000, 6000, (4116, 3080)),  # above max_pixels: scaled down, floor
    ],
)
def test_smart_resize_known_sizes(width, height, expected):
    assert resized_size((width, height), UI_TARS_PIXEL_LIMITS) == expected
    h_bar, w_bar = smart_resize(height, width)
    assert (w_bar, h_bar) == expected
    assert w_bar % 28 == 0 and h_bar % 28 == 0
    assert UI_TARS_PIXEL_LIMITS.min_pixels <= w_bar * h_bar <= UI_TARS_PIXEL_LIMITS.max_pixels


def test_1920x1080_gives_2691_llm_tokens():
    w_bar, h_bar = resized_size((1920, 1080))
    assert (w_bar // 28) * (h_bar // 28) == 2691


_rng = random.Random(0)
_CANDIDATES = [(_rng.randint(20, 9000), _rng.randint(20, 9000)) for _ in range(400)]
_SIZES = [(w, h) for w, h in _CANDIDATES if max(w, h) <= 200 * min(w, h)]


@pytest.mark.parametrize("limits", [UI_TARS_PIXEL_LIMITS, OPENCUA_PIXEL_LIMITS], ids=["ui_tars", "opencua"])
def test_smart_resize_matches_ui_tars_package(limits):
    assert len(_SIZES) > 300
    for width, height in _SIZES:
        ours = smart_resize(height, width, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels)
        theirs = official_smart_resize(height, width, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels)
        assert ours == theirs, (width, height)


def test_opencua_limits_keep_small_images_small():
    # min 3,136 (OpenCUA) vs 78,400 (UI-TARS): a 200x100 image is only upscaled under UI-TARS's limits.
    assert resized_size((200, 100), OPENCUA_PIXEL_LIMITS) == (196, 112)
    assert resized_size((200, 100), UI_TARS_PIXEL_LIMITS) == (420, 224)


def test_extreme_aspect_ratio_is_rejected():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2100)


def test_thin_image_never_collapses_to_zero():
    h_bar, w_bar = smart_resize(30, 5000, min_pixels=28 * 28, max_pixels=28 * 28 * 4)
    assert h_bar >= 28 and w_bar >= 28


@pytest.mark.parametrize("size", [(0, 100), (100, -1), (10.5, 20), ("a", 3)])
def test_bad_sizes_raise_with_the_input(size):
    with pytest.raises(ValueError, match="positive integers"):
        resized_size(size)


@pytest.mark.parametrize(("low", "high"), [(0, 100), (200, 100)])
def test_bad_limits_raise(low, high):
    with pytest.raises(ValueError, match="min_pixels"):
        PixelLimits(low, high)


def test_1920x1080_map_scales_model_pixels_to_screenshot_pixels():
    cmap = CoordinateMap.for_screenshot((1920, 1080))
    assert cmap.model_size == (1932, 1092)
    assert cmap.to_screenshot(966, 546) == (960, 540)
    assert cmap.to_screenshot(0, 0) == (0, 0)
    assert cmap.to_screenshot(1932, 1092) == (1919, 1079)  # the far edge clamps to the last pixel
    assert cmap.to_model(960, 540) == (966.0, 546.0)


@pytest.mark.parametrize("point", [(-5, 10), (10, -3), (5000, 10), (10, 5000), (-1, 99999)])
def test_points_outside_the_image_are_clamped(point):
    x, y = CoordinateMap.for_screenshot((1920, 1080)).to_screenshot(*point)
    assert 0 <= x <= 1919 and 0 <= y <= 1079


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 800), (2560, 1600), (1080, 2400), (1366, 768), (800, 600)])
def test_round_trip_screenshot_model_screenshot(size):
    cmap = CoordinateMap.for_screenshot(size)
    rng = random.Random(size[0])
    for _ in range(200):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        mx, my = cmap.to_model(x, y)
        assert cmap.to_screenshot(mx, my) == (x, y)
        # The model writes integers: one rounding in model space still lands within 1 px.
        back = cmap.to_screenshot(round(mx), round(my))
        assert abs(back[0] - x) <= 1 and abs(back[1] - y) <= 1


def test_round_trip_on_downscaled_screenshot_is_within_scale():
    # 5120x2880 exceeds max_pixels: one model pixel covers ~1.07 screenshot pixels.
    cmap = CoordinateMap.for_screenshot((5120, 2880))
    scale = 5120 / cmap.model_size[0]
    assert scale > 1
    for x, y in [(0, 0), (1234, 567), (5119, 2879), (2560, 1440)]:
        mx, my = cmap.to_model(x, y)
        back = cmap.to_screenshot(round(mx), round(my))
        assert abs(back[0] - x) <= scale / 2 + 0.5 and abs(back[1] - y) <= scale / 2 + 0.5


def test_device_scale_factor_2_maps_to_screenshot_pixels_not_css():
    # A 1280x800 CSS viewport at DPR 2 gives a 2560x1600 screenshot; the env (not us) divides by the DPR.
    cmap = CoordinateMap.for_screenshot((2560, 1600))
    assert cmap.model_size == (2548, 1596)
    assert cmap.to_screenshot(1274, 798) == (1280, 800)
    assert cmap.to_screenshot(2548, 1596) == (2559, 1599)


@pytest.mark.parametrize(
    ("convention", "point", "expected"),
    [
        ("relative", (0.5, 0.25), (960, 270)),
        ("relative", (1.0, 1.0), (1919, 1079)),
        ("thousandths", (500, 250), (960, 270)),
        ("thousandths", (1000, 0), (1919, 0)),
        ("absolute", (966, 273), (960, 270)),
    ],
)
def test_conventions(convention, point, expected):
    cmap = CoordinateMap.for_screenshot((1920, 1080), convention=convention)
    assert cmap.to_screenshot(*point) == expected
    assert cmap.to_screenshot(*cmap.to_model(*expected)) == expected


def test_unknown_convention_and_bad_points_raise():
    with pytest.raises(ValueError, match="convention"):
        CoordinateMap.for_screenshot((100, 100), convention="percent")
    with pytest.raises(ValueError, match="not finite"):
        CoordinateMap.for_screenshot((100, 100)).to_screenshot(float("nan"), 1)


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ((float("nan"), 1), "not finite"),
        ((1, float("-inf")), "not finite"),
        ((10**400, 1), "too large"),
        ((1.7e308, 1), "not on any screen"),
        ((1, -(MAX_COORDINATE + 1)), "not on any screen"),
        (("12", 1), "must be a number"),
        ((True, 1), "must be a number"),
    ],
)
def test_hostile_points_are_model_errors(point, message):
    for convention in ("absolute", "relative", "thousandths"):
        cmap = CoordinateMap.for_screenshot((1920, 1080), convention=convention)
        with pytest.raises(ModelValueError, match=message):
            cmap.to_screenshot(*point)


def test_the_largest_allowed_coordinates_still_clamp():
    cmap = CoordinateMap.for_screenshot((1920, 1080), convention="relative")
    assert cmap.to_screenshot(MAX_COORDINATE, -MAX_COORDINATE) == (1919, 0)
    assert finite_number(3, "x") == 3.0 and short(10**400).startswith("<an integer of about 4")
