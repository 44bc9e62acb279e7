"""OpenCUA through ``guikv.load_model`` from a real-layout folder: the forward equals a reference built from stock parts.

The reference is transformers' own ``Qwen2_5_VisionTransformerPretrainedModel`` and ``Qwen2ForCausalLM``, filled
from the same safetensors with ``load_state_dict`` (not the project's loader), with the features written into the
placeholder rows by indexing; the outputs must be bitwise equal.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import Qwen2Config, Qwen2ForCausalLM
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

import guikv
from guikv.loading import ModelLoadError
from guikv.models import spec_named, spec_of
from guikv.testing import synthetic_screenshot
from guikv.testing.opencua import save_tiny_opencua, tiny_opencua

MESSAGES = [
    {"role": "system", "content": "You are a GUI agent."},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Open the settings"}]},
    {"role": "assistant", "content": "pyautogui.click(x=10, y=20)"},
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "And now?"}]},
]
IMAGES = [synthetic_screenshot(112, 84, seed=1), synthetic_screenshot(84, 140, seed=2)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_opencua(tmp_path_factory.mktemp("opencua"))


@pytest.fixture(scope="module")
def loaded(folder):
    return guikv.load_model(folder)


@pytest.fixture(scope="module")
def prompt(loaded):
    _, processor = loaded
    return processor.encode(processor.render(MESSAGES), IMAGES)


def _reference_logits(folder, prompt) -> torch.Tensor:
    config = json.loads((folder / "config.json").read_text())
    weights = load_file(str(folder / "model.safetensors"))
    vision = Qwen2_5_VisionTransformerPretrainedModel._from_config(
        Qwen2_5_VLVisionConfig(**config["vision_config"]), attn_implementation="sdpa"
    ).eval()
    lm = Qwen2ForCausalLM._from_config(Qwen2Config(**config["text_config"]), attn_implementation="sdpa").eval()
    for module, prefix in ((vision, "vision_tower."), (lm, "language_model.")):
        module.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}, strict=True)
    ids = prompt["input_ids"]
    with torch.no_grad():
        features = vision(prompt["pixel_values"], grid_thw=prompt["image_grid_thw"]).pooler_output
        embeds = lm.get_input_embeddings()(ids).clone()
        embeds[ids == config["media_placeholder_token_id"]] = features
        return lm(inputs_embeds=embeds).logits


def test_load_model_gives_the_project_model_without_remote_code(loaded, folder):
    model, processor = loaded
    assert type(model).__name__ == "OpenCUAForConditionalGeneration" and type(model).__module__.startswith("guikv.")
    assert spec_of(model).name == "opencua"
    assert model.dtype == torch.float32 and not model.training
    assert processor.image_token == "<|media_placeholder|>"
    tok = processor.tokenizer
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|media_placeholder|>")
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|media_begin|>")
    assert model.config.vision_end_token_id == tok.convert_tokens_to_ids("<|media_end|>")
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("[EOS]")
    assert spec_named("opencua").image_tokens.ids(model.config).image_pad == model.config.media_placeholder_token_id
    # the image processor is the checkpoint's: pixel limits from preprocessor_config.json
    assert (processor.image_processor.min_pixels, processor.image_processor.max_pixels) == (3136, 12845056)


def test_placeholders_are_expanded_before_the_model(prompt, loaded):
    _, processor = loaded
    ids = prompt["input_ids"][0]
    pad = processor.tokenizer.convert_tokens_to_ids("<|media_placeholder|>")
    assert prompt["image_grid_thw"].tolist() == [[1, 6, 8], [1, 10, 6]]
    assert int((ids == pad).sum()) == (6 * 8 + 10 * 6) // 4


def test_forward_equals_the_reference_computation(loaded, folder, prompt):
    model, _ = loaded
    with torch.no_grad():
        logits = model(**prompt).logits
    assert torch.equal(logits, _reference_logits(folder, prompt))


@pytest.mark.parametrize(("shards", "layout"), [(3, "opencua"), (1, "qwen2_5_vl"), (2, "qwen2_5_vl")])
def test_sharded_and_alternative_layouts_load_the_same_weights(tmp_path, loaded, prompt, shards, layout):
    """An index over shards, and transformers 5's Qwen2.5-VL names (which vLLM also accepts), give the same model."""
    folder = save_tiny_opencua(tmp_path / "m", shards=shards, layout=layout)
    if shards > 1:
        assert (folder / "model.safetensors.index.json").is_file() and not (folder / "model.safetensors").exists()
    model, _ = guikv.load_model(folder)
    with torch.no_grad():
        assert torch.equal(model(**prompt).logits, loaded[0](**prompt).logits)


