"""``guikv-agent bench ...``: selection, memory and GPU-shape benchmarks (being written)."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Speed and memory benchmarks; each prints a table (--json for machines).", no_args_is_help=True)
