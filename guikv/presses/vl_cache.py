"""VL-Cache (Tu et al., 2024, arXiv 2410.23317): sparsity-aware per-layer budgets, post-vision-window scoring.

As the GUI-KV reference (spec C.7), with its two bugs fixed: each layer's sparsity is measured on that layer's real
input during the one prefill (the reference fed every layer the embeddings, in an extra pass that needed eager
attention). The window is the post-vision prompt: from the last ``<|vision_end|>`` of the chunk to its end.
Sparsity ``gamma_l`` = share of window attention probabilities <= ``sparsity_threshold`` among causally visible
entries (mean over heads); layer l gets ``int(M * n_layers * beta_l)`` tokens with
``beta_l = clamp((1 - gamma_l) / sum(1 - gamma), 0.001, 1)``. Deviation: a layer whose budget is at most the window
keeps its newest ``budget`` tokens (the reference kept token 0 plus the newest ``budget - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from guikv.presses.base import LayerView, Press


@dataclass(frozen=True)
class VLCachePress(Press):
    name: ClassVar[str] = "vl_cache"
    defers: ClassVar[bool] = True

    sparsity_threshold: float = 0.01

    def window(self, view: LayerView) -> int:
        if view.post_vision_start is not None:
            return max(1, view.q_len - view.post_vision_start)
        return super().window(view)

    def score(self, view: LayerView) -> torch.Tensor:
        return view.snap_scores(self.window(view), self.kernel_size)

    def layer_statistic(self, view: LayerView, window: int) -> float:
        probs = view.window_probs(window)  # (B, H, w, S)
        s = probs.shape[-1]
        rows = torch.arange(window, device=probs.device)[:, None]
        cols = torch.arange(s, device=probs.device)[None, :]
        visible = cols <= (s - window + rows)
        sparse = (probs <= self.sparsity_threshold) & visible
        return (sparse.sum(dim=(-1, -2)).float() / visible.sum()).mean().item()

    def allocate(self, statistics: list[float], views: list[LayerView]) -> list[int]:
        dense = torch.tensor([1.0 - g for g in statistics], dtype=torch.float64)
        share = (dense / dense.sum().clamp_min(1e-12)).clamp(0.001, 1.0)
        total = sum(v.capacity for v in views)
        return [max(1, int(total * float(b))) for b in share]
