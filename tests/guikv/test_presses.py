"""Compression methods through real hooks on the tiny Qwen2.5-VL: selection, options, errors (the per-family matrix
of budgets and exactness is tests/guikv/test_family_matrix.py)."""

from __future__ import annotations

import re
import warnings

import pytest
import torch

import guikv
from tests.guikv.helpers import as_messages, conversation, images_of

METHODS = list(guikv.PRESSES)
BUDGETS = [0.05, 0.1, 0.2, 0.4]


@pytest.fixture(scope="module")
def vl_prompt(processor):
    turns = conversation(3)
    return processor.encode(processor.render(as_messages(turns)), images_of(turns))


def test_gui_kv_without_saliency_keeps_snap_kv_tokens(vl_model, processor):
    """Acceptance 3: gui_kv with alpha 0 and a single screenshot keeps exactly the tokens snap_kv keeps."""
    turns = conversation(1)
    prompt = processor.encode(processor.render(as_messages(turns)), images_of(turns))
    kept = {}
    for method, options in [("snap_kv", {}), ("gui_kv", {"alpha": 0.0})]:
        with torch.no_grad(), guikv.press(method, budget=0.2, **options)(vl_model):
            cache = vl_model(**prompt, use_cache=True).past_key_values
        kept[method] = [layer.tokens.clone() for layer in cache.ledger.layers]
        kept[method + "_keys"] = [layer.keys.clone() for layer in cache.layers]
    for a, b in zip(kept["snap_kv"], kept["gui_kv"], strict=True):
        assert torch.equal(a, b)
    for a, b in zip(kept["snap_kv_keys"], kept["gui_kv_keys"], strict=True):
        assert torch.equal(a, b)


def test_gui_kv_saliency_changes_selection(vl_model, processor):
    """The spatial term is live: with a large alpha the kept screenshot tokens differ from SnapKV's."""
    turns = conversation(1)
    prompt = processor.encode(processor.render(as_messages(turns)), images_of(turns))
    kept = []
    for method, options in [("snap_kv", {}), ("gui_kv", {"alpha": 50.0, "temperature": 0.1})]:
        with torch.no_grad(), guikv.press(method, budget=0.2, **options)(vl_model):
            cache = vl_model(**prompt, use_cache=True).past_key_values
        kept.append(torch.cat([layer.tokens for layer in cache.ledger.layers]))
    assert not torch.equal(kept[0], kept[1])


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("nope", {}, "unknown compression method 'nope'"),
        ("snap_kv", {"budget": 0.0}, "budget 0.0 is not a fraction in (0, 1]"),
        ("snap_kv", {"budget": 1.5}, "not a fraction in (0, 1]"),
        ("snap_kv", {"budget": -3}, "positive token count"),
        ("gui_kv", {"alpha": -1.0}, "alpha must be >= 0"),
        ("gui_kv", {"temporal_basis": "svd"}, "temporal_basis"),
        ("snap_kv", {"window": 3}, "unknown option(s) ['window']"),
        ("snap_kv", {"kernel_size": 4}, "kernel_size must be a positive odd int"),
    ],
)
def test_bad_configuration_is_named(method, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        guikv.press(method, **options)


def test_unsupported_model_is_named():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(guikv.UnsupportedModelError, match=r"GPT2LMHeadModel: model_type 'gpt2' .*known families: qwen2_5_vl"):
        guikv.press("snap_kv")(model)


def test_gui_kv_without_screenshot_falls_back_to_snap_kv(vl_model, processor):
    prompt = processor.encode(processor.render([{"role": "user", "content": "Only text here, no screenshot at all."}]))
    results = []
    for method in ("snap_kv", "gui_kv"):
        with warnings.catch_warnings(record=True) as caught, torch.no_grad(), guikv.press(method, budget=0.3)(vl_model):
            warnings.simplefilter("always")
            cache = vl_model(**prompt, use_cache=True).past_key_values
        results.append((cache.ledger.layers[0].tokens.clone(), [str(w.message) for w in caught]))
    assert torch.equal(results[0][0], results[1][0])
    assert any("falls back to snap_kv" in m for m in results[1][1])


def test_plain_dynamic_cache_with_history_is_refused(vl_model, vl_prompt):
    from transformers import DynamicCache

    cache = DynamicCache(config=vl_model.config)
    with torch.no_grad():
        vl_model(**vl_prompt, past_key_values=cache, use_cache=True)
        with pytest.raises(TypeError, match="CompressedCache"), guikv.press("snap_kv", budget=0.5)(vl_model):
            vl_model(input_ids=vl_prompt["input_ids"][:, :4], past_key_values=cache, use_cache=True)


def test_hooks_are_removed_after_the_block(vl_model, vl_prompt):
    before = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in vl_model.modules())
    with guikv.press("gui_kv", budget=0.1)(vl_model):
        inside = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in vl_model.modules())
    after = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in vl_model.modules())
    assert inside > before and after == before


def test_pre_rope_temporal_keys_see_a_repeated_screenshot(vl_model, processor):
    """Two identical screenshots at different positions: their layer-0 keys match only once un-rotated."""
    from guikv.temporal import projection_residuals, subspace_basis
    from guikv.testing import synthetic_screenshot

    image = synthetic_screenshot(112, 84, seed=7)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "first"}]},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "again"}]}]
    prompt = processor.encode(processor.render(messages), [image, image])
    with torch.no_grad(), guikv.press("full")(vl_model) as compressor:
        cache = vl_model(**prompt, use_cache=True).past_key_values
    ledger, keys = cache.ledger.layers[0], cache.layers[0].keys
    earlier, current = (ledger.frames[0, 0] == 0), (ledger.frames[0, 0] == 1)
    attn = compressor.rope.decoder_layers(vl_model)[0].self_attn
    pre = compressor.rope.unrotate(vl_model, attn, keys, ledger.positions)
    residual = {}
    for name, k in (("pre", pre), ("post", keys)):
        basis = subspace_basis(k[:, :, current], 8, "first_tokens")
        residual[name] = projection_residuals(k[:, :, earlier][:, :, :8], basis)
    assert residual["pre"].max() < 1e-2 < 0.1 < residual["post"].min()
