"""Screenshot spans found from token ids (``<|vision_start|>`` + a run of ``<|image_pad|>`` + ``<|vision_end|>``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class VisionTokenIds:
    """The ids that delimit a screenshot in a model's expanded token sequence (``ModelSpec.image_tokens.ids``)."""

    image_pad: int
    vision_start: int | None = None
    vision_end: int | None = None


def image_spans(input_ids: torch.Tensor, ids: VisionTokenIds | None) -> list[tuple[int, int]]:
    """``[start, end)`` of each maximal run of image-pad tokens in a 1-D id sequence, in prompt order.

    A run is exactly the pad tokens (start = after ``<|vision_start|>``, end = at ``<|vision_end|>``), the span the
    GUI-KV reference scores. Adjacent images are always separated by their start/end tokens, so runs are images.
    """
    if ids is None or input_ids.numel() == 0:
        return []
    is_pad = (input_ids == ids.image_pad).to(torch.int8)
    edges = torch.diff(is_pad, prepend=is_pad.new_zeros(1), append=is_pad.new_zeros(1))
    starts = torch.nonzero(edges == 1).flatten().tolist()
    ends = torch.nonzero(edges == -1).flatten().tolist()
    return list(zip(starts, ends, strict=True))


def frame_labels(input_ids: torch.Tensor, ids: VisionTokenIds | None, first_frame: int) -> tuple[torch.Tensor, int]:
    """Per-token frame id (``-1`` for text) for a 1-D chunk whose first image gets id ``first_frame``.

    Returns the labels (long, same length) and the number of images found.
    """
    labels = torch.full(input_ids.shape, -1, dtype=torch.long, device=input_ids.device)
    spans = image_spans(input_ids, ids)
    for k, (start, end) in enumerate(spans):
        labels[start:end] = first_frame + k
    return labels, len(spans)


def last_vision_end(input_ids: torch.Tensor, ids: VisionTokenIds | None) -> int | None:
    """Index of the last ``<|vision_end|>`` (VL-Cache's post-vision window starts there), or ``None``."""
    if ids is None:
        return None
    marker = ids.vision_end if ids.vision_end is not None else ids.image_pad
    hits = torch.nonzero(input_ids == marker).flatten()
    return int(hits[-1]) if hits.numel() else None
