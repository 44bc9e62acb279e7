"""Each benchmark owns its reference result files (``eval/benchmarks/<name>_files.py``): every registered benchmark
has a writer, ``eval.results.reference_files`` dispatches through the registry, and an unknown one is named.
What the files hold is checked by the sweep tests (``test_runner.py``) and each benchmark's own tests."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from eval.benchmarks import BENCHMARKS
from eval.benchmarks.base import Benchmark
from eval.results import reference_files


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_writes_its_own_reference_files(name):
    cls = BENCHMARKS[name]
    assert cls.reference_files.__func__ is not Benchmark.reference_files.__func__, f"{name} has no reference_files"
    module = importlib.import_module(f"{cls.__module__}_files")
    assert callable(module.reference_files)


def test_an_unknown_benchmark_is_named_with_the_known_ones():
    result = SimpleNamespace(run=SimpleNamespace(benchmark="nope"))
    with pytest.raises(KeyError, match="unknown benchmark 'nope'; known: "):
        reference_files(result)
