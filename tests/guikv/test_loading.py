"""``load_model`` through real ``from_pretrained`` on tiny models saved to disk; the hub is unreachable here."""

from __future__ import annotations

import json

import pytest
import torch

from guikv.loading import ModelLoadError, load_model
from guikv.testing import save_tiny_qwen2, save_tiny_qwen2_5_vl, synthetic_screenshot


def test_round_trip_qwen2_5_vl(tmp_path, vl_model, processor):
    folder = save_tiny_qwen2_5_vl(tmp_path / "tiny-vl")
    model, loaded = load_model(folder, min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration" and model.dtype == torch.float32
    text = loaded.render([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}])
    assert text == processor.render([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}])
    encoded = loaded.encode(text, [synthetic_screenshot(112, 84)])
    assert encoded["image_grid_thw"].tolist() == [[1, 6, 8]]
    with torch.no_grad():
        assert torch.equal(model(**encoded).logits, vl_model(**encoded).logits)  # same seed, same weights


def test_round_trip_qwen2(tmp_path):
    model, loaded = load_model(save_tiny_qwen2(tmp_path / "tiny-lm"), dtype="bfloat16")
    assert type(model).__name__ == "Qwen2ForCausalLM" and model.dtype == torch.bfloat16
    assert loaded.image_processor is None


def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope") + "/")


def test_folder_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        load_model(tmp_path)


def test_unsupported_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match=r"model_type 'gpt2' .*not a supported model family; known families: qwen2_5_vl"):
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
