"""Tiny, offline stand-ins for every registered model family (``guikv.testing.registry.TINY_FAMILIES``).

Real transformers classes with random weights and small shapes, a real byte-level BPE tokenizer trained on the spot
with ``tokenizers`` (carrying the family's special tokens and a chat template of the real shape) and the family's real
image processor. Nothing is downloaded: tests, benchmarks and the CLI's ``--model tiny`` use these where multi-GB
weights cannot exist. This module holds UI-TARS-1.5 (Qwen2.5-VL) and the 1-D RoPE language model (OpenCUA's); one
module per other family (``qwen2_vl``, ``qwen3_vl``, ``glm4v``).
"""

from __future__ import annotations

from pathlib import Path

from guikv.testing.common import TinyShapes, build, mrope_section, token_ids, train_tokenizer

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2-VL / Qwen2.5-VL-Instruct's chat template (the one UI-TARS-1.5 is used with).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

def tiny_tokenizer():
    """A byte-level BPE trained offline on GUI-agent text, with Qwen2.5-VL's special tokens and chat template."""
    return train_tokenizer(QWEN_SPECIAL_TOKENS, QWEN2_VL_CHAT_TEMPLATE, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def tiny_processor(min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 64):
    """The real Qwen2.5-VL image processor and the tiny tokenizer; small pixel limits keep images at a few tokens."""
    from transformers import Qwen2VLImageProcessor

    from guikv.processor import VisionTextProcessor

    image_processor = Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
    return VisionTextProcessor(
        tokenizer=tiny_tokenizer(), image_processor=image_processor, chat_template=QWEN2_VL_CHAT_TEMPLATE
    )


def tiny_qwen2_5_vl(
    shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None
):
    """A random-weight ``Qwen2_5_VLForConditionalGeneration`` (float32, eval mode) matching ``tiny_tokenizer``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tokenizer or tiny_tokenizer()
    ids = token_ids(tokenizer, QWEN_SPECIAL_TOKENS)
    section = mrope_section(shapes.dims_per_head() // 2, interleaved=False)
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": shapes.hidden_size,
            "intermediate_size": shapes.intermediate_size,
            "num_hidden_layers": shapes.num_layers,
            "num_attention_heads": shapes.num_heads,
            "num_key_value_heads": shapes.num_kv_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": section},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": shapes.vision_depth,
            "hidden_size": shapes.vision_hidden,
            "intermediate_size": shapes.vision_hidden * 2,
            "num_heads": 2,
            "out_hidden_size": shapes.hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [shapes.vision_depth - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config._attn_implementation = attn_implementation
    return build(Qwen2_5_VLForConditionalGeneration, config, seed)


def tiny_qwen2(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None):
    """A random-weight 1-D-RoPE ``Qwen2ForCausalLM``: the language-model path OpenCUA-7B runs on."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tokenizer or tiny_tokenizer()
    ids = token_ids(tokenizer, QWEN_SPECIAL_TOKENS)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=shapes.hidden_size,
        intermediate_size=shapes.intermediate_size,
        num_hidden_layers=shapes.num_layers,
        num_attention_heads=shapes.num_heads,
        num_key_value_heads=shapes.num_kv_heads,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
        attn_implementation=attn_implementation,
    )
    # Span detection on a text-only model reads these ids (OpenCUA expands its image placeholders itself).
    config.image_token_id = ids["<|image_pad|>"]
    config.vision_start_token_id = ids["<|vision_start|>"]
    config.vision_end_token_id = ids["<|vision_end|>"]
    return build(Qwen2ForCausalLM, config, seed)


def save_tiny_qwen2_5_vl(folder: str | Path, **kwargs) -> Path:
    """Write the tiny model and its processor as a local model folder, loadable by ``guikv.load_model``."""
    folder = Path(folder)
    processor = tiny_processor()
    model = tiny_qwen2_5_vl(tokenizer=processor.tokenizer, **kwargs)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_qwen2(folder: str | Path, **kwargs) -> Path:
    """Write the tiny 1-D RoPE model and its tokenizer as a local model folder."""
    folder = Path(folder)
    tokenizer = tiny_tokenizer()
    model = tiny_qwen2(tokenizer=tokenizer, **kwargs)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def synthetic_screenshot(width: int, height: int, seed: int = 0):
    """A deterministic RGB PIL image with blocks of colour (a stand-in for a GUI screenshot)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 235, dtype=np.uint8)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(4, max(5, width // 3))), int(rng.integers(4, max(5, height // 4)))
        pixels[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(pixels)


# One module per other family (they import the Qwen pieces above, so these come last).
from guikv.testing.glm4v import save_tiny_glm4v, tiny_glm4v, tiny_glm4v_processor, tiny_glm4v_tokenizer  # noqa: E402
from guikv.testing.qwen2_vl import save_tiny_qwen2_vl, tiny_qwen2_vl  # noqa: E402
from guikv.testing.qwen3_vl import (  # noqa: E402
    save_tiny_qwen3_vl,
    save_tiny_qwen3_vl_moe,
    tiny_qwen3_vl,
    tiny_qwen3_vl_moe,
    tiny_qwen3_vl_processor,
    tiny_qwen3_vl_tokenizer,
)

__all__ = [
    "QWEN2_VL_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "TinyShapes",
    "save_tiny_glm4v",
    "save_tiny_qwen2",
    "save_tiny_qwen2_5_vl",
    "save_tiny_qwen2_vl",
    "save_tiny_qwen3_vl",
    "save_tiny_qwen3_vl_moe",
    "synthetic_screenshot",
    "tiny_glm4v",
    "tiny_glm4v_processor",
    "tiny_glm4v_tokenizer",
    "tiny_processor",
    "tiny_qwen2",
    "tiny_qwen2_5_vl",
    "tiny_qwen2_vl",
    "tiny_qwen3_vl",
    "tiny_qwen3_vl_moe",
    "tiny_qwen3_vl_processor",
    "tiny_qwen3_vl_tokenizer",
    "tiny_tokenizer",
]
