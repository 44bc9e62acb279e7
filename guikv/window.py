"""Observation-window attention (SnapKV): how much the last ``w`` prompt tokens attend to every cached token."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def window_attention(queries: torch.Tensor, keys: torch.Tensor, scaling: float) -> torch.Tensor:
    """Softmax attention of window queries over all cached keys, causal inside the window.

    queries: (B, H, w, D) post-RoPE; keys: (B, H_kv, S, D) post-RoPE, with the window's own keys in the last w slots.
    Returns (B, H, w, S) float32 probabilities. Grouped query heads are matched to their key head by a reshape, so
    keys are never repeated in memory.
    """
    b, h, w, d = queries.shape
    h_kv, s = keys.shape[1], keys.shape[2]
    group = h // h_kv
    q = queries.reshape(b, h_kv, group * w, d).float()
    logits = torch.matmul(q, keys.float().transpose(-1, -2)).view(b, h, w, s) * scaling
    # Window row i (0-based) sits at slot s - w + i; it may see window slots up to itself.
    rows = torch.arange(w, device=keys.device)[:, None]
    cols = torch.arange(w, device=keys.device)[None, :]
    future = torch.zeros(w, s, dtype=torch.bool, device=keys.device)
    future[:, s - w :] = cols > rows
    logits = logits.masked_fill(future, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=-1)


def pooled_window_scores(probs: torch.Tensor, kernel_size: int, num_kv_heads: int) -> torch.Tensor:
    """SnapKV scores of the pre-window slots per key/value head.

    probs: (B, H, w, S) from ``window_attention``. Sums the window rows (the reference sums; SnapKV's mean ranks the
    same), average-pools over the sequence (kernel ``kernel_size``, stride 1, zero padding counted, as the reference),
    then averages the G query heads of each key/value head: a KV head keeps the tokens its group attends to on average.
    Returns (B, H_kv, S - w).
    """
    b, h, w, s = probs.shape
    scores = probs[..., : s - w].sum(dim=-2)
    if kernel_size > 1:
        scores = F.avg_pool1d(scores, kernel_size, stride=1, padding=kernel_size // 2, count_include_pad=True)
    return scores.view(b, num_kv_heads, h // num_kv_heads, s - w).mean(dim=2)
