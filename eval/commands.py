"""CLI commands of the offline evaluation: ``eval`` and ``report`` (being written)."""

from __future__ import annotations

import typer


def register_eval_commands(app: typer.Typer) -> None:
    """Add ``eval`` and ``report`` to ``app``."""
