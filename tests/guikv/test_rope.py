"""The RoPE schemes, per registered family: exact inverse, pre-RoPE keys from the cache, window queries = the model's.

``unrotate(rotate(k)) == k`` on random keys; after pruning, un-rotated cached keys equal the attention's own pre-RoPE
keys (``k_norm``'s output where the family normalises keys per head, else ``k_proj``'s); and re-projected window
queries give exactly the attention probabilities the model's eager attention computed.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import guikv
from guikv.cache import CompressedCache
from guikv.models import spec_of
from guikv.testing.registry import tiny_family
from guikv.window import window_attention
from tests.guikv.conftest import FAMILIES


def _ledger_positions(rope, model, prompt, next_pos: int, kv_heads: int) -> torch.Tensor:
    """(1, H_kv, L, R) positions of the prompt's tokens, as the ledger stores them."""
    pos = rope.chunk_positions(model, prompt["input_ids"], prompt.get("image_grid_thw"), next_pos)
    rows = pos.permute(1, 2, 0) if pos.dim() == 3 else pos.unsqueeze(-1)  # (1, L, R)
    return rows[:, None].expand(1, kv_heads, *rows.shape[1:])


@pytest.mark.parametrize("family", FAMILIES)
def test_unrotate_inverts_rotate(tiny_models, family):
    model, _ = tiny_models.get(family)
    prompt = tiny_models.prompt(family)
    rope = spec_of(model).rope
    attn = rope.decoder_layers(model)[1].self_attn
    text = model.config.get_text_config()
    length = prompt["input_ids"].shape[1]
    keys = torch.randn(1, text.num_key_value_heads, length, attn.head_dim, generator=torch.Generator().manual_seed(0))
    positions = _ledger_positions(rope, model, prompt, 37, text.num_key_value_heads)
    cos, sin = rope.language_model(model).rotary_emb(keys, rope.rope_position_ids(positions[:, 0]))
    rotated = rope.rotate(attn, keys, cos, sin)
    assert (rotated - keys).abs().max() > 0.1  # the rotation is not the identity at these positions
    torch.testing.assert_close(rope.unrotate(model, attn, rotated, positions), keys, atol=1e-5, rtol=1e-5)


def _pre_rope_module(attn: nn.Module) -> nn.Module:
    """The module whose output is the key the attention rotates: ``k_norm`` (Qwen3-VL) or ``k_proj``."""
    return attn.k_norm if hasattr(attn, "k_norm") else attn.k_proj


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_keys_unrotate_to_pre_rope_keys_after_pruning(tiny_models, family):
    """The ledger's positions un-rotate the cached keys back to the attention's pre-RoPE keys, slot by slot."""
    model, _ = tiny_models.get(family)
    prompt = tiny_models.prompt(family)
    attn = spec_of(model).rope.decoder_layers(model)[1].self_attn
    projected = []
    handle = _pre_rope_module(attn).register_forward_hook(lambda m, a, out: projected.append(out))
    try:
        with torch.no_grad(), guikv.press("snap_kv", budget=0.3)(model) as compressor:
            cache = model(**prompt, use_cache=True).past_key_values
            keys, ledger = cache.layers[1].keys, cache.ledger.layers[1]
            pre = compressor.rope.unrotate(model, attn, keys, ledger.positions)
    finally:
        handle.remove()
    b, length = prompt["input_ids"].shape
    h_kv, d = keys.shape[1], keys.shape[-1]
    raw = projected[0].reshape(b, length, h_kv, d).transpose(1, 2)  # (B, H_kv, L, D) before RoPE
    expected = raw.gather(2, ledger.tokens.long().unsqueeze(-1).expand(-1, -1, -1, d))
    assert keys.shape[2] < length
    torch.testing.assert_close(pre, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(keys, expected, atol=1e-3)  # the cached keys really are rotated


@pytest.mark.parametrize("family", FAMILIES)
def test_window_queries_reproduce_the_models_attention(tiny_models, family):
    """Window queries rebuilt by the scheme (q_norm, rotation, slicing) give the eager attention's own probabilities."""
    model, _ = tiny_models.get(family, "eager")
    prompt = tiny_models.prompt(family)
    rope = spec_of(model).rope
    attn = rope.decoder_layers(model)[1].self_attn
    seen = {}

    def grab(module, args, kwargs, output):
        seen["weights"] = output[1]
        seen["hidden"] = kwargs["hidden_states"]
        seen["rope"] = kwargs["position_embeddings"]
        seen["keys"] = kwargs["past_key_values"].layers[1].keys

    handle = attn.register_forward_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(**prompt, past_key_values=CompressedCache(config=model.config), use_cache=True)
    finally:
        handle.remove()
    n = 8
    cos, sin = seen["rope"]
    with torch.no_grad():
        queries = rope.window_queries(attn, seen["hidden"], cos, sin, n)
    probs = window_attention(queries, seen["keys"], attn.scaling)
    torch.testing.assert_close(probs, seen["weights"][:, :, -n:].float(), atol=1e-5, rtol=1e-4)


def test_a_decoder_layer_of_another_attention_type_is_refused():
    """A model of a known family whose layer holds some other attention gets a clear error, not a wrong rotation."""
    model = tiny_family("qwen2").model()
    model.model.layers[1].self_attn = nn.Identity()
    message = r"decoder layer 1 attention is Identity, not one of \('Qwen2Attention'"
    with pytest.raises(guikv.UnsupportedModelError, match=message):
        guikv.press("snap_kv")(model)
