"""Helpers that write small benchmark data sets in the real on-disk schemas (images made with PIL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

# Sizes that are multiples of 28 with area >= 78,400 stay unchanged under smart resize, so model pixels equal image
# pixels and expected normalized coordinates can be worked out by hand.
WIDE = (700, 280)
PORTRAIT = (280, 560)
SQUARE = (280, 280)


def png(path: Path, size: tuple[int, int] = WIDE, shade: int = 0) -> Path:
    """A small RGB PNG with a diagonal line, so it is a real image that decodes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, (shade % 256, 40, 90))
    for i in range(min(size)):
        image.putpixel((i, i), (255, 255, 255))
    image.save(path)
    return path


def garbage(path: Path) -> Path:
    """A file with an image name that does not decode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not the rest of a png")
    return path


def truncated(path: Path, size: tuple[int, int] = WIDE) -> Path:
    """A PNG cut in half: the header reads, decoding fails."""
    png(path, size)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows), encoding="utf-8")
    return path


def ui_tars_click(x: int, y: int, verb: str = "click") -> str:
    return f"Thought: I will {verb} the target.\nAction: {verb}(point='<point>{x} {y}</point>')"


def assert_serialisable(summary: dict, scores: list) -> None:
    """Summaries and per-sample rows must be plain JSON (the runner writes them as result files)."""
    json.loads(json.dumps(summary))
    rows = json.loads(json.dumps([score.to_dict() for score in scores]))
    assert all({"sample_id", "value", "mode", "adapter", "meta"} <= set(row) for row in rows)
