"""GUI-KV's selection against constructed keys and against a plain loop implementation written from the spec."""

from __future__ import annotations

import pytest
import torch

from guikv.bench.plain_loop import plain_loop_selection
from guikv.cache import TEXT
from guikv.presses.base import LayerView, select
from guikv.presses.gui_kv import GuiKVPress
from guikv.temporal import most_redundant, projection_residuals, subspace_basis
from guikv.window import window_attention


@pytest.mark.parametrize("kind", ["principal", "first_tokens"])
def test_earlier_tokens_in_the_current_span_are_pruned_first(kind):
    """Acceptance 4: earlier-frame keys inside the current frame's key span go before those outside it."""
    torch.manual_seed(0)
    d, rank = 16, 4
    span = torch.linalg.qr(torch.randn(d, d))[0]
    inside_basis, outside_basis = span[:, :rank], span[:, rank:]
    current = (torch.randn(40, rank) @ inside_basis.T)[None, None]  # (1, 1, 40, d) lies in a rank-4 subspace
    inside = torch.randn(10, rank) @ inside_basis.T
    outside = torch.randn(10, d - rank) @ outside_basis.T
    earlier = torch.cat([outside[:5], inside[:5], outside[5:], inside[5:]])[None, None]  # interleaved
    is_inside = torch.tensor([False] * 5 + [True] * 5 + [False] * 5 + [True] * 5)

    basis = subspace_basis(current, rank, kind)
    residuals = projection_residuals(earlier, basis)[0, 0]
    assert residuals[is_inside].max() < 1e-2 * residuals[~is_inside].min()
    pruned = most_redundant(residuals[None, None], torch.ones(1, 1, 20, dtype=torch.bool), 0.5)[0, 0]
    assert torch.equal(pruned, is_inside)


def test_press_zeroes_earlier_frame_tokens_in_the_span():
    """Through ``GuiKVPress._zero_redundant``: scores of in-span earlier tokens become 0, others stay."""
    torch.manual_seed(1)
    d = 16
    basis = torch.linalg.qr(torch.randn(d, d))[0]
    current = torch.randn(12, 3) @ basis[:, :3].T
    earlier = torch.cat([torch.randn(4, 3) @ basis[:, :3].T, torch.randn(4, 10) @ basis[:, 3:13].T])
    text = torch.randn(4, d)
    keys = torch.cat([text, earlier, current, torch.randn(2, d)])[None, None]  # (1, 1, 26, d)
    frames = torch.tensor([TEXT] * 4 + [0] * 8 + [1] * 12 + [TEXT] * 2)[None, None]
    view = LayerView(
        attn=None,
        rope=None,
        layer_idx=0,
        num_layers=1,
        hidden_states=torch.zeros(1, 14, d),
        position_embeddings=(None, None),
        keys=keys,
        values=keys,
        frames=frames,
        chunk_frames=torch.tensor([[1] * 12 + [TEXT] * 2]),
        logical_length=26,
        capacity=15,
    )
    press = GuiKVPress(budget=15, rank=3, redundant_fraction=0.5)
    scores = torch.ones(1, 1, 24)
    out = press._zero_redundant(view, scores, 2, 1, 0, 12)[0, 0]
    assert out[4:8].eq(0).all() and out[8:12].eq(1).all() and out[:4].eq(1).all() and out[12:].eq(1).all()


@pytest.mark.parametrize("kind", ["principal", "first_tokens"])
def test_vectorised_selection_matches_loop(kind):
    """Acceptance 5: same tokens as the loop on random inputs at UI-TARS shapes (28/4 heads, D 128, 4 frames)."""
    torch.manual_seed(2)
    b, h, h_kv, d, w = 1, 28, 4, 128, 8
    frame_len, n_frames, text_len = 48, 4, 20
    s = n_frames * frame_len + text_len
    frames_row = torch.full((s,), TEXT)
    for f in range(n_frames):
        frames_row[4 + f * frame_len : 4 + (f + 1) * frame_len] = f
    frames = frames_row.expand(b, h_kv, s).clone()
    keys = torch.randn(b, h_kv, s, d)
    q = torch.randn(b, h, w, d)
    current = n_frames - 1
    span = (4 + current * frame_len, 4 + n_frames * frame_len)
    norms = torch.rand(b, frame_len) * 10
    capacity = int(0.2 * s)
    chunk_len = s - span[0] + 4  # the chunk = the current frame's turn (4 tokens before it) + trailing text

    press = GuiKVPress(budget=0.2, alpha=2.0, temperature=3.5, rank=32, temporal_basis=kind)
    view = LayerView(
        attn=type("A", (), {"scaling": d**-0.5})(),
        rope=None,
        layer_idx=0,
        num_layers=1,
        hidden_states=torch.zeros(b, chunk_len, 8),
        position_embeddings=(None, None),
        keys=keys,
        values=keys,
        frames=frames,
        chunk_frames=frames_row[s - chunk_len :][None],
        logical_length=s,
        capacity=capacity,
        residual_norms=torch.zeros(b, chunk_len),
    )
    start_in_chunk = span[0] - (s - chunk_len)
    view.residual_norms[:, start_in_chunk : start_in_chunk + frame_len] = norms
    view.provide_window_probs(w, window_attention(q, keys, d**-0.5))
    assert press.window(view) == w
    fast = select(press.score(view), capacity, w, s)

    slow = plain_loop_selection(q, keys, frames, norms, current, span, capacity, s, w, 2.0, 3.5, 32, kind)
    assert torch.equal(fast, slow)
