"""``bench selection``: GUI-KV token selection per layer, vectorised vs a reference-style loop, vs prefill attention.

Inputs are random tensors at a model family's published layer shape (default UI-TARS-1.5-7B: 28 query heads, 4
key/value heads, head dim 128; 5 screenshots of 2,691 tokens, window 8); ``shapes_for_family`` takes the heads from the
family's registered wide shape and the tokens of a 1920x1080 screenshot from its pixel spec. The loop version follows
the reference's structure: Python loops over batch rows and query heads, each computing its window attention,
pooling, saliency, QR and residuals on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from guikv.bench.plain_loop import plain_loop_selection
from guikv.cache import TEXT
from guikv.presses.base import LayerView, select
from guikv.presses.gui_kv import GuiKVPress
from guikv.saliency import spatial_saliency
from guikv.window import window_attention


@dataclass(frozen=True)
class SelectionShapes:
    heads: int = 28
    kv_heads: int = 4
    head_dim: int = 128
    screenshots: int = 5
    tokens_per_screenshot: int = 2691
    text_tokens: int = 120
    window: int = 8
    budget: float = 0.1

    @property
    def seq_len(self) -> int:
        return self.screenshots * self.tokens_per_screenshot + self.text_tokens


def shapes_for_family(family: str, *, screenshots: int = 5, tokens_per_screenshot: int | None = None,
                      budget: float = 0.1) -> SelectionShapes:
    """One layer of ``family``'s published checkpoint; ``tokens_per_screenshot`` defaults to a 1920x1080 screenshot's
    (2,691 for a family without its own image processor: OpenCUA's language model sees Qwen2.5-VL's geometry)."""
    from guikv.models import spec_named
    from guikv.testing.registry import tiny_family

    spec, wide = spec_named(family), tiny_family(family).wide_shapes
    if tokens_per_screenshot is None:
        tokens_per_screenshot = spec.pixels.tokens(1080, 1920) if spec.pixels is not None else 2691
    return SelectionShapes(heads=wide.num_heads, kv_heads=wide.num_kv_heads, head_dim=wide.dims_per_head(),
                           screenshots=screenshots, tokens_per_screenshot=tokens_per_screenshot, budget=budget)


@dataclass(frozen=True)
class SelectionResult:
    device: str
    seq_len: int
    vectorised_ms: float
    loop_ms: float
    attention_ms: float
    speedup: float
    share_of_attention: float
    same_selection: bool
    plain_loop_ms: float | None = None  # the tests' plain loop (one dot product at a time), timed once
    plain_speedup: float | None = None


def build_inputs(shapes: SelectionShapes, device: str, dtype: torch.dtype, seed: int = 0) -> dict:
    gen = torch.Generator(device="cpu").manual_seed(seed)
    s, d = shapes.seq_len, shapes.head_dim
    frames = torch.full((s,), TEXT, dtype=torch.long)
    starts = []
    cursor = 20
    for f in range(shapes.screenshots):
        frames[cursor : cursor + shapes.tokens_per_screenshot] = f
        starts.append(cursor)
        cursor += shapes.tokens_per_screenshot + 4
    current = shapes.screenshots - 1
    span = (starts[-1], starts[-1] + shapes.tokens_per_screenshot)
    chunk_start = span[0] - 4
    return {
        "keys": torch.randn(1, shapes.kv_heads, s, d, generator=gen).to(device, dtype),
        "values": torch.randn(1, shapes.kv_heads, s, d, generator=gen).to(device, dtype),
        "queries": torch.randn(1, shapes.heads, shapes.window, d, generator=gen).to(device, dtype),
        "all_queries": None,
        "frames": frames.to(device),
        "current": current,
        "span": span,
        "chunk_start": chunk_start,
        "norms": (torch.rand(1, shapes.tokens_per_screenshot, generator=gen) * 10).to(device),
    }


def vectorised_selection(inputs: dict, shapes: SelectionShapes, press: GuiKVPress) -> torch.Tensor:
    keys, s = inputs["keys"], shapes.seq_len
    chunk_start = inputs["chunk_start"]
    chunk_len = s - chunk_start
    capacity = press.capacity(s)
    residual = torch.zeros(1, chunk_len, device=keys.device)
    off = inputs["span"][0] - chunk_start
    residual[:, off : off + shapes.tokens_per_screenshot] = inputs["norms"]
    view = LayerView(
        attn=type("Attn", (), {"scaling": shapes.head_dim**-0.5})(), rope=None, layer_idx=0, num_layers=1,
        hidden_states=torch.empty(1, chunk_len, 0, device=keys.device), position_embeddings=(None, None),
        keys=keys, values=inputs["values"], frames=inputs["frames"].expand(1, shapes.kv_heads, s),
        chunk_frames=inputs["frames"][chunk_start:][None], logical_length=s, capacity=capacity,
        residual_norms=residual,
    )
    window = press.window(view)
    view.provide_window_probs(window, window_attention(inputs["queries"], keys, shapes.head_dim**-0.5))
    return select(press.score(view), capacity, window, s)


def loop_selection(inputs: dict, shapes: SelectionShapes, press: GuiKVPress) -> torch.Tensor:
    """The reference's structure: per batch row and per query head, everything on its own; then per KV head, the
    group's scores are averaged (our GQA reduction) so the result is comparable."""
    keys, queries, frames = inputs["keys"], inputs["queries"], inputs["frames"]
    s, w, d = shapes.seq_len, shapes.window, shapes.head_dim
    group = shapes.heads // shapes.kv_heads
    capacity = press.capacity(s)
    a, b = inputs["span"]
    kept = []
    for row in range(keys.shape[0]):
        per_head = []
        for head in range(shapes.heads):
            k = keys[row, head // group].float()
            logits = queries[row, head].float() @ k.T / math.sqrt(d)
            mask = torch.ones(w, w, dtype=torch.bool, device=k.device).triu(1)
            logits[:, s - w :] = logits[:, s - w :].masked_fill(mask, torch.finfo(logits.dtype).min)
            probs = torch.softmax(logits, dim=-1)
            score = probs[:, : s - w].sum(0)
            score = F.avg_pool1d(score[None, None], press.kernel_size, 1, press.kernel_size // 2)[0, 0]
            score[a:b] += press.alpha * spatial_saliency(inputs["norms"][row][None], press.temperature)[0]
            basis, _ = torch.linalg.qr(k[a : a + press.rank].T)
            earlier_scores, earlier_idx = [], []
            for frame in range(inputs["current"]):
                idx = torch.nonzero(frames == frame).flatten()
                fk = k[idx]
                earlier_scores.append((fk - (fk @ basis) @ basis.T).norm(dim=-1))
                earlier_idx.append(idx)
            res, idx = torch.cat(earlier_scores), torch.cat(earlier_idx)
            n_zero = math.floor(len(idx) * (1 - capacity / s))
            score[idx[res.argsort(stable=True)[:n_zero]]] = 0.0
            per_head.append(score)
        stacked = torch.stack(per_head).view(shapes.kv_heads, group, s - w).mean(1)
        kept.append(select(stacked[None], capacity, w, s)[0])
    return torch.stack(kept)


def prefill_attention(shapes: SelectionShapes, device: str, dtype: torch.dtype) -> None:
    s, d = shapes.seq_len, shapes.head_dim
    q = torch.randn(1, shapes.heads, s, d, device=device, dtype=dtype)
    k = torch.randn(1, shapes.kv_heads, s, d, device=device, dtype=dtype)
    v = torch.randn_like(k)
    F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)


def _time(fn, device: str, repeats: int) -> float:
    """Median wall time in ms over ``repeats`` runs after one warm-up (the median resists a busy machine)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def run_selection_bench(
    shapes: SelectionShapes = SelectionShapes(),
    device: str = "cpu",
    repeats: int = 3,
    dtype: torch.dtype | None = None,
    plain_loop: bool = False,
) -> SelectionResult:
    """Median times; the reference-layout press (first-token QR basis) so both select the same tokens."""
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    inputs = build_inputs(shapes, device, dtype)
    press = GuiKVPress(budget=shapes.budget, window_size=shapes.window, temporal_basis="first_tokens",
                       saliency_source="residual")
    with torch.no_grad():
        fast = vectorised_selection(inputs, shapes, press)
        slow = loop_selection(inputs, shapes, press)
        vec_ms = _time(lambda: vectorised_selection(inputs, shapes, press), device, repeats)
        loop_ms = _time(lambda: loop_selection(inputs, shapes, press), device, repeats)
        attn_ms = _time(lambda: prefill_attention(shapes, device, dtype), device, max(1, repeats // 2))
        plain_ms = None
        if plain_loop:
            start = time.perf_counter()
            plain = plain_loop_selection(
                inputs["queries"].float().cpu(), inputs["keys"].float().cpu(),
                inputs["frames"].cpu().expand(1, shapes.kv_heads, shapes.seq_len), inputs["norms"].cpu(),
                inputs["current"], inputs["span"], press.capacity(shapes.seq_len), shapes.seq_len, shapes.window,
                press.alpha, press.temperature, press.rank, "first_tokens",
            )
            plain_ms = (time.perf_counter() - start) * 1000
            if not torch.equal(plain.to(fast.device), fast):
                raise AssertionError("the plain loop selected other tokens than the vectorised press")
    return SelectionResult(
        device=torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)",
        seq_len=shapes.seq_len,
        vectorised_ms=round(vec_ms, 2),
        loop_ms=round(loop_ms, 2),
        attention_ms=round(attn_ms, 2),
        speedup=round(loop_ms / vec_ms, 1),
        share_of_attention=round(vec_ms / attn_ms, 4),
        same_selection=bool(torch.equal(fast, slow)),
        plain_loop_ms=round(plain_ms, 1) if plain_ms is not None else None,
        plain_speedup=round(plain_ms / vec_ms, 1) if plain_ms is not None else None,
    )
