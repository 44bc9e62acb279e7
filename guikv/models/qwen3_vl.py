"""Qwen3-VL, dense and MoE (Qwen3-VL-*-Instruct, GUI-Owl-1.5, Holo2, MAI-UI, UI-Venus-1.5): stock transformers classes.

The hooks' scheme is ``InterleavedMRope`` (merged inside ``rotary_emb``, per-head q/k norms). DeepStack adds vision
features to the first text layers' residual stream for the image tokens of the forward that carries their pixels and
caches nothing, so a chunked prefill stays exact as long as every image's pads and pixels travel in one chunk (the
session refuses pads without pixels). Pixel geometry and limits from the checkpoints' ``preprocessor_config.json``:
``Qwen2VLImageProcessorFast``, patch 16, merge 2 (factor 32), ``size`` 65,536 .. 16,777,216 pixels.
"""

from __future__ import annotations

from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec
from guikv.rope import InterleavedMRope

IMAGE_TOKENS = ImageTokenLayout(pad="<|image_pad|>", start="<|vision_start|>", end="<|vision_end|>")
PIXELS = PixelSpec(patch_size=16, merge_size=2, min_pixels=65_536, max_pixels=16_777_216)


def load_dense(source: str, **options):
    from transformers import Qwen3VLForConditionalGeneration

    from guikv.models.loaders import load_stock

    return load_stock(Qwen3VLForConditionalGeneration, source, SPEC, **options)


def load_moe(source: str, **options):
    from transformers import Qwen3VLMoeForConditionalGeneration

    from guikv.models.loaders import load_stock

    return load_stock(Qwen3VLMoeForConditionalGeneration, source, MOE_SPEC, **options)


SPEC = ModelSpec(
    name="qwen3_vl",
    model_types=("qwen3_vl",),
    architectures=("Qwen3VLForConditionalGeneration",),
    rope=InterleavedMRope(attention_classes=("Qwen3VLTextAttention",)),
    load=load_dense,
    image_tokens=IMAGE_TOKENS,
    pixels=PIXELS,
    default_adapter="qwen3_vl",
    name_hints=("qwen3-vl", "qwen3_vl"),
    checkpoints=("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-32B-Instruct", "Qwen/Qwen3-VL-4B-Instruct"),
    notes="Thinking checkpoints' templates strip earlier reasoning (not append-only): use mode='reference'.",
)

MOE_SPEC = ModelSpec(
    name="qwen3_vl_moe",
    model_types=("qwen3_vl_moe",),
    architectures=("Qwen3VLMoeForConditionalGeneration",),
    rope=InterleavedMRope(attention_classes=("Qwen3VLMoeTextAttention",)),
    load=load_moe,
    image_tokens=IMAGE_TOKENS,
    pixels=PIXELS,
    default_adapter="qwen3_vl",
    checkpoints=("Qwen/Qwen3-VL-30B-A3B-Instruct", "Qwen/Qwen3-VL-235B-A22B-Instruct"),
    notes="Thinking checkpoints' templates strip earlier reasoning (not append-only): use mode='reference'.",
)
