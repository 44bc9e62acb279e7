"""Qwen2 / Llama-style text-only language models (1-D RoPE): no screenshots; the tests' stand-in for OpenCUA's LM."""

from __future__ import annotations

from guikv.models.spec import ImageTokenLayout, ModelSpec
from guikv.rope import Rope1D


def load(source: str, **options):
    from transformers import AutoModelForCausalLM

    from guikv.models.loaders import load_stock

    return load_stock(AutoModelForCausalLM, source, SPEC, **options)


SPEC = ModelSpec(
    name="qwen2",
    model_types=("qwen2", "qwen3", "llama", "mistral"),
    architectures=("Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM", "MistralForCausalLM"),
    rope=Rope1D(attention_classes=("Qwen2Attention", "Qwen3Attention", "LlamaAttention", "MistralAttention")),
    load=load,
    # A text-only model has no image processor; a config that declares image token ids (the tests' tiny model) still
    # gets screenshot spans for the hooks.
    image_tokens=ImageTokenLayout(pad="<|image_pad|>", start="<|vision_start|>", end="<|vision_end|>"),
    pixels=None,
)
