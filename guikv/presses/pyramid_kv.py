"""PyramidKV (Cai et al., 2024, arXiv 2406.02069): lower layers keep more tokens, upper layers fewer.

Budgets follow the GUI-KV reference (spec C.6): with ``M`` the uniform capacity, ``w`` the window, ``L`` the cached
length and ``beta`` = 20, layer l keeps ``max_num - l * steps`` scored tokens plus the window, where
``min_num = (M - w) // beta`` and ``max_num = 2 (M - w) - min_num`` (capped at ``L - w``), so the layers' average
stays ``M`` (``L`` is the logical context length, the same for every layer). When ``L < 2 (M - w)`` the pyramid
cannot fit and every layer keeps ``M`` (plain SnapKV), as the reference.
Per-layer cache lengths then differ; ``guikv.hooks`` gives each layer its own causal mask for later chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from guikv.presses.base import LayerView
from guikv.presses.snap_kv import SnapKVPress


@dataclass(frozen=True)
class PyramidKVPress(SnapKVPress):
    name: ClassVar[str] = "pyramid_kv"

    beta: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.beta, int) or self.beta < 1:
            raise ValueError(f"pyramid_kv: beta must be a positive int, got {self.beta!r}")

    def layer_capacity(self, view: LayerView, window: int) -> int:
        # The logical length, not this layer's own cache length: every layer must take the same branch, or across
        # turns the layers' lengths drift apart and the average exceeds the budget.
        m, w, length, n = view.capacity, window, view.logical_length, view.num_layers
        if length < 2 * (m - w) or n < 2 or m <= w:
            return m
        min_num = (m - w) // self.beta
        max_num = 2 * (m - w) - min_num
        if max_num >= length - w:
            max_num = length - w
            min_num = 2 * (m - w) - max_num
        steps = (max_num - min_num) // (n - 1)
        return max_num - view.layer_idx * steps + w