def test_the_in_memory_builder_equals_the_loaded_folder(loaded, prompt):
    """``tiny_opencua()`` (the test matrix's builder) is what ``load_model`` gives for the written folder."""
    model, processor = tiny_opencua()
    assert processor.render(MESSAGES) == loaded[1].render(MESSAGES)
    assert model.config.to_dict() == loaded[0].config.to_dict()
    with torch.no_grad():
        assert torch.equal(model(**prompt).logits, loaded[0](**prompt).logits)


def test_dtype_and_attention_like_from_pretrained(folder):
    model, _ = guikv.load_model(folder, dtype="bfloat16", attn_implementation="eager")
    assert model.dtype == torch.bfloat16 and model.vision_tower.dtype == torch.bfloat16
    assert model.language_model.config._attn_implementation == "eager"
    assert model.vision_tower.config._attn_implementation == "eager"


def test_generate_matches_a_greedy_loop(loaded, prompt):
    """``generate()`` works (images go in once) and equals feeding the argmax back by hand without a cache."""
    model, _ = loaded
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=5, do_sample=False, eos_token_id=None)[0, prompt["input_ids"].shape[1] :]
        ids = prompt["input_ids"]
        manual = []
        for _ in range(5):
            token = model(input_ids=ids, pixel_values=prompt["pixel_values"], image_grid_thw=prompt["image_grid_thw"],
                          use_cache=False).logits[0, -1].argmax()
            manual.append(int(token))
            ids = torch.cat([ids, token.view(1, 1)], dim=1)
    assert out.tolist() == manual


# -- hostile inputs to the forward -------------------------------------------------------------------------------------
def test_forward_rejects_mismatched_images(loaded, prompt):
    model, _ = loaded
    ids, pixels, grid = prompt["input_ids"], prompt["pixel_values"], prompt["image_grid_thw"]
    with pytest.raises(ValueError, match=r"hold 27 image placeholder\(s\).*give 12 features"):
        model(input_ids=ids, pixel_values=pixels[:48], image_grid_thw=grid[:1])
    with pytest.raises(ValueError, match="no pixel_values"):
        model(input_ids=ids)
    with pytest.raises(ValueError, match="need image_grid_thw"):
        model(input_ids=ids, pixel_values=pixels)
    with pytest.raises(ValueError, match=r"pixel_values has shape \(47, 1176\)"):
        model(input_ids=ids, pixel_values=pixels[:47], image_grid_thw=grid)
    with pytest.raises(ValueError, match="multiples of the merge size"):
        model(input_ids=ids, pixel_values=pixels, image_grid_thw=torch.tensor([[1, 5, 8], [1, 10, 6]]))
    with pytest.raises(ValueError, match="position_ids must be"):
        model(input_ids=ids, pixel_values=pixels, image_grid_thw=grid, position_ids=torch.zeros(3, 1, ids.shape[1]).long())
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        model()


