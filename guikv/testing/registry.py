"""The tiny model of every registered family, keyed by ``ModelSpec.name``: what the test matrix and the benches build.

Registering a family's tiny builder here is all the parametrised tests need to cover it (they fail, naming this
file, for a spec without one). ``wide_shapes`` is one decoder layer at the published checkpoint's text width, for
``bench memory`` / ``bench selection --family``; values are the checkpoints' ``config.json`` ones as published (not
checked against a download here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from guikv.processor import VisionTextProcessor
from guikv.testing import (
    save_tiny_qwen2,
    save_tiny_qwen2_5_vl,
    tiny_processor,
    tiny_qwen2,
    tiny_qwen2_5_vl,
)
from guikv.testing.common import TinyShapes
from guikv.testing.glm4v import save_tiny_glm4v, tiny_glm4v, tiny_glm4v_processor
from guikv.testing.opencua import save_tiny_opencua, tiny_opencua_model, tiny_opencua_processor
from guikv.testing.pad_only import pad_only
from guikv.testing.qwen2_vl import save_tiny_qwen2_vl, tiny_qwen2_vl
from guikv.testing.qwen3_vl import (
    save_tiny_qwen3_vl,
    save_tiny_qwen3_vl_moe,
    tiny_qwen3_vl,
    tiny_qwen3_vl_moe,
    tiny_qwen3_vl_processor,
)


@dataclass(frozen=True)
class TinyFamily:
    """How to build one family's tiny model and processor.

    ``model(shapes, *, seed, attn_implementation, tokenizer)``; ``processor(**pixel_limits)`` (``min_pixels`` /
    ``max_pixels``, per image); ``save(folder, **model_options)`` writes a folder ``guikv.load_model`` loads.
    ``pixels``: False for the text-only stand-in, whose processor sends image pads without pixels.
    """

    name: str
    model: Callable[..., nn.Module]
    processor: Callable[..., VisionTextProcessor]
    save: Callable[..., Path]
    wide_shapes: TinyShapes
    pixels: bool = True

    def build(self, shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa",
              **pixel_limits: Any) -> tuple[nn.Module, VisionTextProcessor]:
        """``(model, processor)`` sharing one tokenizer."""
        processor = self.processor(**pixel_limits)
        model = self.model(shapes, seed=seed, attn_implementation=attn_implementation, tokenizer=processor.tokenizer)
        return model, processor


def _pad_only_processor(**pixel_limits: Any) -> VisionTextProcessor:
    return pad_only(tiny_processor())


# Qwen2.5-7B text (UI-TARS-1.5-7B, Qwen2-VL-7B, OpenCUA-7B): 28/4 heads, head dim 128, MLP 18944.
_QWEN_7B = TinyShapes(hidden_size=3584, num_layers=1, num_heads=28, num_kv_heads=4, intermediate_size=18944,
                      vision_depth=1, vision_hidden=64)

TINY_FAMILIES: dict[str, TinyFamily] = {
    family.name: family
    for family in (
        TinyFamily("qwen2_5_vl", tiny_qwen2_5_vl, tiny_processor, save_tiny_qwen2_5_vl, _QWEN_7B),
        TinyFamily("qwen2_vl", tiny_qwen2_vl, tiny_processor, save_tiny_qwen2_vl, _QWEN_7B),
        TinyFamily("opencua", tiny_opencua_model, tiny_opencua_processor, save_tiny_opencua, _QWEN_7B),
        # Qwen3-VL-8B: hidden 4096, 32/8 heads, head dim 128, MLP 12288.
        TinyFamily("qwen3_vl", tiny_qwen3_vl, tiny_qwen3_vl_processor, save_tiny_qwen3_vl,
                   TinyShapes(hidden_size=4096, num_layers=1, num_heads=32, num_kv_heads=8, intermediate_size=12288,
                              head_dim=128, vision_depth=1, vision_hidden=64)),
        # Qwen3-VL-30B-A3B: hidden 2048, 32/4 heads, head dim 128, 8 of 128 experts of width 768 per token. One layer
        # keeps 8 experts, all active: the same per-token MLP work without 120 idle experts' memory.
        TinyFamily("qwen3_vl_moe", tiny_qwen3_vl_moe, tiny_qwen3_vl_processor, save_tiny_qwen3_vl_moe,
                   TinyShapes(hidden_size=2048, num_layers=1, num_heads=32, num_kv_heads=4, intermediate_size=6144,
                              head_dim=128, num_experts=8, experts_per_token=8, moe_intermediate_size=768,
                              vision_depth=1, vision_hidden=64)),
        # GLM-4.1V-9B: hidden 4096, 32/2 heads, head dim 128, MLP 13696.
        TinyFamily("glm4v", tiny_glm4v, tiny_glm4v_processor, save_tiny_glm4v,
                   TinyShapes(hidden_size=4096, num_layers=1, num_heads=32, num_kv_heads=2, intermediate_size=13696,
                              vision_depth=1, vision_hidden=64)),
        TinyFamily("qwen2", tiny_qwen2, _pad_only_processor, save_tiny_qwen2, _QWEN_7B, pixels=False),
    )
}


def tiny_family(name: str) -> TinyFamily:
    """The tiny builder of the family ``name``; ``KeyError`` naming the registered ones and where to add one."""
    if name not in TINY_FAMILIES:
        raise KeyError(
            f"no tiny model registered for the model family {name!r} (registered: {', '.join(TINY_FAMILIES)}); "
            "add its builder to TINY_FAMILIES in guikv/testing/registry.py"
        )
    return TINY_FAMILIES[name]
