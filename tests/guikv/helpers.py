"""Shared builders for guikv tests: conversations with screenshots, and a pad-only processor for 1-D models."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from guikv.processor import VisionTextProcessor
from guikv.testing import synthetic_screenshot

SIZES = [(112, 84), (84, 112), (140, 84), (112, 112)]


def conversation(n_turns: int = 3, sizes=SIZES) -> list[tuple[str, object]]:
    """A task turn, then per step a screenshot + text (each of a different size) and an assistant reply."""
    turns: list[tuple[str, object]] = [("user", "Task: open the settings menu and enable dark mode.")]
    for i in range(n_turns):
        w, h = sizes[i % len(sizes)]
        turns.append(
            ("user", [{"type": "image", "image": synthetic_screenshot(w, h, seed=i)}, {"type": "text", "text": f"Step {i}"}])
        )
        if i < n_turns - 1:
            turns.append(("assistant", f"Thought: step {i}.\nAction: click(point='<point>{10 * i} 20</point>')"))
    return turns


def images_of(turns) -> list:
    return [item["image"] for _, c in turns if isinstance(c, list) for item in c if "image" in item]


def as_messages(turns) -> list[dict]:
    return [{"role": r, "content": c} for r, c in turns]


@dataclass
class PadOnlyProcessor(VisionTextProcessor):
    """Expands each image to ``(w // 28) * (h // 28)`` image-pad tokens and sends no pixels.

    The tiny 1-D RoPE model has no vision tower (OpenCUA's real one expands placeholders inside its own forward);
    this still puts screenshot spans into the token stream so the 1-D path's spans, positions and pruning run.
    """

    def encode(self, text: str, images=None) -> dict[str, torch.Tensor]:
        images = list(images or [])
        parts = text.split(self.image_token)
        assert len(parts) == len(images) + 1
        counts = [max(1, (im.size[0] // 28) * (im.size[1] // 28)) for im in images]
        text = parts[0] + "".join(self.image_token * n + p for n, p in zip(counts, parts[1:], strict=True))
        return {"input_ids": self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]}


def pad_only(processor: VisionTextProcessor) -> PadOnlyProcessor:
    return PadOnlyProcessor(tokenizer=processor.tokenizer, image_processor=None, chat_template=processor.chat_template)
