"""Applies a press to a model through forward hooks: no copied or patched attention forward.

Hooks, all removed when the ``with`` block ends:
- model pre-hook: reads the chunk's token ids (screenshot spans) and positions, gives the call a ``CompressedCache``
  when it has none, and advances the ledger's logical length and screenshot count;
- decoder-layer pre-hooks (only when the press wants them): L2 norms of the residual stream over the chunk;
- attention pre-hooks: when layers hold different lengths (PyramidKV, VL-Cache), give each layer its own
  bottom-right causal mask, since transformers builds one mask sized from layer 0;
- attention forward hooks: record the chunk's slots in the ledger, then score and prune the layer's cache
  (every multi-token forward, so a persistent cache is compressed after each new turn);
- model forward hook: a deferring press (VL-Cache) allocates budgets over all layers and prunes them at the end.

Batches are supported when every row shares one token layout (the screenshot spans of row 0), i.e. no padding.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import Cache

from guikv.cache import TEXT, CompressedCache
from guikv.models.registry import spec_of
from guikv.presses.base import LayerView, Press, select
from guikv.rope import attention_modules
from guikv.spans import frame_labels, last_vision_end


@dataclass
class _Chunk:
    """What the model pre-hook learned about the forward in flight."""

    cache: CompressedCache
    tokens: torch.Tensor  # (B, q) index of each token in the uncompressed conversation
    frames: torch.Tensor  # (B, q) screenshot id per token, -1 for text
    positions: torch.Tensor  # (B, q, R) RoPE position ids (R = 3 for M-RoPE, 1 otherwise)
    post_vision_start: int | None
    uniform: bool = True  # every layer held the same length when the chunk began (pruning mid-forward changes that)
    residual_norms: dict[int, torch.Tensor] = field(default_factory=dict)
    deferred: list[tuple[LayerView, int, torch.Tensor | None, float]] = field(default_factory=list)


class Compressor:
    """Context manager returned by ``press(model)``; see the module docstring for what it hooks."""

    def __init__(self, press: Press, model: nn.Module) -> None:
        self.press = press
        self.model = model
        spec = spec_of(model)  # UnknownModelError (an UnsupportedModelError) naming the known families
        self.rope = spec.rope
        self.attentions = attention_modules(model, self.rope)
        self.layers = self.rope.decoder_layers(model)
        self.vision_ids = spec.image_tokens.ids(model.config) if spec.image_tokens is not None else None
        self._handles: list[Any] = []
        self._chunk: _Chunk | None = None
        self.seconds = 0.0  # wall time spent scoring and pruning (its share of prefill is a benchmark figure)

    # -- context management --------------------------------------------------------------------------------------
    def __enter__(self) -> Compressor:
        if self._handles:
            raise RuntimeError(f"{self.press.name} is already applied to this model")
        reg = self._handles.append
        reg(self.model.register_forward_pre_hook(self._before_model, with_kwargs=True))
        reg(self.model.register_forward_hook(self._after_model, with_kwargs=True))
        for idx, (layer, attn) in enumerate(zip(self.layers, self.attentions, strict=True)):
            if self.press.needs_residual:
                reg(layer.register_forward_pre_hook(self._residual_hook(idx), with_kwargs=True))
            reg(attn.register_forward_pre_hook(self._mask_hook(idx), with_kwargs=True))
            reg(attn.register_forward_hook(self._attention_hook(idx), with_kwargs=True))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._chunk = None

    # -- hooks ---------------------------------------------------------------------------------------------------
    def _before_model(self, module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        cache = kwargs.get("past_key_values")
        if cache is None and kwargs.get("use_cache", True) is not False:
            cache = CompressedCache(config=self.model.config)
            kwargs["past_key_values"] = cache
        if cache is None:
            self._chunk = None
            return args, kwargs
        if not isinstance(cache, CompressedCache):
            if isinstance(cache, Cache) and cache.get_seq_length() > 0:
                raise TypeError(
                    f"{self.press.name}: pass past_key_values=guikv.CompressedCache(config=model.config) (or none); "
                    f"a {type(cache).__name__} cannot record which screenshot each kept slot holds"
                )
            cache = CompressedCache(config=self.model.config)
            kwargs["past_key_values"] = cache
        ledger = cache.ledger
        if input_ids is not None and input_ids.shape[1] > 1:  # a decoded token is never a screenshot
            frames, n_images = frame_labels(input_ids[0], self.vision_ids, ledger.num_frames)
            frames = frames.expand(input_ids.shape[0], -1)
            post_vision = last_vision_end(input_ids[0], self.vision_ids)
        else:
            length = (input_ids if input_ids is not None else kwargs["inputs_embeds"]).shape[1]
            frames = torch.full((1, length), TEXT, dtype=torch.long)
            n_images, post_vision = 0, None
        q_len = frames.shape[-1]
        for k in range(n_images):
            ledger.frame_sizes[ledger.num_frames + k] = int((frames[0] == ledger.num_frames + k).sum())
        ledger.num_frames += n_images
        ledger.logical_length += q_len
        start = ledger.logical_length - q_len
        if kwargs.get("position_ids") is None and input_ids is not None and cache.get_seq_length() == 0:
            # A first prefill without explicit positions: the model derives them from the ids (M-RoPE rope index);
            # derive the same ones for the ledger.
            grid = kwargs.get("image_grid_thw")
            position_ids = self.rope.chunk_positions(self.model, input_ids, grid, 0)
        else:
            position_ids = kwargs.get("position_ids")
        self._chunk = _Chunk(
            cache=cache,
            tokens=torch.arange(start, start + q_len).expand(frames.shape[0], q_len),
            frames=frames,
            positions=self._rope_positions(position_ids, frames.shape[0], q_len, start),
            post_vision_start=post_vision,
            uniform=cache.is_uniform(),
        )
        return args, kwargs

    @staticmethod
    def _rope_positions(pos: torch.Tensor | None, batch: int, q_len: int, fallback_start: int) -> torch.Tensor:
        """(B, q, R) position ids of the chunk: M-RoPE's 3 rows (a 4-row form drops its text row), or 1 row."""
        if pos is None:  # the model falls back to cache positions; the best record of them is the token order
            return torch.arange(fallback_start, fallback_start + q_len).expand(batch, q_len).unsqueeze(-1)
        if pos.dim() == 3:  # (3 or 4, B, q)
            return pos[-3:].permute(1, 2, 0)
        return pos.unsqueeze(-1)

    def _after_model(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        chunk, self._chunk = self._chunk, None
        if chunk is None or not chunk.deferred:
            return
        started = time.perf_counter()
        views = [d[0] for d in chunk.deferred]
        capacities = self.press.allocate([d[3] for d in chunk.deferred], views)
        for (view, window, scores, _), capacity in zip(chunk.deferred, capacities, strict=True):
            self._prune(chunk.cache, view.layer_idx, scores, capacity, window)
        self.seconds += time.perf_counter() - started

    def _residual_hook(self, idx: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            if self._chunk is not None and hidden is not None and hidden.shape[1] > 1:
                self._chunk.residual_norms[idx] = hidden.float().norm(dim=-1)

        return hook

    def _mask_hook(self, idx: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict):
            chunk = self._chunk
            if chunk is None or chunk.uniform or "flash" in module.config._attn_implementation:
                return None  # flash attention aligns the causal mask bottom-right by itself
            hidden = kwargs["hidden_states"]
            q_len = hidden.shape[1]
            past = chunk.cache.layers[idx].get_seq_length() if idx < len(chunk.cache.layers) else 0
            mask = kwargs.get("attention_mask")
            if past == 0 or (mask is None and q_len == 1):
                return None
            if mask is not None and mask.shape[-1] == past + q_len:
                return None
            kwargs["attention_mask"] = _bottom_right_causal(
                q_len, past, hidden.shape[0], hidden.device, module.config._attn_implementation, mask, hidden.dtype
            )
            return args, kwargs

        return hook

    def _attention_hook(self, idx: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            chunk = self._chunk
            if chunk is None:
                return None
            cache = chunk.cache
            layer = cache.layers[idx]
            ledger = cache.ledger.layer(idx)
            device = layer.keys.device
            ledger.append(chunk.tokens.to(device), chunk.frames.to(device), chunk.positions.to(device), layer.keys.shape[1])
            hidden = kwargs["hidden_states"]
            if hidden.shape[1] < 2:
                return None
            view = LayerView(
                attn=module,
                rope=self.rope,
                layer_idx=idx,
                num_layers=len(self.attentions),
                hidden_states=hidden,
                position_embeddings=kwargs["position_embeddings"],
                keys=layer.keys,
                values=layer.values,
                frames=ledger.frames,
                chunk_frames=chunk.frames.to(hidden.device),
                logical_length=cache.ledger.live_length,
                capacity=self.press.capacity(cache.ledger.live_length),
                residual_norms=chunk.residual_norms.pop(idx, None),
                post_vision_start=chunk.post_vision_start,
                positions=ledger.positions,
                unrotate=functools.partial(self.rope.unrotate, self.model, module),
            )
            if view.logical_length <= view.capacity:  # the budget covers the whole context: nothing to prune
                return None
            started = time.perf_counter()
            try:
                self._score_and_prune(chunk, view, idx)
            finally:
                self.seconds += time.perf_counter() - started
            return None

        return hook

    def _score_and_prune(self, chunk: _Chunk, view: LayerView, idx: int) -> None:
        """Score the layer and prune it now, or stash it for a press that allocates over all layers."""
        cache = chunk.cache
        window = self.press.window(view)
        if not self.press.defers:
            capacity = self.press.layer_capacity(view, window)
            if view.seq_len <= capacity:  # this layer already fits its share
                return
        scores = self.press.score(view)
        if self.press.defers:
            stat = self.press.layer_statistic(view, window)
            view.release()
            chunk.deferred.append((view, window, scores, stat))
            return
        self._prune(cache, idx, scores, capacity, window)

    @staticmethod
    def _prune(cache: CompressedCache, idx: int, scores: torch.Tensor | None, capacity: int, window: int) -> None:
        if scores is None:
            return
        layer = cache.layers[idx]
        seq_len = layer.keys.shape[2]
        keep = select(scores, capacity, window, seq_len)
        if keep is None:
            return
        gather = keep.unsqueeze(-1).expand(-1, -1, -1, layer.keys.shape[-1])
        cache.replace(idx, layer.keys.gather(2, gather), layer.values.gather(2, gather))
        cache.ledger.layer(idx).gather(keep)


def _bottom_right_causal(
    q_len: int, past: int, batch: int, device, implementation: str, like: torch.Tensor | None, dtype
) -> torch.Tensor:
    """(B, 1, q, past + q) mask where query i sees every cached slot and chunk tokens up to itself."""
    cols = torch.arange(past + q_len, device=device)[None, :]
    rows = torch.arange(q_len, device=device)[:, None]
    allowed = (cols <= past + rows).expand(batch, 1, q_len, past + q_len)
    use_bool = like.dtype == torch.bool if like is not None else implementation != "eager"
    if use_bool:
        return allowed
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)