# -- hostile checkpoint folders ----------------------------------------------------------------------------------------
def _copy(folder, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def _rewrite_weights(folder, change):
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    change(tensors)
    save_file(tensors, str(path))


def test_missing_tensor_is_named(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _rewrite_weights(copy, lambda t: t.pop("language_model.model.layers.1.mlp.up_proj.weight"))
    missing = r"lacks 1 OpenCUA tensor\(s\): language_model\.model\.layers\.1\.mlp\.up_proj\.weight"
    with pytest.raises(ModelLoadError, match=missing):
        guikv.load_model(copy)


def test_unexpected_tensor_is_named(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _rewrite_weights(copy, lambda t: t.update({"mm_projector.linear_1.weight": torch.zeros(2, 2)}))
    with pytest.raises(ModelLoadError, match=r"unexpected tensor 'mm_projector\.linear_1\.weight'"):
        guikv.load_model(copy)


def test_wrong_shape_is_named(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _rewrite_weights(copy, lambda t: t.update({"vision_tower.merger.mlp.2.bias": torch.zeros(3)}))
    with pytest.raises(ModelLoadError, match=r"'vision_tower\.merger\.mlp\.2\.bias' has shape \(3,\)"):
        guikv.load_model(copy)


def test_two_layouts_at_once_are_refused(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    _rewrite_weights(copy, lambda t: t.update({"lm_head.weight": t["language_model.lm_head.weight"].clone()}))
    with pytest.raises(ModelLoadError, match=r"both map to parameter 'language_model\.lm_head\.weight'"):
        guikv.load_model(copy)


@pytest.mark.parametrize(
    ("shard", "message"),
    [("../outside.safetensors", "expected a .safetensors file in the folder"), ("absent.safetensors", "is missing")],
)
def test_hostile_index(tmp_path, shard, message):
    folder = save_tiny_opencua(tmp_path / "m", shards=2)
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    first = next(iter(data["weight_map"]))
    data["weight_map"][first] = shard
    index.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match=message):
        guikv.load_model(folder)


def test_index_naming_a_tensor_its_shard_lacks(tmp_path):
    folder = save_tiny_opencua(tmp_path / "m", shards=2)
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    files = sorted(set(data["weight_map"].values()))
    name = next(k for k, v in data["weight_map"].items() if v == files[0])
    data["weight_map"][name] = files[1]
    index.write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="which does not hold it"):
        guikv.load_model(folder)


def test_truncated_weights_file(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    path = copy / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        guikv.load_model(copy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(vision_config="x"), "vision_config must be an object"),
        (lambda c: c["vision_config"].update(out_hidden_size=7), "out_hidden_size 7 must equal"),
        (lambda c: c.update(media_placeholder_token_id=10**9), "outside the text model's vocabulary"),
        (lambda c: c.update(media_placeholder_token_id="x"), "must be a non-negative token id"),
    ],
)
def test_hostile_config_json(folder, tmp_path, change, message):
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    change(config)
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=message):
        guikv.load_model(copy)


def test_other_image_processor_is_refused(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "preprocessor_config.json").read_text())
    config["image_processor_type"] = "SiglipImageProcessor"
    (copy / "preprocessor_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="SiglipImageProcessor"):
        guikv.load_model(copy)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vision_tower.blocks.0.attn.qkv.weight", "vision_tower.blocks.0.attn.qkv.weight"),
        ("language_model.lm_head.weight", "language_model.lm_head.weight"),
        ("model.visual.merger.mlp.0.bias", "vision_tower.merger.mlp.0.bias"),
        ("model.language_model.norm.weight", "language_model.model.norm.weight"),
        ("visual.patch_embed.proj.weight", "vision_tower.patch_embed.proj.weight"),
        ("model.layers.0.self_attn.q_proj.bias", "language_model.model.layers.0.self_attn.q_proj.bias"),
        ("lm_head.weight", "language_model.lm_head.weight"),
        ("mm_projector.proj.0.weight", None),
    ],
)
def test_checkpoint_names_vllm_accepts(name, expected):
    from guikv.models.opencua.weights import module_name

    assert module_name(name) == expected


def test_tied_embeddings_need_no_lm_head(folder, tmp_path):
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["tie_word_embeddings"] = True
    (copy / "config.json").write_text(json.dumps(config))
    _rewrite_weights(copy, lambda t: t.pop("language_model.lm_head.weight"))
    model, _ = guikv.load_model(copy)
    assert model.language_model.lm_head.weight is model.language_model.model.embed_tokens.weight


def test_a_leftover_mrope_section_means_1d_rope(folder, tmp_path, loaded, prompt):
    copy = _copy(folder, tmp_path)
    config = json.loads((copy / "config.json").read_text())
    config["text_config"]["rope_scaling"] = {"type": "mrope", "mrope_section": [2, 3, 3]}
    (copy / "config.json").write_text(json.dumps(config))
    model, _ = guikv.load_model(copy)
    assert model.config.text_config.rope_parameters["rope_type"] == "default"
    with torch.no_grad():
        assert torch.equal(model(**prompt).logits, loaded[0](**prompt).logits)


def test_unknown_model_type_lists_opencua(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "kimi_vl"}))
    with pytest.raises(ModelLoadError, match=r"known families: .*opencua \(model_type opencua\)"):
        guikv.load_model(tmp_path)


def test_unreachable_hub_says_how_to_pass_a_folder(monkeypatch):
    """The hub cannot be reached here (mocked only by offline mode, which makes the failure immediate)."""
    import huggingface_hub.constants

    from guikv.models.opencua.loading import load

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"pass the folder: --model \./weights"):
        load("xlangai/OpenCUA-7B")
