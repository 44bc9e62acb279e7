"""``bench memory``: per-step prefill time and KV bytes, persistent session vs the paper's re-prefill of N screenshots.

A synthetic task: each step adds a 1280x800 screenshot and a short reply. The model is a random model of the chosen
family (default Qwen2.5-VL) whose text layer has the published checkpoint's width (UI-TARS-1.5-7B: hidden 3584, 28/4
heads, head dim 128, MLP 18944; see ``guikv.testing.registry``) but one layer, and a small vision tower, so it runs on
a CPU; per-layer attention and MLP costs are those of the full model. Screenshots are resized with the family's own
pixel limits. The vision tower is scaled down for both modes alike (re-prefill would also re-encode every kept
screenshot: the real gap is larger).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from guikv.budget import Budget
from guikv.models import spec_named
from guikv.session import MemorySession
from guikv.testing import TinyShapes, synthetic_screenshot
from guikv.testing.registry import tiny_family

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
    family: str = "qwen2_5_vl"  # a registered model family (guikv.models.MODEL_SPECS)
    shapes: TinyShapes | None = None  # None: one layer at the family's published width
    device: str = "cpu"
    min_pixels: int | None = None  # None: the family's own per-image limits
    max_pixels: int | None = None


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
    spec, family = spec_named(config.family), tiny_family(config.family)
    shapes = config.shapes or family.wide_shapes
    limits = {}
    if spec.pixels is not None:  # per image, as the builders take them
        limits = {"min_pixels": spec.pixels.min_pixels if config.min_pixels is None else config.min_pixels,
                  "max_pixels": spec.pixels.max_pixels if config.max_pixels is None else config.max_pixels}
    model, processor = family.build(shapes, **limits)
    model = model.to(config.device)
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
    result = MemoryBenchResult(config={**asdict(config), "shapes": asdict(shapes), "screenshot_tokens": screenshot_tokens,
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
    """Image-pad tokens one screenshot of ``size`` becomes (the processor's own expansion)."""
    ids = processor.encode(processor.image_token, [synthetic_screenshot(*size)])["input_ids"]
    return int((ids == processor.tokenizer.convert_tokens_to_ids(processor.image_token)).sum())


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
