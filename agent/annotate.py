"""Actions drawn on a screenshot (dry runs' annotated screenshots, the report's images): a marker for a point, an
arrow for a drag or a scroll, a numbered label for each, coloured by the outcome's status."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from environments.actions import Action, CallUser, Drag, Finished, Hotkey, Scroll, Type, Wait

# Marker colours by outcome status (unknown statuses, e.g. hand-written rows, get the first).
STATUS_COLORS = {
    "executed": (229, 72, 77),
    "terminal": (13, 116, 206),
    "failed": (247, 107, 21),
    "dry_run": (0, 144, 255),
    "declined": (120, 120, 120),
    "skipped": (160, 160, 160),
}



def describe(action: Action) -> str:
    """A short label: ``click``, ``type "abc" [enter]``, ``hotkey ctrl+c``, ``scroll down x5``..."""
    match action:
        case Type(text=text, submit=submit):
            shown = text if len(text) <= 40 else text[:37] + "..."
            return f"type {json.dumps(shown, ensure_ascii=True)}" + (" [enter]" if submit else "")
        case Hotkey(keys=keys):
            return "hotkey " + "+".join(keys)
        case Scroll(direction=direction, amount=amount):
            return f"scroll {direction} x{amount}"
        case Wait(seconds=seconds):
            return f"wait {seconds:g}s"
        case Finished(content=content):
            return f"finished: {content}" if content else "finished"
        case CallUser(reason=reason):
            return f"call_user: {reason}" if reason else "call_user"
    return action.kind


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color: tuple[int, int, int],
           font: Any, bounds: tuple[int, int]) -> float:
    """Draw ``text`` on a filled box whose top-left is near ``xy``, kept inside ``bounds``; returns the box height."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = 3
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(0.0, xy[0]), max(0.0, bounds[0] - width))
    y = min(max(0.0, xy[1]), max(0.0, bounds[1] - height))
    draw.rectangle((x, y, x + width, y + height), fill=(*color, 215))
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255, 255), font=font)
    return height


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float],
           color: tuple[int, int, int], width: int) -> None:
    draw.line((start, end), fill=(*color, 255), width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = 4 * width + 6
    left = (end[0] - head * math.cos(angle - 0.45), end[1] - head * math.sin(angle - 0.45))
    right = (end[0] - head * math.cos(angle + 0.45), end[1] - head * math.sin(angle + 0.45))
    draw.polygon((end, left, right), fill=(*color, 255))


def _marker(draw: ImageDraw.ImageDraw, point: tuple[float, float], color: tuple[int, int, int], unit: float) -> None:
    x, y = point
    radius = 9 * unit
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=(*color, 255), width=max(2, round(2 * unit)))
    arm = radius + 6 * unit
    for dx, dy in ((1, 0), (0, 1)):
        draw.line(((x - arm * dx, y - arm * dy), (x - radius * dx, y - radius * dy)), fill=(*color, 255), width=2)
        draw.line(((x + radius * dx, y + radius * dy), (x + arm * dx, y + arm * dy)), fill=(*color, 255), width=2)
    dot = max(2.0, 2 * unit)
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=(*color, 255))


_SCROLL_VECTORS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def annotate(image: Image.Image, actions: Sequence[Action], statuses: Sequence[str | None] | None = None
             ) -> Image.Image:
    """A copy of ``image`` with each action drawn: a ring and cross-hair on its point, an arrow for a drag (start to
    end) or a scroll (towards the content it reveals), and a numbered label; actions without a point are listed in
    the top-left corner. Colours follow the outcome status (``STATUS_COLORS``)."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    unit = max(1.0, base.width / 600)  # reports show screenshots scaled down: draw big enough to read there
    font = _font(max(12, round(16 * unit)))
    statuses = list(statuses or [])
    corner_y = 4.0
    for index, action in enumerate(actions):
        status = statuses[index] if index < len(statuses) else None
        color = STATUS_COLORS.get(status or "executed", STATUS_COLORS["executed"])
        text = f"{index + 1}. {describe(action)}" + (f" ({status})" if status not in (None, "executed") else "")
        if isinstance(action, Drag):
            _marker(draw, action.start, color, unit * 0.7)
            _arrow(draw, action.start, action.end, color, max(2, round(3 * unit)))
            _label(draw, (action.start[0] + 12 * unit, action.start[1] + 12 * unit), text, color, font, base.size)
        elif isinstance(action, Scroll):
            origin = action.point if action.point is not None else (base.width / 2, base.height / 2)
            dx, dy = _SCROLL_VECTORS.get(action.direction, (0, 1))
            length = 60 * unit
            _arrow(draw, origin, (origin[0] + dx * length, origin[1] + dy * length), color, max(2, round(3 * unit)))
            _label(draw, (origin[0] + 12 * unit, origin[1] - 28 * unit), text, color, font, base.size)
        elif action.points:
            point = action.points[0]
            _marker(draw, point, color, unit)
            _label(draw, (point[0] + 14 * unit, point[1] + 10 * unit), text, color, font, base.size)
        else:
            corner_y += _label(draw, (4, corner_y), text, color, font, base.size) + 3
    return Image.alpha_composite(base, overlay).convert("RGB")
