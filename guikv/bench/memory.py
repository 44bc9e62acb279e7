"""``bench memory``: per-step prefill time and KV bytes, persistent session vs the paper's re-prefill of N screenshots.

A synthetic task: each step adds a 1280x800 screenshot and a short reply. The model is a random Qwen2.5-VL whose text
layers have UI-TARS-1.5-7B's width (hidden 3584, 28/4 heads, head dim 128, MLP 18944) but few layers, and a small
vision tower, so it runs on a CPU; per-layer attention and MLP costs are those of the 7B. The vision tower is
scaled down for both modes alike (re-prefill would also re-encode every kept screenshot: the real gap is larger).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from guikv.budget import Budget
from guikv.loading import UI_TARS_MAX_PIXELS, UI_TARS_MIN_PIXELS
from guikv.session import MemorySession
from guikv.testing import TinyShapes, synthetic_screenshot, tiny_processor, tiny_qwen2_5_vl

UI_TARS_7B_LAYER = TinyShapes(hidden_size=3584, num_layers=1, num_heads=28, num_kv_heads=4, intermediate_size=18944,
                              vision_depth=1, vision_hidden=64)
SCALED_DOWN = TinyShapes(hidden_size=256, num_layers=2, num_heads=8, num_kv_heads=2, intermediate_size=512,
                         vision_depth=1, vision_hidden=32)


@dataclass(frozen=True)
class MemoryBenchConfig:
    steps: int = 20
    screenshot: tuple[int, int] = (1280, 800)
    method: str = "gui_kv"
    budget: float = 0.1
    history: int = 5  # screenshots the reference mode re-prefills
    reply_tokens: int = 8
    shapes: TinyShapes = UI_TARS_7B_LAYER
    device: str = "cpu"
    min_pixels: int = UI_TARS_MIN_PIXELS
    max_pixels: int = UI_TARS_MAX_PIXELS


@dataclass
class StepRow:
    step: int
    persistent_prefill_s: float
    reference_prefill_s: float
    persistent_prefill_tokens: int
    reference_prefill_tokens: int
    persistent_kv_bytes: int
    reference_kv_bytes: int
    reference_repeated_heads_kv_bytes: int  # the GUI-KV reference's layout: every KV head repeated to H query heads


@dataclass
class MemoryBenchResult:
    config: dict
    rows: list[StepRow] = field(default_factory=list)

    def speedup_from(self, step: int) -> float:
        sel = [r for r in self.rows if r.step >= step]
        return sum(r.reference_prefill_s for r in sel) / max(1e-9, sum(r.persistent_prefill_s for r in sel))

    def to_dict(self) -> dict:
        return {"config": self.config, "rows": [asdict(r) for r in self.rows], "speedup_from_step_5": self.speedup_from(5)}


def run_memory_bench(config: MemoryBenchConfig, on_step: Callable[[StepRow], None] | None = None) -> MemoryBenchResult:
    processor = tiny_processor(min_pixels=config.min_pixels, max_pixels=config.max_pixels)
    model = tiny_qwen2_5_vl(config.shapes, tokenizer=processor.tokenizer).to(config.device)
    text = model.config.get_text_config()
    group = text.num_attention_heads // text.num_key_value_heads
    screenshot_tokens = _screenshot_tokens(processor, config.screenshot)
    # Same memory for both: the persistent cache's token budget is what the reference keeps at N screenshots.
    reference_len = config.history * (screenshot_tokens + 40) + 60
    budget = Budget.parse(config.budget)
    persistent_budget = max(budget.capacity(reference_len), 16)
    persistent = MemorySession(model, processor, config.method, persistent_budget)
    reference = MemorySession(model, processor, config.method, config.budget, mode="reference", max_screenshots=config.history)
    task = "Task: find the cheapest flight to Oslo and open its booking page."
    for session in (persistent, reference):
        session.add("system", "You are a helpful assistant.")
    result = MemoryBenchResult(config={**asdict(config), "shapes": asdict(config.shapes), "screenshot_tokens": screenshot_tokens,
                                       "persistent_budget_tokens": persistent_budget})
    for step in range(1, config.steps + 1):
        image = synthetic_screenshot(*config.screenshot, seed=step)
        content = [{"type": "image", "image": image}] + ([{"type": "text", "text": task}] if step == 1 else [])
        timings = {}
        for name, session in (("persistent", persistent), ("reference", reference)):
            session.add("user", content)
            _sync(config.device)
            reply = session.generate(max_new_tokens=config.reply_tokens)
            timings[name] = reply
        row = StepRow(
            step=step,
            persistent_prefill_s=round(timings["persistent"].prefill_seconds, 4),
            reference_prefill_s=round(timings["reference"].prefill_seconds, 4),
            persistent_prefill_tokens=timings["persistent"].prefill_tokens,
            reference_prefill_tokens=timings["reference"].prefill_tokens,
            persistent_kv_bytes=persistent.state().bytes,
            reference_kv_bytes=reference.state().bytes,
            reference_repeated_heads_kv_bytes=reference.state().bytes * group,
        )
        result.rows.append(row)
        if on_step:
            on_step(row)
    return result


def _screenshot_tokens(processor, size: tuple[int, int]) -> int:
    grid = processor.image_processor(images=[synthetic_screenshot(*size)], return_tensors="pt")["image_grid_thw"]
    return int(grid.prod() // processor.merge_size**2)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
