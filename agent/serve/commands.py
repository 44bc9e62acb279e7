"""``guikv-agent serve``: flags are checked before the model loads, then uvicorn serves the app in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from guikv.budget import Budget
from guikv.presses.registry import PRESSES

SERVE_HELP = """Serve the model as an OpenAI-compatible chat-completions endpoint whose conversations keep a compressed
KV cache: a request that extends a conversation the server has seen prefills only its new turns; a client that
resends the last N screenshots (UI-TARS-desktop, cua, browser-use) has the screenshot that left its window dropped
from the cache instead of re-prefilling the window.

  guikv-agent serve --model ./UI-TARS-1.5-7B --kv gui_kv --budget 4096 --device cuda --port 8000

Then point any OpenAI client at http://HOST:PORT/v1 (model name: --served-model-name, default the folder's name).
Pin a conversation with an X-Session-Id header or the `user` field. GET /health, /v1/models, /metrics (Prometheus).
--no-reuse makes every request a fresh session (what a stateless server does); the README says what is exact and
what is an approximation."""


def register_serve_command(app: typer.Typer, bench_app: typer.Typer) -> None:
    """``serve`` on the main app; ``bench serve`` (the server's benchmark lives with the server) on ``bench``."""
    app.command("serve", help=SERVE_HELP)(serve)
    bench_app.command("serve")(bench_serve)


def serve(
    model: Annotated[str, typer.Option(help="Hub id or a save_pretrained folder.")] = "ByteDance-Seed/UI-TARS-1.5-7B",
    kv: Annotated[str, typer.Option(help=f"KV-cache compression method: {', '.join(PRESSES)}.")] = "gui_kv",
    budget: Annotated[str, typer.Option(help="KV budget per layer: a token count (4096: memory per session stays flat), "
                                             "a fraction (0.1) or a percent; ignored by --kv full.")] = "4096",
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    served_model_name: Annotated[str | None, typer.Option(help="The `model` clients must send (default: the last "
                                                                "part of --model).")] = None,
    max_cache_gb: Annotated[float, typer.Option(help="Cap on the KV bytes of all sessions; least recently used "
                                                     "sessions are evicted over it.")] = 8.0,
    max_sessions: Annotated[int, typer.Option(help="Cap on the sessions held.")] = 64,
    no_reuse: Annotated[bool, typer.Option("--no-reuse", help="Every request is a fresh session (no cache reuse).")
                        ] = False,
    allow_remote_images: Annotated[bool, typer.Option(help="Fetch http(s) image URLs (refused by default).")] = False,
    max_images: Annotated[int, typer.Option(help="Images per request.")] = 16,
    max_image_mb: Annotated[float, typer.Option(help="Encoded bytes per image, in MiB.")] = 8.0,
    max_image_pixels: Annotated[int, typer.Option(help="Width x height per image.")] = 4096 * 4096,
    max_body_mb: Annotated[float, typer.Option(help="Request body size, in MiB.")] = 64.0,
    max_messages: Annotated[int, typer.Option(help="Messages per request.")] = 1024,
    max_tokens: Annotated[int, typer.Option(help="Largest max_tokens a request may ask for.")] = 4096,
    default_max_tokens: Annotated[int, typer.Option(help="Reply tokens when a request sets none.")] = 512,
    max_context: Annotated[int | None, typer.Option(help="Context limit in positions (default: the model's).")] = None,
    max_queued: Annotated[int, typer.Option(help="Requests waiting for the model before 429s.")] = 64,
    device: Annotated[str, typer.Option(help="torch device: cpu, cuda, cuda:1 (one process per GPU).")] = "cpu",
    dtype: Annotated[str, typer.Option(help="auto (bf16 on GPU, fp32 on CPU), bf16, fp16, fp32.")] = "auto",
    min_pixels: Annotated[int | None, typer.Option(help="Image processor min pixels (default: the family's).")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Image processor max pixels (default: the family's).")] = None,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow the model's own code (OpenCUA).")] = False,
) -> None:
    import uvicorn

    from agent.serve.app import ServerLimits, create_app
    from agent.serve.canonical import ImageLimits
    from agent.serve.engine import Engine
    from agent.serve.metrics import ServerMetrics
    from agent.serve.service import ChatService, SessionConfig
    from agent.serve.store import SessionStore
    from guikv.loading import ModelLoadError, load_model

    if kv not in PRESSES:
        raise typer.BadParameter(f"unknown method {kv!r}; known: {', '.join(PRESSES)}", param_hint="--kv")
    try:
        parsed_budget = None if kv == "full" else Budget.parse(budget).value
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from None
    positive = {"--port": port, "--max-sessions": max_sessions, "--max-images": max_images, "--max-tokens": max_tokens,
                "--max-messages": max_messages,
                "--default-max-tokens": default_max_tokens, "--max-queued": max_queued,
                "--max-image-pixels": max_image_pixels}
    for flag, value in positive.items():
        if value < 1 or (flag == "--port" and value > 65535):
            raise typer.BadParameter(f"must be a positive integer{' <= 65535' if flag == '--port' else ''}, got {value}",
                                     param_hint=flag)
    for flag, value in {"--max-cache-gb": max_cache_gb, "--max-image-mb": max_image_mb, "--max-body-mb": max_body_mb}.items():
        if not value > 0:
            raise typer.BadParameter(f"must be > 0, got {value}", param_hint=flag)
    if default_max_tokens > max_tokens:
        raise typer.BadParameter(f"{default_max_tokens} is over --max-tokens {max_tokens}", param_hint="--default-max-tokens")
    if max_context is not None and max_context < 1:
        raise typer.BadParameter(f"must be positive, got {max_context}", param_hint="--max-context")
    name = served_model_name or Path(model.rstrip("/")).name or model
    try:
        loaded, processor = load_model(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code,
                                       min_pixels=min_pixels, max_pixels=max_pixels)
    except (ModelLoadError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from None
    config = SessionConfig(method=kv, budget=parsed_budget, max_context=max_context, reuse=not no_reuse)
    metrics = ServerMetrics()
    store = SessionStore(max_bytes=int(max_cache_gb * 2**30), max_sessions=max_sessions)
    service = ChatService(loaded, processor, config, store, metrics)
    try:
        service.new_session().close()  # the method and budget are valid for this model before anyone connects
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--budget") from None
    limits = ServerLimits(
        max_body_bytes=int(max_body_mb * 2**20), max_tokens=max_tokens, default_max_tokens=default_max_tokens,
        max_messages=max_messages,
        images=ImageLimits(max_images=max_images, max_image_bytes=int(max_image_mb * 2**20), max_pixels=max_image_pixels,
                           allow_remote=allow_remote_images),
    )
    app = create_app(service, name, engine=Engine(max_queued=max_queued), limits=limits)
    typer.echo(f"serving {model} as {name!r} ({kv}, budget {budget}, reuse {'off' if no_reuse else 'on'}) on "
               f"http://{host}:{port}/v1", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def bench_serve(
    steps: Annotated[int, typer.Option(help="steps of the sliding-window client")] = 20,
    window: Annotated[int, typer.Option(help="screenshots per request (UI-TARS-desktop sends 5)")] = 5,
    method: Annotated[str, typer.Option(help="compression method")] = "gui_kv",
    budget: Annotated[float, typer.Option(help="budget as a fraction of a full window's tokens")] = 0.1,
    reply_tokens: Annotated[int, typer.Option(help="max_tokens per request")] = 8,
    family: Annotated[str, typer.Option(help="model family whose layer width to use")] = "qwen2_5_vl",
    scaled_down: Annotated[bool, typer.Option(help="small model and screenshots (a quick check, not the benchmark)")
                           ] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """The 20-step sliding-window client against `serve` with reuse on vs off (off = a stateless server), on one
    layer of the family's published width: per-request prefill time (target: >= 4x lower with reuse from step 6)
    and the server's overhead per request vs calling MemorySession directly (target: <= 5 %)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from agent.serve.bench import SCALED_DOWN, ServeBenchConfig, run_serve_bench
    from guikv.models import MODEL_SPECS

    if family not in MODEL_SPECS:
        raise typer.BadParameter(f"unknown model family {family!r}; known: {', '.join(MODEL_SPECS)}", param_hint="--family")
    if steps < 1 or window < 1 or reply_tokens < 1:
        raise typer.BadParameter("--steps, --window and --reply-tokens must be positive")
    options = {"steps": steps, "window": window, "method": method, "budget": budget, "reply_tokens": reply_tokens,
               "family": family, "device": device}
    if scaled_down:
        options.update(shapes=SCALED_DOWN, screenshot=(320, 200), min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    console = Console()
    with console.status("running the sliding-window client..."):
        result = run_serve_bench(ServeBenchConfig(**options))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    prefill = Table(title=f"prefill, {method} on {family}: a {window}-screenshot window client, reuse on vs off")
    for col in ("step", "match", "reuse s", "no-reuse s", "ratio", "reuse tokens", "no-reuse tokens", "cached"):
        prefill.add_column(col, justify="right", overflow="fold")
    overhead = Table(title="per request: the server (reuse on) vs MemorySession directly, seconds")
    for col in ("step", "server wall", "server model", "server other", "direct wall", "direct model", "direct other"):
        overhead.add_column(col, justify="right", overflow="fold")
    for r in result.rows:
        prefill.add_row(str(r.step), r.reuse_match, f"{r.reuse_prefill_s:.3f}", f"{r.no_reuse_prefill_s:.3f}",
                        f"{r.no_reuse_prefill_s / max(r.reuse_prefill_s, 1e-9):.1f}x", str(r.reuse_prefill_tokens),
                        str(r.no_reuse_prefill_tokens), str(r.reuse_cached_tokens))
        overhead.add_row(str(r.step), f"{r.server_request_s:.3f}", f"{r.server_model_s:.3f}",
                         f"{r.server_request_s - r.server_model_s:.3f}", f"{r.direct_s:.3f}", f"{r.direct_model_s:.3f}",
                         f"{r.direct_s - r.direct_model_s:.3f}")
    console.print(prefill)
    console.print(overhead)
    console.print(f"prefill time from step 6: no reuse / reuse = {result.prefill_ratio_from(6):.2f}x; server overhead "
                  f"per request vs MemorySession directly: {100 * result.overhead():+.2f} % of wall time; the server's own "
                  f"work (model time taken out of both): {100 * result.own_overhead():+.2f} %")
