"""Text + screenshot encoding for Qwen2.5-VL-style models, without a video processor.

transformers' ``Qwen2_5_VLProcessor`` insists on a video processor, which imports torchvision; GUI agents never send
video, and torchvision wheels often do not match the installed torch. This does the same image work: the real image
processor, the chat template, and the expansion of each ``<|image_pad|>`` into ``t*h*w / merge**2`` pads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class VisionTextProcessor:
    tokenizer: Any
    image_processor: Any | None = None
    chat_template: str | None = None
    image_token: str = "<|image_pad|>"

    @property
    def merge_size(self) -> int:
        return int(getattr(self.image_processor, "merge_size", 2))

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """The chat-template text of ``messages`` with one image token per image."""
        return self.tokenizer.apply_chat_template(
            messages,
            chat_template=self.chat_template,
            add_generation_prompt=add_generation_prompt,
            tokenize=False,
        )

    def encode(self, text: str, images: list | None = None) -> dict[str, torch.Tensor]:
        """``input_ids`` (1, L) with image pads expanded, plus ``pixel_values``/``image_grid_thw`` when images exist."""
        images = list(images or [])
        n_slots = text.count(self.image_token)
        if n_slots != len(images):
            raise ValueError(
                f"the text has {n_slots} image placeholder(s) ({self.image_token}) but {len(images)} image(s) were given"
            )
        out: dict[str, torch.Tensor] = {}
        if images:
            if self.image_processor is None:
                raise ValueError("this model has no image processor; it cannot take screenshots")
            for image in images:
                width, height = image.size
                if width == 0 or height == 0:
                    raise ValueError(f"image of zero size ({width}x{height}) cannot be encoded")
            vision = self.image_processor(images=images, return_tensors="pt")
            out["pixel_values"] = vision["pixel_values"]
            out["image_grid_thw"] = vision["image_grid_thw"]
            counts = (vision["image_grid_thw"].prod(-1) // self.merge_size**2).tolist()
            parts = text.split(self.image_token)
            text = parts[0] + "".join(self.image_token * n + part for n, part in zip(counts, parts[1:], strict=True))
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        out["input_ids"] = ids
        return out

    def decode(self, ids, *, skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def save_pretrained(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        if self.image_processor is not None:
            self.image_processor.save_pretrained(folder)
        if self.chat_template:
            (folder / "chat_template.json").write_text(json.dumps({"chat_template": self.chat_template}))

    @classmethod
    def from_pretrained(cls, name_or_path: str, **kwargs: Any) -> VisionTextProcessor:
        """Tokenizer, slow image processor and chat template from a hub id or folder (processor or tokenizer file)."""
        from transformers import AutoImageProcessor, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
        pixel_limits = {k: kwargs.pop(k) for k in ("min_pixels", "max_pixels") if k in kwargs}
        try:
            image_processor = AutoImageProcessor.from_pretrained(name_or_path, use_fast=False, **kwargs)
            for key, value in pixel_limits.items():
                setattr(image_processor, key, value)
                if isinstance(getattr(image_processor, "size", None), dict):
                    image_processor.size["shortest_edge" if key == "min_pixels" else "longest_edge"] = value
        except (OSError, ValueError):
            image_processor = None
        template = tokenizer.chat_template
        local = Path(name_or_path)
        for candidate in ("chat_template.json", "chat_template.jinja"):
            path = local / candidate
            if template is None and path.is_file():
                raw = path.read_text()
                template = json.loads(raw)["chat_template"] if candidate.endswith(".json") else raw
        return cls(tokenizer=tokenizer, image_processor=image_processor, chat_template=template)
