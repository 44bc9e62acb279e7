"""Every compression method on the tiny Qwen2.5-VL (M-RoPE) and the tiny 1-D RoPE model, through real hooks."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch

import guikv
from guikv.session import MemorySession
from tests.guikv.helpers import as_messages, conversation, images_of, pad_only

METHODS = list(guikv.PRESSES)
BUDGETS = [0.05, 0.1, 0.2, 0.4]


@pytest.fixture(scope="module")
def vl_prompt(processor):
    turns = conversation(3)
    return processor.encode(processor.render(as_messages(turns)), images_of(turns))


@pytest.fixture(scope="module")
def text_prompt(processor):
    turns = conversation(3)
    return pad_only(processor).encode(processor.render(as_messages(turns)), images_of(turns))


def _model_and_prompt(request, which):
    if which == "vl":
        return request.getfixturevalue("vl_model"), request.getfixturevalue("vl_prompt")
    if which == "vl_eager":
        return request.getfixturevalue("vl_model_eager"), request.getfixturevalue("vl_prompt")
    return request.getfixturevalue("text_model"), request.getfixturevalue("text_prompt")


@pytest.mark.parametrize("which", ["vl", "vl_eager", "text"])
@pytest.mark.parametrize("method", METHODS)
def test_budget_one_changes_nothing(request, processor, which, method):
    """Acceptance 1: budget 1.0 leaves logits and greedy generation identical to the uncompressed model."""
    model, prompt = _model_and_prompt(request, which)
    with torch.no_grad():
        expected_logits = model(**prompt).logits[0, -1]
        expected = model.generate(**prompt, max_new_tokens=8, do_sample=False)[0, prompt["input_ids"].shape[1] :]
        with guikv.press(method, budget=1.0)(model):
            out = model(**prompt, use_cache=True)
    assert out.past_key_values.layer_lengths() == [prompt["input_ids"].shape[1]] * len(out.past_key_values.layers)
    torch.testing.assert_close(out.logits[0, -1], expected_logits, rtol=0, atol=1e-5)

    turns = conversation(3)
    proc = processor if which != "text" else pad_only(processor)
    session = MemorySession(model, proc, method, 1.0)
    for role, content in turns:
        session.add(role, content)
    reply = session.generate(max_new_tokens=8)
    eos = session.eos_ids
    expected_ids = [t for t in expected.tolist()]
    if any(t in eos for t in expected_ids):
        expected_ids = expected_ids[: next(i for i, t in enumerate(expected_ids) if t in eos)]
    assert list(reply.token_ids) == expected_ids


def _expected_lengths(method: str, length: int, budget: float, n_layers: int, window_size: int = 8) -> list[int] | None:
    """Tokens per layer after one prefill, written from the spec (C.2, C.6); ``None`` where data-dependent."""
    m = max(1, math.floor(length * budget))
    if method == "full" or length <= m:
        return [length] * n_layers
    w = max(1, min(window_size, m - 2))
    if method in ("snap_kv", "gui_kv"):
        return [m] * n_layers
    if method == "pyramid_kv":
        if length < 2 * (m - w) or m <= w:
            return [m] * n_layers
        min_num = (m - w) // 20
        max_num = 2 * (m - w) - min_num
        if max_num >= length - w:
            max_num = length - w
            min_num = 2 * (m - w) - max_num
        steps = (max_num - min_num) // (n_layers - 1)
        return [max_num - layer * steps + w for layer in range(n_layers)]
    return None  # vl_cache: depends on each layer's attention sparsity


@pytest.mark.parametrize("which", ["vl", "text"])
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("method", METHODS)
def test_tokens_per_layer_after_prefill(request, processor, which, method, budget):
    """Acceptance 2: each layer holds exactly what the method defines, in key/value-head shape; generation runs."""
    model, prompt = _model_and_prompt(request, which)
    length = prompt["input_ids"].shape[1]
    n_layers = model.config.get_text_config().num_hidden_layers
    kv_heads = model.config.get_text_config().num_key_value_heads
    with torch.no_grad(), guikv.press(method, budget=budget)(model):
        out = model(**prompt, use_cache=True)
    cache = out.past_key_values
    lengths = cache.layer_lengths()
    expected = _expected_lengths(method, length, budget, n_layers)
    if expected is not None:
        assert lengths == expected
    else:  # vl_cache: the per-layer budgets add up to M * n_layers (rounded down per layer)
        m = math.floor(length * budget)
        assert sum(lengths) <= m * n_layers and sum(lengths) >= m * n_layers - n_layers
    for layer in cache.layers:
        assert layer.keys.shape[:2] == (1, kv_heads) and layer.values.shape == layer.keys.shape
    # Generation still runs on the compressed cache (the session's decode loop handles the pruned positions).
    turns = conversation(3)
    session = MemorySession(model, processor if which != "text" else pad_only(processor), method, budget)
    for role, content in turns:
        session.add(role, content)
    reply = session.generate(max_new_tokens=4)
    assert len(reply.token_ids) <= 4 and reply.prefill_tokens == length


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
    with pytest.raises(guikv.UnsupportedModelError, match="GPT2LMHeadModel: model_type 'gpt2' .*known families: qwen2_5_vl"):
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


@pytest.mark.parametrize("which", ["vl", "text"])
def test_unrotate_recovers_pre_rope_keys_after_pruning(request, which):
    """The ledger's positions un-rotate the cached keys back to k_proj's output, slot by slot, after pruning."""
    model, prompt = _model_and_prompt(request, which)
    layers = decoder_layers_of(model)
    projected = []
    handle = layers[1].self_attn.k_proj.register_forward_hook(lambda m, a, out: projected.append(out))
    try:
        with torch.no_grad(), guikv.press("snap_kv", budget=0.3)(model) as compressor:
            cache = model(**prompt, use_cache=True).past_key_values
            keys = cache.layers[1].keys
            ledger = cache.ledger.layers[1]
            pre = compressor.rope.unrotate(model, layers[1].self_attn, keys, ledger.positions)
    finally:
        handle.remove()
    b, length, _ = projected[0].shape
    h_kv, d = keys.shape[1], keys.shape[-1]
    raw = projected[0].view(b, length, h_kv, d).transpose(1, 2)  # (B, H_kv, L, D) before RoPE
    expected = raw.gather(2, ledger.tokens.long().unsqueeze(-1).expand(-1, -1, -1, d))
    assert keys.shape[2] < length
    torch.testing.assert_close(pre, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(keys, expected, atol=1e-3)  # the cached keys really are rotated


def decoder_layers_of(model):
    from guikv.models import spec_of

    return spec_of(model).rope.decoder_layers(model)


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
