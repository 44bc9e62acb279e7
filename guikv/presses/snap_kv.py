"""SnapKV (Li et al., 2024, arXiv 2404.14469): keep what the last ``w`` prompt tokens attend to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from guikv.presses.base import LayerView, Press


@dataclass(frozen=True)
class SnapKVPress(Press):
    """Window attention summed over the window rows, average-pooled (kernel 5), averaged over each KV head's group."""

    name: ClassVar[str] = "snap_kv"

    def score(self, view: LayerView) -> torch.Tensor:
        return view.snap_scores(self.window(view), self.kernel_size)
