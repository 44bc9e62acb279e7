"""``bench gpu``: what a method saves on the device at UI-TARS-1.5-7B's shape (random bf16 weights, no download).

Per method, budget and memory mode over a synthetic task: peak device memory, time to first token per step, decode
tokens/s for a fixed-length reply, and the share of prefill spent scoring/pruning. ``--device cpu`` with the scaled-
down configuration runs the same code anywhere (tests, laptops).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from guikv.loading import UI_TARS_MAX_PIXELS, UI_TARS_MIN_PIXELS, default_attention
from guikv.session import MemorySession
from guikv.testing import TinyShapes, synthetic_screenshot, tiny_processor, tiny_qwen2_5_vl

# UI-TARS-1.5-7B / Qwen2.5-VL-7B text shape (spec section 0): 28 layers, 28/4 heads, head dim 128, MLP 18944.
UI_TARS_7B = TinyShapes(hidden_size=3584, num_layers=28, num_heads=28, num_kv_heads=4, intermediate_size=18944,
                        vision_depth=32, vision_hidden=1280)
CPU_SCALED = TinyShapes(hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=256,
                        vision_depth=1, vision_hidden=32)


@dataclass(frozen=True)
class ScaleBenchConfig:
    methods: tuple[str, ...] = ("full", "snap_kv", "gui_kv")
    budgets: tuple[float, ...] = (0.1, 0.2, 0.4)
    modes: tuple[str, ...] = ("persistent", "reference")
    steps: int = 20
    history: int = 5
    reply_tokens: int = 60
    screenshot: tuple[int, int] = (1280, 800)
    shapes: TinyShapes = UI_TARS_7B
    device: str = "cuda"
    dtype: str = "bfloat16"
    min_pixels: int = UI_TARS_MIN_PIXELS
    max_pixels: int = UI_TARS_MAX_PIXELS


@dataclass
class ScaleRow:
    method: str
    budget: float
    mode: str
    step: int
    ttft_s: float
    decode_tokens_per_s: float
    peak_memory_bytes: int
    kv_bytes: int
    compress_share: float


@dataclass
class ScaleBenchResult:
    config: dict
    environment: dict
    rows: list[ScaleRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"config": self.config, "environment": self.environment, "rows": [asdict(r) for r in self.rows]}


def _environment(device: str) -> dict:
    import transformers

    env = {"torch": torch.__version__, "transformers": transformers.__version__, "device": device}
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name()
    return env


def _peak(device: str, kv_bytes: int) -> int:
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    return kv_bytes  # no allocator statistics on CPU: report what the cache holds


def run_scale_bench(config: ScaleBenchConfig, on_row: Callable[[ScaleRow], None] | None = None) -> ScaleBenchResult:
    dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[config.dtype]
    processor = tiny_processor(min_pixels=config.min_pixels, max_pixels=config.max_pixels)
    attn = default_attention(config.device)
    model = tiny_qwen2_5_vl(config.shapes, tokenizer=processor.tokenizer, attn_implementation=attn)
    model = model.to(device=config.device, dtype=dtype)
    result = ScaleBenchResult(config={**asdict(config), "shapes": asdict(config.shapes), "attention": attn},
                              environment=_environment(config.device))
    screenshots = [synthetic_screenshot(*config.screenshot, seed=s) for s in range(config.steps)]
    for method in config.methods:
        for budget in config.budgets if method != "full" else (1.0,):
            for mode in config.modes:
                session = MemorySession(model, processor, method, budget, mode=mode, max_screenshots=config.history)
                session.add("user", "Task: find the cheapest flight to Oslo and open its booking page.")
                if config.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                for step, image in enumerate(screenshots, start=1):
                    session.add("user", [{"type": "image", "image": image}])
                    reply = session.generate(max_new_tokens=config.reply_tokens, ignore_eos=True)
                    decoded = max(1, len(reply.token_ids))
                    kv = session.state().bytes
                    row = ScaleRow(
                        method=method, budget=budget, mode=mode, step=step,
                        ttft_s=round(reply.prefill_seconds, 4),
                        decode_tokens_per_s=round(decoded / max(reply.decode_seconds, 1e-9), 2),
                        peak_memory_bytes=_peak(config.device, kv),
                        kv_bytes=kv,
                        compress_share=round(reply.compress_seconds / max(reply.prefill_seconds, 1e-9), 4),
                    )
                    result.rows.append(row)
                    if on_row:
                        on_row(row)
                session.close()
    return result


def check_finite(result: ScaleBenchResult) -> list[str]:
    """Names of figures that are not positive and finite (empty when the report is sound)."""
    bad = []
    for row in result.rows:
        for name in ("ttft_s", "decode_tokens_per_s", "peak_memory_bytes", "kv_bytes"):
            value = getattr(row, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                bad.append(f"{row.method}/{row.budget}/{row.mode}/step {row.step}: {name}={value}")
    return bad
