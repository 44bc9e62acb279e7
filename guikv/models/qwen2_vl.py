"""Qwen2-VL (UI-TARS v1 7B, Qwen2-VL-*-Instruct): stock transformers class, sectioned M-RoPE, processor-side expansion.

Its own class: a Qwen2-VL folder loaded as Qwen2.5-VL would build the wrong vision tower. ``get_rope_index`` has no
``second_per_grid_ts`` (``MRope`` calls it with keywords only).
"""

from __future__ import annotations

from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec
from guikv.rope import MRope


def load(source: str, **options):
    from transformers import Qwen2VLForConditionalGeneration

    from guikv.models.loaders import load_stock

    return load_stock(Qwen2VLForConditionalGeneration, source, SPEC, **options)


SPEC = ModelSpec(
    name="qwen2_vl",
    model_types=("qwen2_vl",),
    architectures=("Qwen2VLForConditionalGeneration",),
    rope=MRope(attention_classes=("Qwen2VLAttention",)),
    load=load,
    image_tokens=ImageTokenLayout(pad="<|image_pad|>", start="<|vision_start|>", end="<|vision_end|>"),
    # UI-TARS v1's limits (UI-TARS-desktop: V1.0 max 2700 * 28 * 28; min as UI-TARS' code, 100 * 28 * 28).
    pixels=PixelSpec(patch_size=14, merge_size=2, min_pixels=100 * 28 * 28, max_pixels=2700 * 28 * 28),
    default_adapter="ui_tars",
    # UI-TARS v1 writes points on a 0-1000 grid (UI-TARS-desktop's V1.0 path scales boxes by factors of 1000).
    default_adapter_options={"coordinates": "thousandths"},
    checkpoints=("ByteDance-Seed/UI-TARS-7B-DPO", "ByteDance-Seed/UI-TARS-7B-SFT", "Qwen/Qwen2-VL-7B-Instruct"),
    notes="UI-TARS v1 writes 0-1000 relative coordinates in start_box='<|box_start|>(x,y)<|box_end|>': the ui_tars "
    "adapter reads them with coordinates='thousandths' (default_adapter_options).",
)
