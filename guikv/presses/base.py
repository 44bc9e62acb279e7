"""The press contract: a frozen dataclass that scores cached tokens; the shared machinery keeps the best ones.

Modelled on kvpress: a method only implements ``score`` (one score per cached token per key/value head) and, when
its budget varies by layer, ``layer_capacity``. Selection, gathering and cache surgery live in ``select`` and
``guikv.hooks``; nothing here touches a model's forward.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from guikv.budget import Budget
from guikv.cache import TEXT
from guikv.rope import RopeScheme
from guikv.window import pooled_window_scores, window_attention

if TYPE_CHECKING:
    from guikv.hooks import Compressor


@dataclass
class LayerView:
    """One layer during one multi-token forward, after this chunk's keys/values were appended to the cache.

    Shapes: ``keys``/``values`` (B, H_kv, S, D) post-RoPE; ``frames`` (B, H_kv, S) screenshot id per slot (-1 text),
    ``positions`` (B, H_kv, S, R) their RoPE position ids;
    ``hidden_states`` (B, q, d) the attention input (RMS-normed); ``residual_norms`` (B, q) L2 norms of the decoder
    layer's input (the residual stream) when the press asked for them. The chunk occupies the last q slots.
    """

    attn: nn.Module
    rope: RopeScheme | None  # None only for synthetic views whose window attention is provided
    layer_idx: int
    num_layers: int
    hidden_states: torch.Tensor
    position_embeddings: tuple[torch.Tensor, torch.Tensor]
    keys: torch.Tensor
    values: torch.Tensor
    frames: torch.Tensor
    chunk_frames: torch.Tensor
    logical_length: int  # tokens an uncompressed cache would hold now (the ledger's live_length)
    capacity: int
    residual_norms: torch.Tensor | None = None
    post_vision_start: int | None = None  # chunk index of the last <|vision_end|> (VL-Cache's window start)
    positions: torch.Tensor | None = None  # (B, H_kv, S, R) RoPE position ids of every slot
    unrotate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None  # (keys, positions) -> pre-RoPE keys
    _probs: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def seq_len(self) -> int:
        return self.keys.shape[2]

    @property
    def q_len(self) -> int:
        return self.hidden_states.shape[1]

    @property
    def num_kv_heads(self) -> int:
        return self.keys.shape[1]

    @property
    def chunk_start(self) -> int:
        """Slot of the chunk's first token."""
        return self.seq_len - self.q_len

    @property
    def current_frame(self) -> int | None:
        """The newest screenshot in this chunk (GUI-KV's 'current screenshot'), or ``None`` for a text chunk."""
        newest = int(self.chunk_frames.max())
        return None if newest == TEXT else newest

    def window_probs(self, n: int) -> torch.Tensor:
        """(B, H, n, S) attention of the chunk's last ``n`` queries over all cached keys (computed once per n)."""
        if n not in self._probs:
            cos, sin = self.position_embeddings
            q = self.rope.window_queries(self.attn, self.hidden_states, cos, sin, n)
            self._probs[n] = window_attention(q, self.keys, self.attn.scaling)
        return self._probs[n]

    def provide_window_probs(self, n: int, probs: torch.Tensor) -> None:
        """Use ``probs`` (B, H, n, S) as the last-``n`` window attention (benchmarks feed synthetic queries)."""
        self._probs[n] = probs

    def release(self) -> None:
        """Drop the activations and window attention a deferred view no longer needs (shapes stay)."""
        self._probs.clear()
        self.hidden_states = self.hidden_states[:, :0]

    def snap_scores(self, n: int, kernel_size: int) -> torch.Tensor:
        """SnapKV scores (B, H_kv, S - n) of the slots before the last ``n``."""
        return pooled_window_scores(self.window_probs(n), kernel_size, self.num_kv_heads)


@dataclass(frozen=True)
class Press:
    """Base of every compression method. ``budget``: fraction of the context (0.1 = 10 %) or a token count."""

    name: ClassVar[str] = ""
    defers: ClassVar[bool] = False  # True: needs every layer's statistics before selecting (VL-Cache)

    budget: float | int | Budget = 0.1
    window_size: int = 8
    kernel_size: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget.parse(self.budget))
        if not isinstance(self.window_size, int) or self.window_size < 1:
            raise ValueError(f"{self.name}: window_size must be a positive int, got {self.window_size!r}")
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"{self.name}: kernel_size must be a positive odd int, got {self.kernel_size!r}")

    # -- what subclasses implement -------------------------------------------------------------------------------
    @property
    def needs_residual(self) -> bool:
        """Whether the hooks must record the residual stream's norms for ``LayerView.residual_norms``."""
        return False

    def capacity(self, logical_length: int) -> int:
        """Tokens a layer keeps on average (the reference's ``max_capacity_prompt``)."""
        return max(1, self.budget.capacity(logical_length))

    def window(self, view: LayerView) -> int:
        """Most recent tokens always kept: ``min(window_size, M - 2)`` as the reference, at least 1."""
        return max(1, min(self.window_size, view.capacity - 2, view.q_len))

    def score(self, view: LayerView) -> torch.Tensor | None:
        """(B, H_kv, S - w) importance of the slots before the window; higher is kept. ``None``: keep all."""
        raise NotImplementedError

    def layer_capacity(self, view: LayerView, window: int) -> int:
        """Tokens this layer keeps (window included); uniform by default."""
        return view.capacity

    def layer_statistic(self, view: LayerView, window: int) -> float:
        """Per-layer statistic a deferring press needs for its allocation (e.g. VL-Cache's sparsity)."""
        return 0.0

    def allocate(self, statistics: list[float], views: list[LayerView]) -> list[int]:
        """Capacities of every layer for a deferring press."""
        return [v.capacity for v in views]

    # -- application ---------------------------------------------------------------------------------------------
    def __call__(self, model: nn.Module) -> AbstractContextManager[Compressor]:
        """``with press(model): ...`` compresses every multi-token forward of ``model`` inside the block."""
        from guikv.hooks import Compressor

        return Compressor(self, model)


def select(scores: torch.Tensor, capacity: int, window: int, seq_len: int) -> torch.Tensor | None:
    """Indices (B, H_kv, capacity) to keep, ascending: the top ``capacity - w`` scored slots plus the last ``w``.

    ``None`` when the layer already fits. The window always survives, so the newest text stays exact.
    """
    if seq_len <= capacity:
        return None
    window = min(window, capacity)
    b, h, _ = scores.shape
    window_idx = torch.arange(seq_len - window, seq_len, device=scores.device).expand(b, h, window)
    n_scored = capacity - window
    if n_scored <= 0:
        return window_idx.contiguous()
    top = scores[..., : seq_len - window].topk(n_scored, dim=-1).indices
    return torch.cat([top, window_idx], dim=-1).sort(dim=-1).values
