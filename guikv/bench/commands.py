"""``guikv-agent bench ...``: selection, memory and device-scale benchmarks (tables; ``--json`` for machines)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

bench_app = typer.Typer(
    help="Speed and memory benchmarks; each prints a table (--json for machines). Runs on CPU or a GPU.",
    no_args_is_help=True,
)
console = Console()


def _csv(text: str, cast=str) -> tuple:
    return tuple(cast(x.strip()) for x in text.split(",") if x.strip())


def _family(name: str) -> str:
    """A registered model family name, or a typer error listing them (the CLI's boundary for ``--family``)."""
    from guikv.models import MODEL_SPECS

    if name not in MODEL_SPECS:
        raise typer.BadParameter(f"unknown model family {name!r}; known: {', '.join(MODEL_SPECS)}", param_hint="--family")
    return name


FAMILY_HELP = "model family whose layer shape to use (guikv.models.MODEL_SPECS), e.g. qwen2_5_vl, qwen3_vl, glm4v"


@bench_app.command("selection")
def selection(
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    family: Annotated[str, typer.Option(help=FAMILY_HELP, callback=_family)] = "qwen2_5_vl",
    screenshots: Annotated[int, typer.Option(help="screenshots in the context")] = 5,
    tokens_per_screenshot: Annotated[int | None, typer.Option(
        help="LLM tokens per screenshot (default: a 1920x1080 screenshot's for the family, 2691 for Qwen2.5-VL)")] = None,
    budget: Annotated[float, typer.Option(help="budget fraction")] = 0.1,
    repeats: Annotated[int, typer.Option(help="timing repeats (the median is reported)")] = 5,
    plain_loop: Annotated[bool, typer.Option(help="also time the tests' plain per-token loop (slow: ~a minute)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """GUI-KV selection time for one layer at a family's published shape (default UI-TARS-1.5-7B): vectorised vs a
    reference-style per-head loop, and as a share of that layer's prefill attention (target: >= 20x faster than the
    loop, <= 2% of prefill). --plain-loop also times the plain per-token loop the tests check the selection against."""
    from guikv.bench.selection import run_selection_bench, shapes_for_family

    shapes = shapes_for_family(family, screenshots=screenshots, tokens_per_screenshot=tokens_per_screenshot, budget=budget)
    with console.status("timing selection and prefill attention..."):
        result = run_selection_bench(shapes, device=device, repeats=repeats, plain_loop=plain_loop)
    if as_json:
        print(json.dumps({"family": family, **asdict(result)}))
        return
    table = Table(title=f"GUI-KV selection, one {family} layer ({shapes.heads}/{shapes.kv_heads} heads, head dim "
                        f"{shapes.head_dim}), {result.seq_len} tokens, {result.device}")
    for col in ("vectorised ms", "per-head loop ms", "speed-up", "prefill attention ms", "share of prefill", "same tokens"):
        table.add_column(col, justify="right")
    table.add_row(f"{result.vectorised_ms:.2f}", f"{result.loop_ms:.2f}", f"{result.speedup:.1f}x",
                  f"{result.attention_ms:.1f}", f"{100 * result.share_of_attention:.2f}%", str(result.same_selection))
    console.print(table)
    if result.plain_loop_ms is not None:
        console.print(f"plain per-token loop: {result.plain_loop_ms:.0f} ms, {result.plain_speedup:.0f}x the vectorised time")


@bench_app.command("memory")
def memory(
    steps: Annotated[int, typer.Option(help="steps of the synthetic task")] = 20,
    method: Annotated[str, typer.Option(help="compression method")] = "gui_kv",
    budget: Annotated[float, typer.Option(help="reference budget fraction; the persistent session gets the same tokens")] = 0.1,
    history: Annotated[int, typer.Option(help="screenshots the reference mode re-prefills")] = 5,
    scaled_down: Annotated[bool, typer.Option(help="small model and screenshots (a quick check, not the benchmark)")] = False,
    family: Annotated[str, typer.Option(help=FAMILY_HELP, callback=_family)] = "qwen2_5_vl",
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Per-step prefill time and KV bytes: persistent compressed session vs re-prefilling the last N screenshots,
    on 1280x800 screenshots and one layer of the family's published width (default UI-TARS-1.5-7B's; target: >= 4x
    less time from step 5)."""
    from guikv.bench.memory import SCALED_DOWN, MemoryBenchConfig, run_memory_bench

    config = MemoryBenchConfig(steps=steps, method=method, budget=budget, history=history, device=device, family=family)
    if scaled_down:
        config = MemoryBenchConfig(steps=steps, method=method, budget=budget, history=history, device=device, family=family,
                                   shapes=SCALED_DOWN, screenshot=(320, 200), min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("steps", total=steps)
        result = run_memory_bench(config, on_step=lambda row: progress.advance(task))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    table = Table(title=f"{method} on {family}: persistent session vs reference re-prefill of {history} screenshots")
    for col in ("step", "persistent s", "reference s", "ratio", "persistent tokens", "reference tokens",
                "persistent KV MB", "reference KV MB", "reference repeated-heads KV MB"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(str(r.step), f"{r.persistent_prefill_s:.3f}", f"{r.reference_prefill_s:.3f}",
                      f"{r.reference_prefill_s / max(r.persistent_prefill_s, 1e-9):.1f}x", str(r.persistent_prefill_tokens),
                      str(r.reference_prefill_tokens), f"{r.persistent_kv_bytes / 2**20:.2f}",
                      f"{r.reference_kv_bytes / 2**20:.2f}", f"{r.reference_repeated_heads_kv_bytes / 2**20:.2f}")
    console.print(table)
    console.print(f"time per step from step 5: reference / persistent = {result.speedup_from(5):.2f}x")


@bench_app.command("gpu")
def gpu(
    device: Annotated[str, typer.Option(help="cuda (7B shape) or cpu (scaled-down shape)")] = "cuda",
    methods: Annotated[str, typer.Option(help="comma-separated methods")] = "full,snap_kv,gui_kv",
    budgets: Annotated[str, typer.Option(help="comma-separated budget fractions")] = "0.1,0.2,0.4",
    steps: Annotated[int, typer.Option(help="steps of the synthetic task")] = 20,
    reply_tokens: Annotated[int, typer.Option(help="decoded tokens per step")] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Peak memory, time to first token, decode tokens/s and compression share per method, budget and memory mode,
    for UI-TARS-1.5-7B's shape with random bf16 weights on a GPU, or a scaled-down shape on CPU."""
    from guikv.bench.gpu import CPU_SCALED, ScaleBenchConfig, run_scale_bench

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise typer.BadParameter("no CUDA device here; use --device cpu for the scaled-down configuration")
        config = ScaleBenchConfig(methods=_csv(methods), budgets=_csv(budgets, float), steps=steps, reply_tokens=reply_tokens)
    else:
        config = ScaleBenchConfig(methods=_csv(methods), budgets=_csv(budgets, float), steps=steps, reply_tokens=reply_tokens,
                                  shapes=CPU_SCALED, device="cpu", dtype="float32", screenshot=(320, 200),
                                  min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    runs = sum(1 if m == "full" else len(config.budgets) for m in config.methods) * len(config.modes) * steps
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("runs", total=runs)
        result = run_scale_bench(config, on_row=lambda row: progress.advance(task))
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    table = Table(title=f"scale bench on {result.environment.get('gpu', device)} (mean over steps >= 5)")
    for col in ("method", "budget", "mode", "TTFT s", "decode tok/s", "peak MB", "KV MB", "compress share"):
        table.add_column(col, justify="right")
    groups: dict[tuple, list] = {}
    for r in result.rows:
        if r.step >= 5:
            groups.setdefault((r.method, r.budget, r.mode), []).append(r)
    for (m, b, mode), rows in groups.items():
        n = len(rows)
        table.add_row(m, f"{b:g}", mode, f"{sum(r.ttft_s for r in rows) / n:.3f}",
                      f"{sum(r.decode_tokens_per_s for r in rows) / n:.1f}",
                      f"{max(r.peak_memory_bytes for r in rows) / 2**20:.1f}",
                      f"{sum(r.kv_bytes for r in rows) / n / 2**20:.2f}", f"{100 * sum(r.compress_share for r in rows) / n:.1f}%")
    console.print(table)


@bench_app.command("variants")
def variants(
    budgets: Annotated[str, typer.Option(help="comma-separated budget fractions")] = "0.1,0.2,0.4",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """GUI-KV's paper choices vs the reference code's (saliency signal, temporal basis) on the tiny model: overlap of
    the kept tokens with the paper defaults, and how uniform each saliency signal is."""
    from guikv.bench.variants import run_variants_bench

    results = [run_variants_bench(b) for b in _csv(budgets, float)]
    if as_json:
        print(json.dumps([r.to_dict() for r in results]))
        return
    table = Table(title="GUI-KV variants on the tiny Qwen2.5-VL (4 screenshots, 48 tokens each)")
    for col in ("budget", "variant", "overlap with paper default", "current screenshot kept", "earlier screenshots kept"):
        table.add_column(col, justify="right")
    for r in results:
        for row in r.rows:
            table.add_row(f"{r.budget:g}", row.variant, f"{100 * row.overlap_with_default:.1f}%",
                          f"{row.screenshot_tokens_kept:.1f}", f"{row.earlier_screenshot_tokens_kept:.1f}")
    console.print(table)
    r = results[0]
    console.print(f"norm spread (std/mean) over the current screenshot: residual stream {r.residual_norm_cv:.4f}, "
                  f"RMS-normed attention input {r.attention_input_norm_cv:.4f}")
