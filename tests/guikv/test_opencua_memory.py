"""The compression hooks and the persistent memory on the tiny OpenCUA (real vision tower, 1-D RoPE, expanded ids)."""

from __future__ import annotations

import warnings

import pytest
import torch

import guikv
from guikv.session import MemorySession
from guikv.testing.opencua import tiny_opencua
from tests.guikv.helpers import as_messages, conversation, images_of

METHODS = list(guikv.PRESSES)


@pytest.fixture(scope="module")
def opencua():
    return tiny_opencua()


@pytest.fixture(scope="module")
def prompt(opencua):
    _, processor = opencua
    turns = conversation(3)
    return processor.encode(processor.render(as_messages(turns)), images_of(turns))


def _greedy(model, encoded, n, eos_ids) -> list[int]:
    with torch.no_grad():
        out = model.generate(**encoded, max_new_tokens=n, do_sample=False)[0, encoded["input_ids"].shape[1] :].tolist()
    return out[: next((i for i, t in enumerate(out) if t in eos_ids), len(out))]


# Budget 1.0 exactness and per-layer token counts: the family matrix (test_family_matrix.py) covers opencua.


@pytest.mark.parametrize("mode", ["persistent", "reference"])
def test_turn_by_turn_equals_one_prefill(opencua, mode):
    """Screenshots of four sizes fed turn by turn (persistent) or re-prefilled (reference) == one prefill of it all."""
    model, processor = opencua
    turns = conversation(4)
    session = MemorySession(model, processor, "full", None, mode=mode, max_screenshots=10)
    for role, content in turns:
        session.add(role, content)
        if mode == "persistent":
            logits = session.prefill()
    whole = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))
    if mode == "persistent":
        with torch.no_grad():
            expected = model(**whole).logits[0, -1]
        assert session.cache.get_seq_length() == whole["input_ids"].shape[1]
        assert (logits - expected).abs().max().item() <= 1e-4
    reply = session.generate(max_new_tokens=10)
    prompt = processor.encode(processor.render(as_messages(turns)), images_of(turns))
    assert list(reply.token_ids) == _greedy(model, prompt, 10, session.eos_ids)
    sizes = [grid.prod().item() // 4 for grid in prompt["image_grid_thw"]]
    assert len(set(sizes)) > 1 and session.state().screenshot_sizes == dict(enumerate(sizes))


@pytest.mark.parametrize("method", ["snap_kv", "gui_kv", "pyramid_kv", "vl_cache"])
def test_compressed_memory_over_turns(opencua, method):
    """Pruned every turn, the cache stays at its budget and later chunks continue the 1-D positions of one prompt."""
    model, processor = opencua
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
    assert session.cache.get_seq_length() < session.cache.ledger.logical_length
    whole = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))
    assert torch.equal(torch.cat(seen, dim=-1), torch.arange(whole["input_ids"].shape[1]).unsqueeze(0))
    reply = session.generate(max_new_tokens=4)
    assert len(reply.token_ids) <= 4


def test_gui_kv_scores_the_screenshot_spans(opencua):
    """GUI-KV finds every screenshot (placeholder runs between <|media_content|> and <|media_end|>): no SnapKV fallback."""
    model, processor = opencua
    turns = conversation(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = MemorySession(model, processor, "gui_kv", 0.2)
        for role, content in turns:
            session.add(role, content)
        session.generate(max_new_tokens=3)
    assert not [w for w in caught if "falls back" in str(w.message)]
    state = session.state()
    assert sorted(state.screenshot_sizes) == [0, 1, 2] and all(n > 0 for n in state.screenshot_sizes.values())
    assert set(state.screenshots) == {0, 1, 2}
    # The spans change what is kept: the same prompt under snap_kv (no screenshot terms) keeps other tokens.
    prompt = processor.encode(processor.render(as_messages(turns)), images_of(turns))
    kept = {}
    for method in ("gui_kv", "snap_kv"):
        with torch.no_grad(), guikv.press(method, budget=0.2)(model):
            cache = model(**prompt, use_cache=True).past_key_values
        kept[method] = [cache.ledger.layer(i).tokens.sort(-1).values for i in range(len(cache.layers))]
    assert any(not torch.equal(a, b) for a, b in zip(kept["gui_kv"], kept["snap_kv"], strict=True))
