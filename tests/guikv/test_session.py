"""The persistent compressed memory on the tiny Qwen2.5-VL: fed-back replies, bounded over 200 turns, reference mode,
errors (exactness and positions per family: tests/guikv/test_family_matrix.py)."""

from __future__ import annotations

import pytest
import torch

import guikv
from guikv.session import MemorySession, SessionError
from guikv.testing import synthetic_screenshot


def test_generated_turns_are_fed_back(vl_model, processor):
    """Replies (with their EOS) go into the cache, so the logical length counts every fed and generated token."""
    session = MemorySession(vl_model, processor, "full", None)
    for i, (w, h) in enumerate([(112, 84), (84, 112), (140, 84)]):
        session.add("user", [{"type": "image", "image": synthetic_screenshot(w, h, i)}, {"type": "text", "text": f"go {i}"}])
        session.generate(max_new_tokens=6)
    session.add("user", [{"type": "text", "text": "and now?"}])
    logits = session.prefill()
    assert session.cache.get_seq_length() == session.cache.ledger.logical_length
    assert session.state().screenshot_sizes == {0: 12, 1: 12, 2: 15}
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("method", ["snap_kv", "gui_kv", "pyramid_kv", "vl_cache"])
def test_memory_is_bounded_over_200_turns(vl_model, processor, method):
    """Acceptance 3: 200 screenshot turns at a budget of B tokens; no layer exceeds B + the newest turn's tokens."""
    budget = 64
    session = MemorySession(vl_model, processor, method, budget)
    sizes = []
    for turn in range(200):
        w, h = [(112, 84), (84, 112), (112, 112)][turn % 3]
        session.add("user", [{"type": "image", "image": synthetic_screenshot(w, h, turn)}, {"type": "text", "text": "next"}])
        before = session.cache.ledger.logical_length if session.cache else 0
        reply = session.generate(max_new_tokens=2)
        newest = session.cache.ledger.logical_length - before  # this turn's prefill + decoded tokens
        lengths = session.state().tokens_per_layer
        if method in ("snap_kv", "gui_kv"):  # one budget for every layer
            assert max(lengths) <= budget + len(reply.token_ids) + 1
            assert max(lengths) <= budget + newest
        else:  # per-layer budgets (pyramid, sparsity-aware) average to the budget
            assert sum(lengths) / len(lengths) <= budget + newest
        sizes.append(session.state().bytes)
    after = sizes[20:]
    assert max(after) - min(after) <= max(after) * 0.25  # flat once the budget is reached
    assert session.state().logical_tokens > 20 * budget  # while the history kept growing


def test_reference_mode_keeps_last_n_screenshots(vl_model, processor):
    session = MemorySession(vl_model, processor, "gui_kv", 0.5, mode="reference", max_screenshots=2)
    for turn in range(4):
        session.add("user", [{"type": "image", "image": synthetic_screenshot(112, 84, turn)}, {"type": "text", "text": "go"}])
        session.generate(max_new_tokens=2)
    state = session.state()
    assert len(state.screenshot_sizes) == 2  # only the newest two screenshots were prefilled
    assert max(state.tokens_per_layer) <= state.logical_tokens // 2 + 1


def test_bad_use_is_named(vl_model, processor):
    session = MemorySession(vl_model, processor, "gui_kv", 0.1)
    with pytest.raises(SessionError, match="assistant turn needs a user turn"):
        session.add("assistant", "hello")
    with pytest.raises(ValueError, match="zero size"):
        from PIL import Image

        session.add("user", [{"type": "image", "image": Image.new("RGB", (0, 10))}])
    with pytest.raises(ValueError, match="not larger than the window"):
        MemorySession(vl_model, processor, "gui_kv", 6)
    with pytest.raises(ValueError, match="mode must be"):
        MemorySession(vl_model, processor, "gui_kv", 0.1, mode="sometimes")
    session.close()
    with pytest.raises(SessionError, match="closed"):
        session.add("user", "hi")
    with pytest.raises(ValueError, match="unknown compression method"):
        MemorySession(vl_model, processor, "h2o", 0.1)


def test_state_reports_screenshots_and_bytes(vl_model, processor):
    session = MemorySession(vl_model, processor, "gui_kv", 40)
    for turn in range(3):
        session.add("user", [{"type": "image", "image": synthetic_screenshot(112, 84, turn)}])
        session.generate(max_new_tokens=2)
    state = session.state().to_dict()
    config = vl_model.config.get_text_config()
    per_token = 2 * config.num_key_value_heads * (config.hidden_size // config.num_attention_heads) * 4
    assert state["bytes"] == sum(state["tokens_per_layer"]) * per_token
    assert set(state["screenshots"]) == {"0", "1", "2"}
    assert all(0 <= v <= 12 for v in state["screenshots"].values())


def test_press_api_is_importable():
    assert set(guikv.PRESSES) == {"full", "snap_kv", "pyramid_kv", "vl_cache", "gui_kv"}
