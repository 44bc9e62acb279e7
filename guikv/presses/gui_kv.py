"""GUI-KV (arXiv 2510.00536): SnapKV scores + spatial saliency of the current screenshot + temporal redundancy.

Per layer, with one uniform budget: (1) SnapKV window attention, summed, pooled, averaged over each KV head's
query group; (2) ``alpha * softmax(z / temperature)`` added to the current screenshot's tokens, where z standardises
the L2 norms of their hidden states; (3) among earlier screenshots' tokens, the ``floor((1 - b) N_prev)`` whose keys
the current screenshot's key subspace explains best get score 0, so they are pruned first.

Paper vs reference code (spec C.4), each a switch here:
- ``saliency_source``: "residual" (default, the paper: residual stream, the decoder layer's input) or
  "attention_input" (the reference: the RMS-normed attention input, whose norm is nearly constant).
- ``temporal_basis``: "principal" (default: top-r singular subspace of the current screenshot's keys) or
  "first_tokens" (the reference: QR whose first 32 columns span the screenshot's first 32 tokens).
- ``redundant_fraction``: ``None`` (default, the reference's and paper's rule: ``1 - b`` with b = capacity / length)
  or a fixed share of earlier-screenshot tokens to zero.
- ``temporal_keys``: "post_rope" (default, what the cache holds and the reference uses: identical content at another
  position looks different) or "pre_rope" (keys un-rotated from their recorded positions: content alone).
GQA: scores are averaged over each KV head's query heads, so the cache stays in key/value-head form; the reference
selects per query head on a 7x repeated cache.
A chunk without a screenshot falls back to SnapKV with a warning (the reference has no such case).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from guikv.cache import TEXT
from guikv.presses.base import LayerView
from guikv.presses.snap_kv import SnapKVPress
from guikv.saliency import spatial_saliency
from guikv.temporal import BasisKind, most_redundant, projection_residuals, subspace_basis


@dataclass(frozen=True)
class GuiKVPress(SnapKVPress):
    name: ClassVar[str] = "gui_kv"

    alpha: float = 2.0
    temperature: float = 3.5
    rank: int = 32
    temporal: bool = True
    saliency_source: Literal["residual", "attention_input"] = "residual"
    temporal_basis: BasisKind = "principal"
    redundant_fraction: float | None = None
    temporal_keys: Literal["post_rope", "pre_rope"] = "post_rope"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha < 0:
            raise ValueError(f"gui_kv: alpha must be >= 0, got {self.alpha!r}")
        if self.temperature <= 0:
            raise ValueError(f"gui_kv: temperature must be > 0, got {self.temperature!r}")
        if self.rank < 1:
            raise ValueError(f"gui_kv: rank must be >= 1, got {self.rank!r}")
        if self.saliency_source not in ("residual", "attention_input"):
            raise ValueError(f"gui_kv: saliency_source must be 'residual' or 'attention_input', got {self.saliency_source!r}")
        if self.temporal_basis not in ("principal", "first_tokens"):
            raise ValueError(f"gui_kv: temporal_basis must be 'principal' or 'first_tokens', got {self.temporal_basis!r}")
        if self.temporal_keys not in ("post_rope", "pre_rope"):
            raise ValueError(f"gui_kv: temporal_keys must be 'post_rope' or 'pre_rope', got {self.temporal_keys!r}")
        if self.redundant_fraction is not None and not 0.0 <= self.redundant_fraction <= 1.0:
            raise ValueError(f"gui_kv: redundant_fraction must be in [0, 1], got {self.redundant_fraction!r}")

    @property
    def needs_residual(self) -> bool:
        return self.alpha > 0 and self.saliency_source == "residual"

    def score(self, view: LayerView) -> torch.Tensor:
        window = self.window(view)
        scores = view.snap_scores(window, self.kernel_size)
        current = view.current_frame
        if current is None:
            if int(view.frames.max()) == TEXT:
                warnings.warn("gui_kv: the prompt has no screenshot; scoring falls back to snap_kv", stacklevel=2)
            return scores
        hits = torch.nonzero(view.chunk_frames[0] == current).flatten()
        start, end = int(hits[0]), int(hits[-1]) + 1  # the current screenshot's span inside the chunk
        if self.alpha > 0:
            scores = self._add_saliency(view, scores, start, end)
        if self.temporal:
            scores = self._zero_redundant(view, scores, window, current, start, end)
        return scores

    def _add_saliency(self, view: LayerView, scores: torch.Tensor, start: int, end: int) -> torch.Tensor:
        if self.saliency_source == "residual":
            norms = view.residual_norms[:, start:end]
        else:
            norms = view.hidden_states[:, start:end].float().norm(dim=-1)
        weights = self.alpha * spatial_saliency(norms, self.temperature)  # (B, N), same for every head
        first = view.chunk_start + start
        n = min(end - start, scores.shape[-1] - first)  # tokens inside the window are kept anyway
        if n <= 0:
            return scores
        scores = scores.clone()
        scores[..., first : first + n] += weights[:, None, :n].to(scores.dtype)
        return scores

    def _zero_redundant(self, view, scores, window, current, start, end) -> torch.Tensor:
        frames = view.frames[..., : view.seq_len - window]
        earlier = (frames != TEXT) & (frames != current)
        if not bool(earlier.any()):
            return scores
        first = view.chunk_start
        keys = view.keys
        if self.temporal_keys == "pre_rope":  # compare content, not content rotated by each token's position
            keys = view.unrotate(keys, view.positions)
        basis = subspace_basis(keys[:, :, first + start : first + end], self.rank, self.temporal_basis)
        residuals = projection_residuals(keys[:, :, : view.seq_len - window], basis)
        fraction = self.redundant_fraction
        if fraction is None:
            fraction = 1.0 - min(1.0, view.capacity / max(1, view.logical_length))
        return scores.masked_fill(most_redundant(residuals, earlier, fraction), 0.0)
