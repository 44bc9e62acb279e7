"""The benchmark commands run on CPU with scaled-down shapes and report sound figures (timings are not asserted)."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from agent.cli import app
from guikv.bench.gpu import CPU_SCALED, ScaleBenchConfig, check_finite, run_scale_bench
from guikv.bench.selection import SelectionShapes, run_selection_bench


def test_scale_bench_on_cpu_reports_positive_finite_figures():
    """Issue 6, acceptance 1: the scaled-down configuration on CPU; every figure positive and finite."""
    config = ScaleBenchConfig(methods=("full", "snap_kv", "gui_kv"), budgets=(0.1, 0.4), steps=6, reply_tokens=6,
                              shapes=CPU_SCALED, device="cpu", dtype="float32", screenshot=(160, 120),
                              min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 32)
    result = run_scale_bench(config)
    assert check_finite(result) == []
    keys = {(r.method, r.budget, r.mode) for r in result.rows}
    assert keys == {("full", 1.0, m) for m in ("persistent", "reference")} | {
        (m, b, mode) for m in ("snap_kv", "gui_kv") for b in (0.1, 0.4) for mode in ("persistent", "reference")}
    assert all(len([r for r in result.rows if (r.method, r.budget, r.mode) == k]) == 6 for k in keys)
    assert all(0 <= r.compress_share < 1 for r in result.rows)
    data = result.to_dict()
    assert data["environment"]["device"] == "cpu" and data["config"]["shapes"]["num_layers"] == 2


def test_selection_bench_selects_the_same_tokens():
    shapes = SelectionShapes(screenshots=2, tokens_per_screenshot=60, text_tokens=40)
    result = run_selection_bench(shapes, repeats=1, plain_loop=True)
    assert result.same_selection
    timings = (result.vectorised_ms, result.loop_ms, result.attention_ms, result.plain_loop_ms)
    assert all(math.isfinite(v) and v > 0 for v in timings)


def test_bench_cli_json():
    runner = CliRunner()
    out = runner.invoke(app, ["bench", "memory", "--scaled-down", "--steps", "6", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    rows = data["rows"]
    assert [r["step"] for r in rows] == list(range(1, 7))
    # the persistent session prefills only the new turn; the reference re-prefills up to 5 screenshots
    assert rows[-1]["reference_prefill_tokens"] > 3 * rows[-1]["persistent_prefill_tokens"]
    assert rows[-1]["reference_repeated_heads_kv_bytes"] > rows[-1]["reference_kv_bytes"]
    out = runner.invoke(app, ["bench", "selection", "--screenshots", "2", "--tokens-per-screenshot", "100", "--repeats", "1"])
    assert out.exit_code == 0 and "GUI-KV selection" in out.output and "True" in out.output
