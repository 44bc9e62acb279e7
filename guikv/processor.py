"""Text + screenshot encoding for Qwen2.5-VL-style models, without a video processor.

transformers' ``Qwen2_5_VLProcessor`` insists on a video processor, which imports torchvision; GUI agents never send
video, and torchvision wheels often do not match the installed torch. This does the same image work: the real image
processor, the chat template, and the expansion of each ``<|image_pad|>`` into ``t*h*w / merge**2`` pads.

Screenshots are handed over as RGB with an explicit channels-last layout: left to guess, transformers takes a
1-pixel-high image's height for its channel axis (and fails) and silently reads a 3-pixel-high one channels-first
(a 300x3 image becomes 3x3 pixels of 300 "channels"). ``check_image`` tells before any encoding whether the image
processor can take an image at all (size, mode, its resize rule's aspect-ratio limit), so a session can refuse a
screenshot when it is added instead of failing at every later turn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

CHANNELS_LAST = "channels_last"  # transformers' ChannelDimension.LAST: (height, width, channels) arrays, as PIL gives


class ImageRejected(ValueError):
    """A screenshot the image processor cannot take (not a PIL image, empty, too large, odd mode, aspect ratio)."""


def check_image_input(image: Any) -> None:
    """``ImageRejected`` unless ``image`` is a non-empty PIL image that converts to RGB, within PIL's pixel bound.

    What any image processor needs; ``VisionTextProcessor.check_image`` adds its own resize rules. Converting a
    1x1 crop also forces a lazily opened file to decode, so a truncated PNG is caught here too.
    """
    if not isinstance(image, Image.Image):
        raise ImageRejected(f"a screenshot must be a PIL.Image.Image, got {type(image).__name__}")
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected(f"image of zero size {image.size} (width x height); a screenshot needs at least 1x1 pixels")
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise ImageRejected(f"a {width}x{height} image has more than PIL's bound of {limit} pixels")
    try:
        image.crop((0, 0, 1, 1)).convert("RGB")
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageRejected(f"a {width}x{height} image of mode {image.mode!r} cannot be read as RGB: {error}") from error


@dataclass
class VisionTextProcessor:
    tokenizer: Any
    image_processor: Any | None = None
    chat_template: str | None = None
    image_token: str = "<|image_pad|>"

    @property
    def merge_size(self) -> int:
        return int(getattr(self.image_processor, "merge_size", 2))

    def check_image(self, image: Any) -> None:
        """``ImageRejected`` naming why, unless the image processor can encode ``image`` as the picture it is.

        Beyond ``check_image_input``: a Qwen-style processor (``patch_size``, ``merge_size``, pixel limits) resizes
        with ``smart_resize``, which refuses an aspect ratio above 200; its own rule is run on the image's size.
        """
        check_image_input(image)
        processor = self.image_processor
        needed = ("patch_size", "merge_size", "min_pixels", "max_pixels")
        if processor is None or not all(isinstance(getattr(processor, k, None), int) for k in needed):
            return
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        width, height = image.size
        try:
            smart_resize(
                height, width, factor=processor.patch_size * processor.merge_size,
                min_pixels=processor.min_pixels, max_pixels=processor.max_pixels,
            )
        except ValueError as error:
            raise ImageRejected(f"the image processor cannot resize a {width}x{height} image: {error}") from error

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
            for index, image in enumerate(images):
                try:
                    self.check_image(image)
                except ImageRejected as error:
                    raise ImageRejected(f"image {index} of {len(images)}: {error}") from error
            rgb = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
            vision = self.image_processor(images=rgb, return_tensors="pt", input_data_format=CHANNELS_LAST)
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
