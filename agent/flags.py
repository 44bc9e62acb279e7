"""Command-line flags turned into values: ``WIDTHxHEIGHT`` viewports and ``key=value`` option lists."""

from __future__ import annotations

import json
from typing import Any

import typer


def viewport(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter(f"expected WIDTHxHEIGHT in CSS pixels like 1280x800, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise typer.BadParameter(f"the viewport needs positive sides, got {text!r}")
    return width, height


def options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse (numbers, true/false, lists), else strings."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{flag} takes key=value, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options
