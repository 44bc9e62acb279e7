"""The ``guikv-agent`` command line: a thin typer layer over the library (run, replay, eval, report, bench)."""

from __future__ import annotations

import typer

from agent.commands import register_agent_commands
from agent.serve.commands import register_serve_command
from eval.commands import register_eval_commands
from guikv.bench.commands import bench_app

app = typer.Typer(
    name="guikv-agent",
    help=(
        "GUI agents with a compressed, persistent KV memory (GUI-KV).\n\n"
        "run: drive a browser or the desktop with UI-TARS, OpenCUA or Qwen3-VL (here, or --endpoint).  replay: re-execute "
        "a recorded run.\n"
        "report: rebuild a run folder's report, or tabulate eval results.  eval: offline benchmark replay with budget "
        "sweeps.  bench: speed and memory measurements.\n"
        "serve: an OpenAI-compatible endpoint whose conversations keep a compressed cache."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_serve_command(app, bench_app)
register_eval_commands(app)
register_agent_commands(app)  # after eval's: its `report` also reads run folders and hands the rest to eval's
app.add_typer(bench_app, name="bench")

if __name__ == "__main__":
    app()
