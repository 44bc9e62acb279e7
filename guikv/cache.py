"""A ``DynamicCache`` that remembers, per layer and key/value head, which token each slot holds.

After compression a slot's index says nothing about the token in it (heads keep different tokens, and positions
have gaps), so temporal redundancy and the session's report read this ledger: the screenshot (frame) a slot came
from and its logical position. Keys stay in GQA-compact form ``(B, H_kv, S, D)``, post-RoPE, never repeated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

TEXT = -1  # frame id of a slot that holds a text token


@dataclass
class LayerLedger:
    """Per-slot metadata of one layer (int32, a few % of the KV bytes).

    ``tokens`` (B, H_kv, S): the token's index in the uncompressed conversation (unique, so it identifies the token);
    ``frames`` (B, H_kv, S): its screenshot id (-1 text); ``positions`` (B, H_kv, S, R): its RoPE position ids
    (R = 3 M-RoPE rows, or 1), what un-rotating its key needs.
    """

    tokens: torch.Tensor | None = None
    frames: torch.Tensor | None = None
    positions: torch.Tensor | None = None

    def append(self, tokens: torch.Tensor, frames: torch.Tensor, positions: torch.Tensor, num_kv_heads: int) -> None:
        """Append a chunk's ``(B, q)`` token indices and frame ids and ``(B, q, R)`` positions (same for every head)."""
        b, q = frames.shape
        new = (
            tokens[:, None, :].expand(b, num_kv_heads, q),
            frames[:, None, :].expand(b, num_kv_heads, q),
            positions[:, None].expand(b, num_kv_heads, q, positions.shape[-1]),
        )
        new = tuple(t.to(torch.int32) for t in new)
        if self.frames is None:
            self.tokens, self.frames, self.positions = (t.contiguous() for t in new)
        else:
            self.tokens = torch.cat([self.tokens, new[0].to(self.tokens.device)], dim=2)
            self.frames = torch.cat([self.frames, new[1].to(self.frames.device)], dim=2)
            self.positions = torch.cat([self.positions, new[2].to(self.positions.device)], dim=2)

    def gather(self, indices: torch.Tensor) -> None:
        """Keep the slots ``indices`` ``(B, H_kv, n)`` (the same selection applied to keys and values)."""
        self.tokens = self.tokens.gather(-1, indices)
        self.frames = self.frames.gather(-1, indices)
        rows = self.positions.shape[-1]
        self.positions = self.positions.gather(2, indices.unsqueeze(-1).expand(*indices.shape, rows))


@dataclass
class Ledger:
    layers: list[LayerLedger] = field(default_factory=list)
    logical_length: int = 0  # tokens ever appended; a token's index in this count is its id
    forgotten: int = 0  # of those, the tokens of messages dropped by ``forget`` (drop_tokens)
    num_frames: int = 0  # screenshots ever appended; the next one gets this id
    frame_sizes: dict[int, int] = field(default_factory=dict)  # tokens each screenshot had before compression

    @property
    def live_length(self) -> int:
        """Tokens an uncompressed cache would hold now: every token appended, less the forgotten messages'. What a
        fraction budget is a fraction of (a slid window's budget follows the window, as a re-prefill's would)."""
        return self.logical_length - self.forgotten

    def layer(self, idx: int) -> LayerLedger:
        while len(self.layers) <= idx:
            self.layers.append(LayerLedger())
        return self.layers[idx]


@dataclass(frozen=True)
class CacheSnapshot:
    """What ``CompressedCache.restore`` needs to undo a failed forward: references, never copies of tensors.

    Every write to the cache replaces tensors (``DynamicLayer.update`` concatenates, ``replace`` and
    ``LayerLedger.gather`` gather into new tensors); none is changed in place, so the tensors referenced here keep
    the content they had when the snapshot was taken. While a snapshot is alive those tensors cannot be freed: a call
    holding one peaks at the old cache's bytes on top of the new ones, instead of freeing them on the first append.
    """

    layers: tuple[Any, ...]  # the cache's layer objects, in order
    layer_states: tuple[dict[str, Any], ...]  # each layer's attributes (keys/values references, flags, counters)
    ledger_layers: tuple[LayerLedger, ...]
    ledger_tensors: tuple[tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None], ...]
    logical_length: int
    forgotten: int
    num_frames: int
    frame_sizes: tuple[tuple[int, int], ...]


class CompressedCache(DynamicCache):
    """``DynamicCache`` plus a ``Ledger``; the compression hooks keep both in step."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = Ledger()

    def layer_lengths(self) -> list[int]:
        return [layer.get_seq_length() for layer in self.layers]

    def is_uniform(self) -> bool:
        return len(set(self.layer_lengths())) <= 1

    def nbytes(self) -> int:
        """Bytes held by keys and values (all layers)."""
        total = 0
        for layer in self.layers:
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total

    def surviving_frame_tokens(self, layer_idx: int | None = None) -> dict[int, float]:
        """Screenshot id -> tokens still cached, averaged over heads (and over layers when ``layer_idx`` is None)."""
        ledgers = [self.ledger.layers[layer_idx]] if layer_idx is not None else self.ledger.layers
        counts: dict[int, float] = {}
        ledgers = [lg for lg in ledgers if lg.frames is not None]
        if not ledgers:
            return counts
        for frame in range(self.ledger.num_frames):
            per_layer = [(lg.frames == frame).sum(-1).float().mean().item() for lg in ledgers]
            counts[frame] = sum(per_layer) / len(per_layer)
        return counts

    def snapshot(self) -> CacheSnapshot:
        """The cache and ledger as they are now, to ``restore`` after a forward that failed part-way."""
        ledger = self.ledger
        return CacheSnapshot(
            layers=tuple(self.layers),
            layer_states=tuple(dict(vars(layer)) for layer in self.layers),
            ledger_layers=tuple(ledger.layers),
            ledger_tensors=tuple((lg.tokens, lg.frames, lg.positions) for lg in ledger.layers),
            logical_length=ledger.logical_length,
            forgotten=ledger.forgotten,
            num_frames=ledger.num_frames,
            frame_sizes=tuple(ledger.frame_sizes.items()),
        )

    def restore(self, snapshot: CacheSnapshot) -> None:
        """Put every layer's keys/values and the whole ledger back as they were at ``snapshot``.

        Layers added since (a cache built lazily) are dropped; O(layers) reference assignments, no tensor work.
        """
        self.layers[:] = snapshot.layers
        for layer, state in zip(snapshot.layers, snapshot.layer_states, strict=True):
            vars(layer).clear()
            vars(layer).update(state)
        ledger = self.ledger
        ledger.layers[:] = snapshot.ledger_layers
        for layer_ledger, (tokens, frames, positions) in zip(snapshot.ledger_layers, snapshot.ledger_tensors, strict=True):
            layer_ledger.tokens, layer_ledger.frames, layer_ledger.positions = tokens, frames, positions
        ledger.logical_length = snapshot.logical_length
        ledger.forgotten = snapshot.forgotten
        ledger.num_frames = snapshot.num_frames
        ledger.frame_sizes.clear()
        ledger.frame_sizes.update(snapshot.frame_sizes)

    def replace(self, layer_idx: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Swap a layer's content for a compressed one (what kvpress does; ``update`` would concatenate)."""
        layer = self.layers[layer_idx]
        layer.keys = keys.contiguous()
        layer.values = values.contiguous()
