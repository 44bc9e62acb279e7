"""The model specs' own facts, checked against the real transformers components they describe."""

from __future__ import annotations

import pytest

from guikv.models import MODEL_SPECS, spec_for_config, spec_named
from guikv.models.registry import UnknownModelError
from guikv.testing import synthetic_screenshot
from guikv.testing.registry import tiny_family
from tests.guikv.conftest import FAMILIES

SIZES = [(1920, 1080), (1280, 800), (390, 844), (3840, 2160), (5000, 5000), (100, 60), (112, 84)]


@pytest.mark.parametrize("family", [f for f in FAMILIES if MODEL_SPECS[f].pixels is not None])
def test_pixel_spec_resizes_as_the_real_image_processor(family):
    """``PixelSpec.resize`` / ``tokens`` at the spec's per-image limits == the family's image processor, whose
    ``size`` holds ``frames_per_image`` times those limits (GLM-4.1V counts an image as 2 frames)."""
    pixels = MODEL_SPECS[family].pixels
    processor = tiny_family(family).processor(min_pixels=pixels.min_pixels, max_pixels=pixels.max_pixels)
    image_processor = processor.image_processor
    assert type(image_processor).__name__ == pixels.image_processor
    assert (image_processor.patch_size, image_processor.merge_size) == (pixels.patch_size, pixels.merge_size)
    limits = pixels.processor_limits()
    assert image_processor.size == {"shortest_edge": limits["min_pixels"], "longest_edge": limits["max_pixels"]}
    for width, height in SIZES:
        grid = image_processor(images=[synthetic_screenshot(width, height)], return_tensors="pt")["image_grid_thw"]
        h, w = pixels.resize(height, width)
        assert grid.tolist() == [[1, h // pixels.patch_size, w // pixels.patch_size]], (width, height)
        assert pixels.tokens(height, width) == int(grid.prod()) // pixels.merge_size**2
        assert pixels.min_pixels <= h * w <= pixels.max_pixels or (h, w) == (pixels.factor, pixels.factor)


def test_published_geometry():
    """Qwen3-VL: patch 16 x merge 2 (a 1920x1080 screenshot is 2040 tokens); Qwen2.5-VL and GLM-4.1V: factor 28."""
    assert MODEL_SPECS["qwen3_vl"].pixels.factor == 32 and MODEL_SPECS["qwen3_vl"].pixels.tokens(1080, 1920) == 34 * 60
    assert (MODEL_SPECS["qwen3_vl"].pixels.min_pixels, MODEL_SPECS["qwen3_vl"].pixels.max_pixels) == (65_536, 16_777_216)
    assert MODEL_SPECS["qwen2_5_vl"].pixels.tokens(1080, 1920) == 2691 == MODEL_SPECS["glm4v"].pixels.tokens(1080, 1920)
    assert MODEL_SPECS["glm4v"].pixels.processor_limits() == {"min_pixels": 12_544, "max_pixels": 47_040_000}


def test_glm_image_token_ids_come_from_its_config_keys():
    """GLM-4.1V names its screenshot boundaries image_start_token_id / image_end_token_id; config ids win."""
    layout = MODEL_SPECS["glm4v"].image_tokens
    config = {"model_type": "glm4v", "image_token_id": 151343, "image_start_token_id": 151339, "image_end_token_id": 151340,
              "vision_start_token_id": 7}
    ids = layout.ids(config)
    assert (ids.image_pad, ids.vision_start, ids.vision_end) == (151343, 151339, 151340)


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ({"model_type": "qwen2_vl"}, "qwen2_vl"),
        ({"model_type": "qwen3_vl"}, "qwen3_vl"),
        ({"model_type": "qwen3_vl_moe"}, "qwen3_vl_moe"),
        ({"model_type": "glm4v"}, "glm4v"),
        ({"model_type": "something", "architectures": ["Qwen3VLMoeForConditionalGeneration"]}, "qwen3_vl_moe"),
    ],
)
def test_configs_find_their_family(config, name):
    assert spec_for_config(config).name == name


def test_unknown_family_name_is_named():
    with pytest.raises(UnknownModelError, match=r"no model family named 'qwen9'; known families: qwen2_5_vl"):
        spec_named("qwen9")


def test_adapters_and_turn_ends():
    """Default adapters as the issue names them; GLM-4.1V has none and ends turns where <|user|> begins."""
    adapters = {name: spec.default_adapter for name, spec in MODEL_SPECS.items()}
    assert adapters["qwen2_vl"] == "ui_tars" and adapters["qwen3_vl"] == adapters["qwen3_vl_moe"] == "qwen3_vl"
    assert adapters["glm4v"] is None
    glm = MODEL_SPECS["glm4v"]
    assert glm.turn_end == "<|user|>" and set(glm.stop_tokens) == {"<|user|>", "<|endoftext|>", "<|observation|>"}
