"""Dropping whole messages from a compressed cache (a client's sliding window left them behind).

``drop_tokens(cache, table, protected)``: every layer loses the slots whose token index ``table`` marks. Heads of one
layer may hold different numbers of those slots (each head kept its own tokens when it was pruned), and a layer must
stay rectangular, so each layer's new length is ``S - max over (batch, heads) of the slots it drops``: a head that
holds fewer of the dropped slots also gives up that many more, chosen in this order: the oldest surviving screenshot's
slots first (they are what a window slide is about to drop next anyway), then the oldest text after the protected
prefix (the system prompt and task, kept last). One ``topk`` over a per-slot rank does it, vectorised over batch and
heads. With an uncompressed cache (``full``) every head holds the same slots, so exactly the dropped ones go.
Positions of kept slots stay as they were (RoPE is relative: the gap the dropped turns leave is harmless).
"""

from __future__ import annotations

import torch

from guikv.cache import CompressedCache


def drop_tokens(cache: CompressedCache, table: torch.Tensor, protected: int) -> int:
    """Remove the slots whose token index ``i`` has ``table[i]`` True; returns the slots removed from layer 0 per head.

    ``table`` (logical_length,) bool; ``protected``: token indices below it are the last to go. The ledger counts the
    marked tokens as forgotten (a fraction budget is then a fraction of what is left).
    """
    cache.ledger.forgotten += int(table.sum())
    removed_first = 0
    for idx, layer in enumerate(cache.layers):
        ledger = cache.ledger.layer(idx)
        if ledger.tokens is None or not getattr(layer, "is_initialized", True):
            continue
        tokens = ledger.tokens.long()  # (B, H, S)
        drop = table.to(tokens.device)[tokens]
        n_drop = int(drop.sum(-1).max())
        if idx == 0:
            removed_first = n_drop
        if n_drop == 0:
            continue
        seq_len = tokens.shape[-1]
        big = int(table.numel()) + 1
        is_image = ledger.frames >= 0
        rank = torch.where(is_image, tokens, tokens + big)  # oldest screenshots first, then oldest text
        rank = torch.where(tokens < protected, tokens + 2 * big, rank)
        rank = torch.where(drop, torch.full_like(rank, -1), rank)
        keep = rank.topk(seq_len - n_drop, dim=-1).indices.sort(-1).values  # (B, H, S - n_drop), in slot order
        gather = keep.unsqueeze(-1).expand(-1, -1, -1, layer.keys.shape[-1])
        cache.replace(idx, layer.keys.gather(2, gather), layer.values.gather(2, gather))
        ledger.gather(keep)
    return removed_first


def drop_recent(cache: CompressedCache, n: int) -> None:
    """Remove the ``n`` newest slots of every layer (decoded tokens, appended last and never pruned while decoding)."""
    if n <= 0:
        return
    for idx, layer in enumerate(cache.layers):
        ledger = cache.ledger.layer(idx)
        length = layer.keys.shape[2]
        if length < n:
            raise ValueError(f"layer {idx} holds {length} slots; cannot drop its {n} newest")
        cache.replace(idx, layer.keys[:, :, : length - n], layer.values[:, :, : length - n])
        ledger.tokens, ledger.frames = ledger.tokens[..., : length - n], ledger.frames[..., : length - n]
        ledger.positions = ledger.positions[:, :, : length - n]
