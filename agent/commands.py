"""CLI commands of the agent: ``run`` and ``replay`` (being written)."""

from __future__ import annotations

import typer


def register_agent_commands(app: typer.Typer) -> None:
    """Add ``run`` and ``replay`` to ``app``."""
