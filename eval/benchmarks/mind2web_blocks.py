"""Mind2Web block images: where they are on disk, and which block holds a full-page box (UGround's ``make_blocks``).

UGround cuts each full-page screenshot into vertical tiles ``BLOCK_WIDTH`` (or the page width, if narrower) by
``BLOCK_HEIGHT`` pixels that overlap by ``BLOCK_OVERLAP``, so block ``k`` starts ``k * (BLOCK_HEIGHT - BLOCK_OVERLAP)``
pixels down the page; a box belongs to a block when it lies entirely inside the block's full ``BLOCK_WIDTH`` x
``BLOCK_HEIGHT`` frame (its test, even for a last block that is shorter). It writes them to
``<output>/<annotation_id>_<action_uid>/<k>.png``; the block-image archive the reference reads has a ``cross_<split>/``
level above those folders. Both layouts are found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval.benchmarks.records import MissingImage

BLOCK_WIDTH, BLOCK_HEIGHT, BLOCK_OVERLAP = 1280, 1000, 200

Box = tuple[float, float, float, float]


def block_folder(images_dir: Path, split: str, name: str) -> Path:
    """``<images>/cross_<split>/<name>`` when it holds a ``0.png``, else ``<images>/<name>``; MissingImage otherwise."""
    nested, flat = images_dir / f"cross_{split}" / name, images_dir / name
    for folder in (nested, flat):
        if (folder / "0.png").is_file():
            return folder
    raise MissingImage(nested / "0.png", also=flat / "0.png")


def is_regular_tiling(sizes: Sequence[tuple[int, int]]) -> bool:
    """Whether block sizes ``(width, height)`` are exactly what the tiling makes of some page: one width, every block
    but the last ``BLOCK_HEIGHT`` high, and as many blocks as that page height gives (``make_blocks`` adds an extra,
    randomly placed block when no tile holds the target, and does not record where)."""
    if not sizes:
        return False
    width = sizes[0][0]
    if width > BLOCK_WIDTH or any(w != width for w, _ in sizes):
        return False
    if any(h != BLOCK_HEIGHT for _, h in sizes[:-1]) or not 0 < sizes[-1][1] <= BLOCK_HEIGHT:
        return False
    stride = BLOCK_HEIGHT - BLOCK_OVERLAP
    page_height = stride * (len(sizes) - 1) + sizes[-1][1]
    return (page_height - BLOCK_OVERLAP) // stride + 1 == len(sizes)


def _fits(start: float, length: float, extent: float) -> bool:
    return 0 <= start < extent and 0 <= start + length <= extent


def tile_targets(boxes: Sequence[Box], sizes: Sequence[tuple[int, int]]) -> dict[str, tuple[Box, ...]]:
    """Per-block boxes (block index -> xywh in that block's pixels) of full-page ``boxes``, by the tiling's rule.

    Empty when the blocks are not a regular tiling (their offsets are then unknown) or no tile holds a box whole.
    """
    if not is_regular_tiling(sizes):
        return {}
    width, stride = sizes[0][0], BLOCK_HEIGHT - BLOCK_OVERLAP
    targets: dict[str, tuple[Box, ...]] = {}
    for k in range(len(sizes)):
        top = k * stride
        inside = tuple((x, y - top, w, h) for x, y, w, h in boxes if _fits(x, w, width) and _fits(y - top, h, BLOCK_HEIGHT))
        if inside:
            targets[str(k)] = inside
    return targets
