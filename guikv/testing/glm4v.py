"""Tiny GLM-4.1V: partial rotary M-RoPE with interleaved pairs, sandwich-normed decoder layers, ``<|image|>`` pads.

Shapes follow research-10.md D: ``sum(mrope_section) == head_dim * partial_rotary_factor / 2`` (else transformers fails
in ``split_with_sizes``), the vision tower's ``out_hidden_size`` equals the text width. The vocabulary's special tokens
come in GLM-4's order (``<|endoftext|>`` ... ``<|video|>``, ids 151329-151344 in the checkpoint); the chat template has
the published prompt's shape: ``[gMASK]<sop>`` once, then ``<|system|>`` / ``<|user|>`` / ``<|assistant|>`` turns each
opened by its role token and a newline, screenshots as ``<|begin_of_image|><|image|><|end_of_image|>``, and no token
closing a turn: the model ends its reply with ``<|user|>`` (or ``<|observation|>`` / ``<|endoftext|>``), which is where
the next user turn starts. The image processor is the real ``Glm4vImageProcessor``: it counts every image as
``temporal_patch_size`` (2) frames against its ``size`` limits, so the per-image pixel limits are half of ``size``.
"""

from __future__ import annotations

from pathlib import Path

from guikv.testing.common import TinyShapes, build, token_ids, train_tokenizer

GLM_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
)
GLM_ADDED_TOKENS = ("<think>", "</think>", "<answer>", "</answer>", "<|begin_of_box|>", "<|end_of_box|>")

GLM4V_CHAT_TEMPLATE = r"""
{{- '[gMASK]<sop>' }}
{%- for message in messages %}
  {{- '<|' + message.role + '|>\n' }}
  {%- if message.content is string %}{{- message.content }}
  {%- else %}
    {%- for item in message.content %}
      {%- if item.type == 'image' or 'image' in item or 'image_url' in item %}{{- '<|begin_of_image|><|image|><|end_of_image|>' }}
      {%- elif item.type == 'video' or 'video' in item %}{{- '<|begin_of_video|><|video|><|end_of_video|>' }}
      {%- elif 'text' in item %}{{- item.text }}
      {%- endif %}
    {%- endfor %}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|assistant|>\n' }}{%- endif %}
""".strip()

# Glm4vImageProcessor compares temporal_patch_size * h * w with its limits; for an image t = 2 frames.
FRAMES_PER_IMAGE = 2


def tiny_glm4v_tokenizer():
    """A byte-level BPE with GLM-4.1V's special tokens and a chat template of its prompt's shape."""
    return train_tokenizer(GLM_SPECIAL_TOKENS, GLM4V_CHAT_TEMPLATE, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                           added_tokens=GLM_ADDED_TOKENS)


def tiny_glm4v_processor(min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 64):
    """The real ``Glm4vImageProcessor`` with per-image limits ``[min_pixels, max_pixels]`` and the tiny GLM tokenizer."""
    from transformers import Glm4vImageProcessor

    from guikv.processor import VisionTextProcessor

    size = {"shortest_edge": min_pixels * FRAMES_PER_IMAGE, "longest_edge": max_pixels * FRAMES_PER_IMAGE}
    image_processor = Glm4vImageProcessor(size=size, patch_size=14, temporal_patch_size=2, merge_size=2)
    tokenizer = tiny_glm4v_tokenizer()
    return VisionTextProcessor(tokenizer=tokenizer, image_processor=image_processor, chat_template=tokenizer.chat_template,
                               image_token="<|image|>")


def tiny_glm4v(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None):
    """A random-weight ``Glm4vForConditionalGeneration`` (float32, eval mode) matching ``tiny_glm4v_tokenizer``."""
    from transformers import Glm4vConfig, Glm4vForConditionalGeneration

    tokenizer = tokenizer or tiny_glm4v_tokenizer()
    ids = token_ids(tokenizer, GLM_SPECIAL_TOKENS)
    half = shapes.dims_per_head() // 4  # head_dim * partial_rotary_factor (0.5) / 2 frequencies
    side = half * 12 // 32 or 1  # the checkpoint's [8, 12, 12] of 32, scaled
    config = Glm4vConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": shapes.hidden_size,
            "intermediate_size": shapes.intermediate_size,
            "num_hidden_layers": shapes.num_layers,
            "num_attention_heads": shapes.num_heads,
            "num_key_value_heads": shapes.num_kv_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 0.5,
                                "mrope_section": [half - 2 * side, side, side]},
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": [ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]],
        },
        vision_config={
            "depth": shapes.vision_depth,
            "hidden_size": shapes.vision_hidden,
            "intermediate_size": shapes.vision_hidden * 2,
            "num_heads": 2,
            "image_size": 28,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": shapes.hidden_size,
        },
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
        tie_word_embeddings=False,
    )
    config._attn_implementation = attn_implementation
    return build(Glm4vForConditionalGeneration, config, seed)


def save_tiny_glm4v(folder: str | Path, **kwargs) -> Path:
    """Write the tiny GLM-4.1V and its processor as a local model folder (``model_type`` ``glm4v``)."""
    folder = Path(folder)
    processor = tiny_glm4v_processor()
    tiny_glm4v(tokenizer=processor.tokenizer, **kwargs).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
