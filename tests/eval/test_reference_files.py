"""Each benchmark owns its reference result files (``eval/benchmarks/<name>_files.py``): every registered benchmark
has a writer (the runner asks the run's benchmark for its files; ``eval.results.write_run_files`` writes them).
What the files hold is checked by the sweep tests (``test_runner.py``) and each benchmark's own tests."""

from __future__ import annotations

import importlib

import pytest

from eval.benchmarks import BENCHMARKS
from eval.benchmarks.base import Benchmark


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_writes_its_own_reference_files(name):
    cls = BENCHMARKS[name]
    assert cls.reference_files.__func__ is not Benchmark.reference_files.__func__, f"{name} has no reference_files"
    module = importlib.import_module(f"{cls.__module__}_files")
    assert callable(module.reference_files)

