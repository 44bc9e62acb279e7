"""``bench serve`` at a scaled-down shape (the real figures are in BENCHMARKS.md): with reuse the server prefills one
turn per request and its replies equal the direct session's (the bench raises otherwise); without reuse it prefills
the whole window."""

from __future__ import annotations

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
