"""Acceptance 1 of issue 10, over every registered model family (tiny random model per family, real hooks).

Every press at budget 1.0 changes nothing; budgets hold exactly the defined token counts per layer; the persistent
session fed turn by turn equals one prefill of the whole conversation, with screenshots of unequal sizes; positions
appended after pruning are the one-shot prompt's.
"""

from __future__ import annotations

import math

import pytest
import torch

import guikv
from guikv.models import spec_of
from guikv.session import MemorySession
from tests.guikv.conftest import FAMILIES
from tests.guikv.helpers import as_messages, conversation, images_of

METHODS = list(guikv.PRESSES)
# 0.1 / 0.4 for every family; the first two families' earlier budgets kept too.
BUDGET_CASES = [(f, b) for f in FAMILIES for b in (0.1, 0.4)] + [(f, b) for f in ("qwen2_5_vl", "qwen2") for b in (0.05, 0.2)]


def test_every_family_has_a_tiny_model_of_that_family(tiny_models):
    """The fixture registry covers every spec, and each tiny model is recognised as its own family."""
    for name in FAMILIES:
        model, processor = tiny_models.get(name)
        assert spec_of(model).name == name
        spec = spec_of(model)
        assert processor.image_token == spec.image_tokens.pad
        ids = spec.image_tokens.ids(model.config, processor.tokenizer)
        assert ids.image_pad == processor.tokenizer.convert_tokens_to_ids(spec.image_tokens.pad)
        assert ids.vision_start == processor.tokenizer.convert_tokens_to_ids(spec.image_tokens.start)
        assert ids.vision_end == processor.tokenizer.convert_tokens_to_ids(spec.image_tokens.end)
        assert processor.tokenizer.convert_tokens_to_ids(spec.turn_end) not in (None, processor.tokenizer.unk_token_id)


def _greedy(model, prompt, eos_ids, n: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=n, do_sample=False)[0, prompt["input_ids"].shape[1]:].tolist()
    stop = next((i for i, t in enumerate(out) if t in eos_ids), len(out))
    return out[:stop]


@pytest.mark.parametrize(("family", "attn"), [(f, "sdpa") for f in FAMILIES] + [("qwen2_5_vl", "eager")])
@pytest.mark.parametrize("method", METHODS)
def test_budget_one_changes_nothing(tiny_models, family, attn, method):
    """Budget 1.0 leaves the prefill's logits and the session's greedy reply identical to the uncompressed model."""
    model, processor = tiny_models.get(family, attn)
    prompt = tiny_models.prompt(family)
    with torch.no_grad():
        expected_logits = model(**prompt).logits[0, -1]
        with guikv.press(method, budget=1.0)(model):
            out = model(**prompt, use_cache=True)
    assert out.past_key_values.layer_lengths() == [prompt["input_ids"].shape[1]] * len(out.past_key_values.layers)
    torch.testing.assert_close(out.logits[0, -1], expected_logits, rtol=0, atol=1e-5)

    session = MemorySession(model, processor, method, 1.0)
    for role, content in conversation(3):
        session.add(role, content)
    reply = session.generate(max_new_tokens=8)
    assert list(reply.token_ids) == _greedy(model, prompt, session.eos_ids, 8)


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


@pytest.mark.parametrize(("family", "budget"), BUDGET_CASES)
@pytest.mark.parametrize("method", METHODS)
def test_tokens_per_layer_after_prefill(tiny_models, family, method, budget):
    """Each layer holds exactly what the method defines, in key/value-head shape; generation runs on the result."""
    model, processor = tiny_models.get(family)
    prompt = tiny_models.prompt(family)
    length = prompt["input_ids"].shape[1]
    text = model.config.get_text_config()
    with torch.no_grad(), guikv.press(method, budget=budget)(model):
        cache = model(**prompt, use_cache=True).past_key_values
    lengths = cache.layer_lengths()
    expected = _expected_lengths(method, length, budget, text.num_hidden_layers)
    if expected is not None:
        assert lengths == expected
    else:  # vl_cache: the per-layer budgets add up to M * n_layers (rounded down per layer)
        m = math.floor(length * budget)
        assert m * text.num_hidden_layers - text.num_hidden_layers <= sum(lengths) <= m * text.num_hidden_layers
    for layer in cache.layers:
        assert layer.keys.shape[:2] == (1, text.num_key_value_heads) and layer.values.shape == layer.keys.shape
    session = MemorySession(model, processor, method, budget)
    for role, content in conversation(3):
        session.add(role, content)
    reply = session.generate(max_new_tokens=4)
    assert len(reply.token_ids) <= 4 and reply.prefill_tokens == length


