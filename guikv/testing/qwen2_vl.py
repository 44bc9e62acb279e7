"""Tiny Qwen2-VL (UI-TARS v1 7B's architecture): sectioned M-RoPE, no window attention in the vision tower.

Same special tokens, chat template and ``Qwen2VLImageProcessor`` (patch 14, merge 2) as Qwen2.5-VL; the vision config
names differ (``embed_dim`` is the tower's width, ``hidden_size`` the language model's).
"""

from __future__ import annotations

from pathlib import Path

from guikv.testing import QWEN_SPECIAL_TOKENS, tiny_processor, tiny_tokenizer
from guikv.testing.common import TinyShapes, build, mrope_section, token_ids


def tiny_qwen2_vl(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None):
    """A random-weight ``Qwen2VLForConditionalGeneration`` (float32, eval mode) matching ``tiny_tokenizer``."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    tokenizer = tokenizer or tiny_tokenizer()
    ids = token_ids(tokenizer, QWEN_SPECIAL_TOKENS)
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": shapes.hidden_size,
            "intermediate_size": shapes.intermediate_size,
            "num_hidden_layers": shapes.num_layers,
            "num_attention_heads": shapes.num_heads,
            "num_key_value_heads": shapes.num_kv_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                "mrope_section": mrope_section(shapes.dims_per_head() // 2, interleaved=False)},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": shapes.vision_depth,
            "embed_dim": shapes.vision_hidden,
            "hidden_size": shapes.hidden_size,
            "mlp_ratio": 2,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config._attn_implementation = attn_implementation
    return build(Qwen2VLForConditionalGeneration, config, seed)


def save_tiny_qwen2_vl(folder: str | Path, **kwargs) -> Path:
    """Write the tiny Qwen2-VL and its processor as a local model folder (``model_type`` ``qwen2_vl``)."""
    folder = Path(folder)
    processor = tiny_processor()
    tiny_qwen2_vl(tokenizer=processor.tokenizer, **kwargs).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
