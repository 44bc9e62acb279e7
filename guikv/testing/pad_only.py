"""A processor for the 1-D RoPE language model: screenshots become image-pad runs, with no pixels.

The tiny ``Qwen2ForCausalLM`` has no vision tower (OpenCUA's real one expands its placeholders inside its own
forward); this still puts screenshot spans into the token stream so the 1-D path's spans, positions and pruning run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from guikv.processor import VisionTextProcessor


@dataclass
class PadOnlyProcessor(VisionTextProcessor):
    """Expands each image to ``(w // 28) * (h // 28)`` image-pad tokens (at least 1) and sends no pixels."""

    def encode(self, text: str, images=None) -> dict[str, torch.Tensor]:
        images = list(images or [])
        parts = text.split(self.image_token)
        if len(parts) != len(images) + 1:
            raise ValueError(
                f"the text has {len(parts) - 1} image placeholder(s) ({self.image_token}) but {len(images)} image(s) were given"
            )
        counts = [max(1, (im.size[0] // 28) * (im.size[1] // 28)) for im in images]
        text = parts[0] + "".join(self.image_token * n + p for n, p in zip(counts, parts[1:], strict=True))
        return {"input_ids": self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]}


def pad_only(processor: VisionTextProcessor) -> PadOnlyProcessor:
    """``processor``'s tokenizer and template, with pads instead of pixels."""
    return PadOnlyProcessor(tokenizer=processor.tokenizer, image_processor=None, chat_template=processor.chat_template,
                            image_token=processor.image_token)
