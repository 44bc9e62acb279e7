"""Shared builders for guikv tests: conversations with screenshots of unequal sizes."""

from __future__ import annotations

from guikv.testing import synthetic_screenshot
from guikv.testing.pad_only import pad_only

__all__ = ["SIZES", "as_messages", "conversation", "images_of", "pad_only"]

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
