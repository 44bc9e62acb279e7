"""The vision-text processor reads every screenshot with an explicit channel layout and refuses what it cannot take."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

from guikv.processor import ImageRejected, check_image_input

COLOUR = (10, 200, 30)
SHAPES = [(1, 1), (28, 1), (1, 28), (300, 3), (3, 300), (2, 1), (200, 1), (112, 84)]


def _expected_grid(processor, width: int, height: int) -> list[int]:
    ip = processor.image_processor
    h, w = smart_resize(height, width, factor=ip.patch_size * ip.merge_size, min_pixels=ip.min_pixels, max_pixels=ip.max_pixels)
    return [1, h // ip.patch_size, w // ip.patch_size]


@pytest.mark.parametrize("size", SHAPES, ids=[f"{w}x{h}" for w, h in SHAPES])
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_thin_images_keep_their_shape_and_colours(processor, size, mode):
    """The grid follows width x height (a 300x3 image is 2 patch rows by 40 columns, not 40 by 2), and a uniform
    colour comes out as that colour in every patch of the right channel (channels-first reading would mix them)."""
    width, height = size
    image = Image.new("RGB", size, COLOUR).convert(mode)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)[0, 0]
    text = processor.render([{"role": "user", "content": [{"type": "image", "image": image}]}])
    encoded = processor.encode(text, [image])
    grid = encoded["image_grid_thw"][0].tolist()
    assert grid == _expected_grid(processor, width, height)
    ip = processor.image_processor
    patches = encoded["pixel_values"].view(grid[1] * grid[2], 3, ip.temporal_patch_size, ip.patch_size, ip.patch_size)
    expected = (torch.tensor(rgb / 255.0) - torch.tensor(ip.image_mean)) / torch.tensor(ip.image_std)
    got = patches.mean(dim=(0, 2, 3, 4)).double()
    assert torch.allclose(got, expected, atol=2e-2), (got, expected)
    pads = int((encoded["input_ids"] == processor.tokenizer.convert_tokens_to_ids(processor.image_token)).sum())
    assert pads == grid[1] * grid[2] // ip.merge_size**2


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (Image.new("RGB", (201, 1)), "aspect ratio must be smaller than 200"),
        (Image.new("RGB", (1, 300)), "aspect ratio must be smaller than 200"),
        (Image.new("RGB", (0, 5)), "zero size"),
        (Image.new("La", (8, 8)), "cannot be read as RGB"),
        (np.zeros((8, 8, 3), dtype=np.uint8), "must be a PIL.Image.Image"),
        ("screenshot.png", "must be a PIL.Image.Image"),
    ],
    ids=["201x1", "1x300", "0x5", "mode-La", "numpy", "a-path"],
)
def test_images_the_processor_cannot_take_are_refused_clearly(processor, image, reason):
    with pytest.raises(ImageRejected, match=reason):
        processor.check_image(image)
    with pytest.raises(ImageRejected, match=f"image 0 of 1: .*{reason}"):
        processor.encode("<|vision_start|><|image_pad|><|vision_end|>", [image])


def test_truncated_file_is_refused_before_encoding(processor, tmp_path):
    path = tmp_path / "cut.png"
    Image.new("RGB", (112, 84), COLOUR).save(path)
    path.write_bytes(path.read_bytes()[:60])
    with Image.open(path) as image, pytest.raises(ImageRejected, match="cannot be read as RGB"):  # header parses, pixels not
        processor.check_image(image)


def test_more_pixels_than_pil_allows_is_refused(processor, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageRejected, match="more than PIL's bound of 1000 pixels"):
        check_image_input(Image.new("RGB", (40, 30)))
    check_image_input(Image.new("RGB", (40, 25)))


def test_a_processor_without_an_image_processor_checks_only_the_image_itself(processor):
    from dataclasses import replace

    text_only = replace(processor, image_processor=None)
    text_only.check_image(Image.new("RGB", (300, 1)))  # no resize rule to break
    with pytest.raises(ImageRejected, match="zero size"):
        text_only.check_image(Image.new("RGB", (3, 0)))
