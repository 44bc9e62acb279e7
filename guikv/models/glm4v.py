"""GLM-4.1V (GLM-4.1V-9B-Thinking / -Base): stock transformers class, partial-rotary M-RoPE (``GlmMRope``).

Facts (research-10.md D, transformers 5.2 ``models/glm4v``): screenshots are ``<|begin_of_image|>`` + ``<|image|>`` * N
+ ``<|end_of_image|>``, whose ids the config names ``image_token_id`` / ``image_start_token_id`` /
``image_end_token_id``. ``Glm4vImageProcessor`` (patch 14, merge 2) counts an image as 2 frames against its ``size``
limits; the checkpoint's ``size`` 12,544 .. 47,040,000 is therefore 6,272 .. 23,520,000 pixels per image. The chat
template closes no turn: a reply ends with one of ``<|user|>``, ``<|observation|>``, ``<|endoftext|>`` (the
generation config's stop ids), and the next user turn starts with ``<|user|>``, so that is the turn end fed back.
No agent adapter (its GUI action format is not implemented). Whether the Thinking checkpoint's own template rewrites
earlier replies was not read here; a persistent session checks the template at its first turn and refuses one that
does (use ``mode="reference"``).
"""

from __future__ import annotations

from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec
from guikv.rope import GlmMRope


def load(source: str, **options):
    from transformers import Glm4vForConditionalGeneration

    from guikv.models.loaders import load_stock

    return load_stock(Glm4vForConditionalGeneration, source, SPEC, **options)


SPEC = ModelSpec(
    name="glm4v",
    model_types=("glm4v",),
    architectures=("Glm4vForConditionalGeneration",),
    rope=GlmMRope(attention_classes=("Glm4vTextAttention",)),
    load=load,
    image_tokens=ImageTokenLayout(
        pad="<|image|>", start="<|begin_of_image|>", end="<|end_of_image|>",
        start_config_keys=("image_start_token_id",), end_config_keys=("image_end_token_id",),
    ),
    pixels=PixelSpec(patch_size=14, merge_size=2, min_pixels=12_544 // 2, max_pixels=47_040_000 // 2, frames_per_image=2,
                     image_processor="Glm4vImageProcessor"),
    turn_end="<|user|>",
    stop_tokens=("<|user|>", "<|endoftext|>", "<|observation|>"),
    default_adapter=None,
    checkpoints=("zai-org/GLM-4.1V-9B-Thinking", "zai-org/GLM-4.1V-9B-Base"),
    notes="A template that rewrites earlier replies (thinking) is refused by persistent sessions: use mode='reference'.",
)
