"""The resize rule and per-family pixel limits in the model layer, and ``spec_for_model`` (config, folder, hub name)."""

from __future__ import annotations

import json

import pytest

from guikv.models import (
    MODEL_SPECS,
    OPENCUA_PIXEL_LIMITS,
    QWEN3_VL_PIXEL_LIMITS,
    UI_TARS_PIXEL_LIMITS,
    PixelLimits,
    UnknownModelError,
    resized_size,
    smart_resize,
    spec_for_model,
)


def test_family_limits_are_the_specs_numbers():
    assert UI_TARS_PIXEL_LIMITS == PixelLimits(78_400, 12_845_056, 28) == MODEL_SPECS["qwen2_5_vl"].pixels.limits
    assert OPENCUA_PIXEL_LIMITS == PixelLimits(3_136, 12_845_056, 28) == MODEL_SPECS["opencua"].pixels.limits
    assert QWEN3_VL_PIXEL_LIMITS == PixelLimits(65_536, 16_777_216, 32) == MODEL_SPECS["qwen3_vl_moe"].pixels.limits


@pytest.mark.parametrize("name", [name for name, spec in MODEL_SPECS.items() if spec.pixels is not None])
def test_spec_resize_is_smart_resize(name):
    pixels = MODEL_SPECS[name].pixels
    for height, width in ((1080, 1920), (100, 200), (3000, 40), (28, 28)):
        expected = smart_resize(height, width, factor=pixels.factor, min_pixels=pixels.min_pixels, max_pixels=pixels.max_pixels)
        assert pixels.resize(height, width) == expected
        assert resized_size((width, height), pixels.limits) == expected[::-1]


@pytest.mark.parametrize("bad", [(0, 10), (-1, 5), (1.5, 3), ("10", 10), (None, 4)])
def test_smart_resize_rejects_hostile_sizes(bad):
    with pytest.raises(ValueError, match="positive integers"):
        smart_resize(*bad)


@pytest.mark.parametrize(
    "config, family",
    [
        ({"model_type": "qwen2_5_vl"}, "qwen2_5_vl"),
        ({"model_type": "opencua"}, "opencua"),
        ({"architectures": ["Qwen3VLMoeForConditionalGeneration"]}, "qwen3_vl_moe"),
        ({"model_type": "qwen3_vl"}, "qwen3_vl"),
    ],
)
def test_spec_for_model_reads_the_folder(tmp_path, config, family):
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert spec_for_model(tmp_path).name == family
    assert spec_for_model("any/name", config).name == family


def test_spec_for_model_name_hints_and_errors(tmp_path):
    assert spec_for_model("ByteDance-Seed/UI-TARS-1.5-7B").default_adapter == "ui_tars"
    assert spec_for_model("xlangai/OpenCUA-7B").name == "opencua"
    assert spec_for_model("Qwen/Qwen3-VL-8B-Instruct").default_adapter == "qwen3_vl"
    with pytest.raises(UnknownModelError, match=r"no config.json.*known families: qwen2_5_vl"):
        spec_for_model("someone/mystery-model")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    with pytest.raises(UnknownModelError, match=r"'llava'.*known families"):
        spec_for_model(tmp_path)  # the config wins over any name; no silent default
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
        spec_for_model(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"holds a list"):
        spec_for_model(tmp_path)
