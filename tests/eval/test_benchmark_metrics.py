"""What each benchmark reports (``Benchmark.headline_label``, ``headline``, ``categories``), read from the summaries its
own ``summarize`` writes on real tiny data sets: the report and the runner ask the benchmark, never a table of their own."""

from __future__ import annotations

import pytest

from eval.benchmarks import BENCHMARKS, make_benchmark
from eval.report import headline
from eval.scoring import SCORING_MODES
from tests.eval.test_runner import BUILDERS


def test_every_benchmark_has_a_builder_here():
    assert set(BUILDERS) == set(BENCHMARKS)


@pytest.mark.parametrize("mode", SCORING_MODES)
@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_unparsable_outputs_give_a_zero_headline_and_bounded_categories(tmp_path, name, mode):
    bench = make_benchmark(name, *BUILDERS[name](tmp_path), env={})
    data = bench.load()
    summary = bench.summarize([bench.score("no action here", sample, "ui_tars", mode) for sample in data], data, mode)
    assert isinstance(bench.headline_label, str) and bench.headline_label
    assert bench.headline(summary) == headline(name, summary) == 0.0
    categories = bench.categories(summary)
    assert categories and all(isinstance(key, str) for key in categories)
    assert all(0.0 <= value <= 1.0 for value in categories.values()), categories


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_a_summary_without_the_headline_is_a_key_error_not_a_number(name):
    with pytest.raises(KeyError):
        BENCHMARKS[name].headline({"bad_records": {"count": 0}})


def test_an_unknown_benchmark_has_no_headline():
    with pytest.raises(KeyError, match="unknown benchmark 'nope'; known: agentnetbench"):
        headline("nope", {})
