"""The benchmark commands run on CPU with scaled-down shapes and report sound figures (timings are not asserted)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from agent.cli import app
from guikv.bench.gpu import CPU_SCALED, ScaleBenchConfig, check_finite, run_scale_bench
from guikv.bench.selection import SelectionShapes, run_selection_bench, shapes_for_family
from guikv.models import MODEL_SPECS, spec_of
from guikv.rope import attention_modules
from guikv.testing.registry import tiny_family
from tests.guikv.conftest import FAMILIES


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


@pytest.mark.parametrize("family", FAMILIES)
def test_selection_bench_at_each_family_shape(family):
    """Acceptance 5: ``bench selection --family`` takes the family's published heads and screenshot tokens."""
    shapes = shapes_for_family(family)
    wide = tiny_family(family).wide_shapes
    assert (shapes.heads, shapes.kv_heads, shapes.head_dim) == (wide.num_heads, wide.num_kv_heads, wide.dims_per_head())
    pixels = MODEL_SPECS[family].pixels
    assert shapes.tokens_per_screenshot == (pixels.tokens(1080, 1920) if pixels is not None else 2691)
    result = run_selection_bench(shapes_for_family(family, screenshots=2, tokens_per_screenshot=40), repeats=1)
    assert result.same_selection and result.vectorised_ms > 0


@pytest.mark.parametrize("family", FAMILIES)
def test_wide_shapes_build_a_valid_model_of_the_family(family):
    """The one-layer published-width shape builds (on the meta device: no memory) a model the hooks accept."""
    with torch.device("meta"):
        model = tiny_family(family).model(tiny_family(family).wide_shapes)
    text = model.config.get_text_config()
    wide = tiny_family(family).wide_shapes
    assert (text.hidden_size, text.num_attention_heads, text.num_key_value_heads) == (
        wide.hidden_size, wide.num_heads, wide.num_kv_heads)
    spec = spec_of(model)
    assert spec.name == family and len(attention_modules(model, spec.rope)) == 1
    assert spec.rope.decoder_layers(model)[0].self_attn.head_dim == wide.dims_per_head() == 128


@pytest.mark.parametrize("family", FAMILIES)
def test_memory_bench_runs_on_each_family(family):
    """Acceptance 5: ``bench memory --family`` on the scaled-down shape of every family."""
    out = CliRunner().invoke(app, ["bench", "memory", "--scaled-down", "--family", family, "--steps", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output.strip().splitlines()[-1])
    assert data["config"]["family"] == family and [r["step"] for r in data["rows"]] == [1, 2, 3]
    assert data["config"]["screenshot_tokens"] > 0
    assert all(r["persistent_prefill_tokens"] > 0 and r["reference_kv_bytes"] > 0 for r in data["rows"])


def test_unknown_family_is_named_by_the_cli():
    for command in ("memory", "selection"):
        out = CliRunner().invoke(app, ["bench", command, "--family", "gpt2"])
        assert out.exit_code == 2
        text = " ".join(out.output.replace("│", " ").split())  # the error box wraps lines
        assert f"unknown model family 'gpt2'; known: {', '.join(MODEL_SPECS)}" in text


def test_variants_bench_finds_layers_through_the_spec():
    from guikv.bench.variants import run_variants_bench

    result = run_variants_bench(0.2, screenshots=2)
    assert result.rows[0].overlap_with_default == 1.0 and result.residual_norm_cv > result.attention_input_norm_cv > 0
