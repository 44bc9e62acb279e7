"""``load_model`` through real ``from_pretrained`` on tiny models saved to disk; the hub is unreachable here."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from guikv.loading import ModelLoadError, load_model
from guikv.models import MODEL_SPECS
from guikv.testing import save_tiny_qwen2, synthetic_screenshot
from guikv.testing.registry import tiny_family
from tests.guikv.conftest import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip(tmp_path, tiny_models, family):
    """Acceptance 2: save_pretrained, then the project's load_model: same class, processor and logits, per family."""
    spec = MODEL_SPECS[family]
    folder = tiny_family(family).save(tmp_path / family)
    limits = {}
    if spec.pixels is not None:
        limits = {"min_pixels": spec.pixels.factor**2 * 4, "max_pixels": spec.pixels.factor**2 * 64}
    model, loaded = load_model(folder, **limits)
    assert type(model).__name__ == spec.architectures[0] and model.dtype == torch.float32
    reference_model, reference = tiny_models.get(family)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}]
    assert loaded.render(messages) == reference.render(messages)
    if spec.pixels is None:
        assert loaded.image_processor is None
        encoded = loaded.encode(loaded.render([{"role": "user", "content": "hi"}]))
    else:
        assert loaded.image_token == spec.image_tokens.pad
        assert type(loaded.image_processor).__name__ == spec.pixels.image_processor
        expected_size = spec.pixels.processor_limits(**limits)
        assert loaded.image_processor.size == {"shortest_edge": expected_size["min_pixels"],
                                               "longest_edge": expected_size["max_pixels"]}
        encoded = loaded.encode(loaded.render(messages), [synthetic_screenshot(112, 84)])
        h, w = dataclasses.replace(spec.pixels, **limits).resize(84, 112)
        assert encoded["image_grid_thw"].tolist() == [[1, h // spec.pixels.patch_size, w // spec.pixels.patch_size]]
    with torch.no_grad():
        assert torch.equal(model(**encoded).logits, reference_model(**encoded).logits)  # same seed, same weights


def test_round_trip_in_bfloat16(tmp_path):
    model, loaded = load_model(save_tiny_qwen2(tmp_path / "tiny-lm"), dtype="bfloat16")
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.dtype == torch.bfloat16
    assert loaded.image_processor is None


def test_image_processor_of_the_wrong_geometry_is_refused(tmp_path):
    folder = tiny_family("qwen3_vl").save(tmp_path / "m")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "patch_size": 14}))
    with pytest.raises(ModelLoadError, match=r"patch 14, merge 2; a qwen3_vl model expects Qwen2VLImageProcessor with patch 16"):
        load_model(folder)


def test_vision_model_without_image_processor_is_refused(tmp_path):
    folder = tiny_family("glm4v").save(tmp_path / "m")
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"has no image processor \(preprocessor_config\.json\); a glm4v model needs"):
        load_model(folder)


def test_bad_pixel_limits_are_named(tmp_path):
    folder = tiny_family("qwen2_vl").save(tmp_path / "m")
    with pytest.raises(ValueError, match="0 < min_pixels <= max_pixels, got 5000 and 10"):
        load_model(folder, min_pixels=5000, max_pixels=10)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope") + "/")


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_model(tmp_path)


def test_unsupported_model_type_names_every_known_family(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match=r"model_type 'gpt2' .*not a supported model family; known families: ") as err:
        load_model(tmp_path)
    for spec in MODEL_SPECS.values():
        assert f"{spec.name} (model_type {'/'.join(spec.model_types)})" in str(err.value)


HYBRID = [("qwen3_5", "Qwen3.5"), ("qwen3_5_moe", "Qwen3.5 MoE"), ("qwen3_next", "Qwen3-Next")]


@pytest.mark.parametrize(("model_type", "name"), HYBRID)
def test_hybrid_linear_attention_models_are_refused_with_the_reason(tmp_path, model_type, name):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["X"]}))
    with pytest.raises(ModelLoadError, match=rf"'{model_type}' .*not a supported model family \({name}: hybrid linear "
                       r"attention.*recurrent.*\); known families: qwen2_5_vl"):
        load_model(tmp_path)


def test_unreachable_hub_says_how_to_pass_a_folder(monkeypatch):
    # The hub cannot be reached from here (no network); offline mode makes that immediate instead of a timeout.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"pass the folder: --model \./weights"):
        load_model("ByteDance-Seed/UI-TARS-1.5-7B")


def test_bad_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype 'float8'"):
        load_model(save_tiny_qwen2(tmp_path / "m"), dtype="float8")
