"""Qwen2.5-VL (UI-TARS-1.5-7B, Qwen2.5-VL-*-Instruct): stock transformers class, 3-D M-RoPE, processor-side expansion."""

from __future__ import annotations

from guikv.models.pixels import QWEN2_5_VL_MAX_PIXELS, QWEN2_5_VL_MIN_PIXELS
from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec
from guikv.rope import MRope


def load(source: str, **options):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from guikv.models.loaders import load_stock

    return load_stock(Qwen2_5_VLForConditionalGeneration, source, SPEC, **options)


SPEC = ModelSpec(
    name="qwen2_5_vl",
    model_types=("qwen2_5_vl",),
    architectures=("Qwen2_5_VLForConditionalGeneration",),
    rope=MRope(attention_classes=("Qwen2_5_VLAttention",)),
    load=load,
    image_tokens=ImageTokenLayout(pad="<|image_pad|>", start="<|vision_start|>", end="<|vision_end|>"),
    # UI-TARS' limits (spec A.4): min 100*28*28, max 16384*28*28.
    pixels=PixelSpec(patch_size=14, merge_size=2, min_pixels=QWEN2_5_VL_MIN_PIXELS, max_pixels=QWEN2_5_VL_MAX_PIXELS),
    default_adapter="ui_tars",
    name_hints=("ui-tars", "ui_tars", "uitars"),
    checkpoints=("ByteDance-Seed/UI-TARS-1.5-7B", "Qwen/Qwen2.5-VL-7B-Instruct"),
)