@pytest.mark.parametrize("family", FAMILIES)
def test_turn_by_turn_equals_one_prefill(tiny_models, family):
    """Full method, 4 screenshot turns of different sizes fed turn by turn == one prefill (Qwen3-VL: with DeepStack)."""
    model, processor = tiny_models.get(family)
    turns = conversation(4)
    session = MemorySession(model, processor, "full", None)
    for role, content in turns:
        session.add(role, content)
        logits = session.prefill()
    prompt = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))
    with torch.no_grad():
        expected = model(**prompt).logits[0, -1]
    assert session.cache.get_seq_length() == prompt["input_ids"].shape[1]
    assert (logits - expected).abs().max().item() <= 1e-4

    reply = session.generate(max_new_tokens=10)
    prompt = processor.encode(processor.render(as_messages(turns), add_generation_prompt=True), images_of(turns))
    assert list(reply.token_ids) == _greedy(model, prompt, session.eos_ids, 10)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", ["snap_kv", "gui_kv", "pyramid_kv", "vl_cache"])
def test_positions_after_pruning_match_one_shot(tiny_models, family, method):
    """Tokens appended after pruning get the positions a one-shot prompt would give them; the ledger records them."""
    model, processor = tiny_models.get(family)
    turns = conversation(4)
    session = MemorySession(model, processor, method, 0.3)
    seen: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda m, a, k: seen.append(k["position_ids"].clone()), with_kwargs=True)
    try:
        for role, content in turns:
            session.add(role, content)
            session.prefill()
    finally:
        handle.remove()
    assert session.cache.get_seq_length() < session.cache.ledger.logical_length  # the cache really was pruned
    prompt = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))
    one_shot = session.rope.chunk_positions(model, prompt["input_ids"], prompt.get("image_grid_thw"), 0)
    assert torch.equal(torch.cat(seen, dim=-1), one_shot)
    tail = session.cache.ledger.layers[0].positions[0, 0, -4:].long()
    expected = one_shot[:, 0, -4:].T if one_shot.dim() == 3 else one_shot[0, -4:, None]
    assert torch.equal(tail, expected)
    assert session.cache.ledger.layers[0].tokens[0, 0, -1] == prompt["input_ids"].shape[1] - 1


@pytest.mark.parametrize("family", FAMILIES)
def test_a_stop_token_enters_the_cache_as_the_turn_end(tiny_models, family):
    """Whatever stop token ends a reply, the cache then holds the template's turn end: the next turn is still exact.

    The session's stop set is widened to the model's first greedy token, so the reply is empty and stops at once
    (a random model rarely emits its real stop tokens); the conversation re-rendered with that empty reply is then
    exactly what the cache must hold.
    """
    model, processor = tiny_models.get(family)
    session = MemorySession(model, processor, "full", None)
    turns = conversation(2)
    for role, content in turns:
        session.add(role, content)
    prompt = processor.encode(processor.render(as_messages(turns)), images_of(turns))
    with torch.no_grad():
        first = int(model(**prompt).logits[0, -1].argmax())
    assert first != session.turn_end_id  # else the test could not tell the stop token from the turn end
    session.eos_ids = {first}
    reply = session.generate(max_new_tokens=4)
    assert reply.token_ids == () and reply.stopped_by_eos
    session.add("user", [{"type": "text", "text": "and now?"}])
    logits = session.prefill()
    turns = [*turns, ("assistant", ""), ("user", [{"type": "text", "text": "and now?"}])]
    prompt = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))
    assert session.cache.get_seq_length() == prompt["input_ids"].shape[1]
    with torch.no_grad():
        expected = model(**prompt).logits[0, -1]
    assert (logits - expected).abs().max().item() <= 1e-4
