"""``bench serve`` at a scaled-down shape (the real figures are in BENCHMARKS.md): with reuse the server prefills one
turn per request and its replies equal the direct session's (the bench raises otherwise); without reuse it prefills
the whole window."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from agent.cli import app
from agent.serve.bench import SCALED_DOWN, ServeBenchConfig, run_serve_bench


def test_bench_serve_scaled_down():
    config = ServeBenchConfig(steps=7, window=3, reply_tokens=3, shapes=SCALED_DOWN, screenshot=(160, 100),
                              min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    result = run_serve_bench(config)
    rows = result.rows
    assert [r.reuse_match for r in rows] == ["miss", "extend", "extend", "slide", "slide", "slide", "slide"]
    assert all(r.reuse_prefill_tokens < r.no_reuse_prefill_tokens for r in rows[1:])
    assert len({r.reuse_prefill_tokens for r in rows[1:]}) == 1  # one screenshot turn each step
    assert result.to_dict()["prefill_ratio_from_step_6"] > 0
    # the model time each side measured is part of, and less than, its wall time
    assert all(0 < r.server_model_s < r.server_request_s for r in rows)
    assert all(0 < r.direct_model_s <= r.direct_s for r in rows)
    assert -1 < result.to_dict()["server_own_overhead"] == result.own_overhead()


def test_bench_serve_command_prints_both_tables_and_both_overheads():
    out = CliRunner().invoke(app, ["bench", "serve", "--scaled-down", "--steps", "6", "--window", "3",
                                   "--reply-tokens", "2"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # rich wraps at the terminal's width
    assert "reuse on vs off" in text and "MemorySession directly, seconds" in text
    assert "no reuse / reuse =" in text and "model time taken out of both" in text
    figures = CliRunner().invoke(app, ["bench", "serve", "--scaled-down", "--steps", "4", "--window", "2",
                                       "--reply-tokens", "2", "--json"])
    assert figures.exit_code == 0, figures.output
    result = json.loads(figures.output)
    assert len(result["rows"]) == 4 and math.isfinite(result["server_own_overhead"])


def test_bench_serve_refuses_a_bad_count():
    out = CliRunner().invoke(app, ["bench", "serve", "--steps", "0"])
    assert out.exit_code == 2 and "--steps" in out.output
