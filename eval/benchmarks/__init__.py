"""Offline GUI-agent benchmarks of the GUI-KV paper: loaders, sample construction, prediction mapping and scorers.

``BENCHMARKS`` maps a benchmark name to its class; :func:`make_benchmark` locates one's data (arguments, else its
environment variables). See :mod:`eval.benchmarks.base` for the runner seam.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eval.benchmarks.agentnetbench import AgentNetBench
from eval.benchmarks.androidcontrol import AndroidControl
from eval.benchmarks.base import Benchmark, Dataset, Episode, ImageRef, Message, Sample, Score, to_chat
from eval.benchmarks.mind2web import Mind2Web
from eval.benchmarks.records import BadRecord, BenchmarkDataError
from eval.benchmarks.screenspot_pro import ScreenSpotPro
from eval.benchmarks.screenspot_v2 import ScreenSpotV2
from guikv.models.pixels import PixelLimits
from guikv.models.registry import UI_TARS_PIXEL_LIMITS

BENCHMARKS: Mapping[str, type[Benchmark]] = {
    cls.name: cls for cls in (AgentNetBench, AndroidControl, ScreenSpotV2, ScreenSpotPro, Mind2Web)
}


def benchmark_class(name: str) -> type[Benchmark]:
    """The benchmark class registered as ``name``; KeyError listing the names that exist."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def make_benchmark(
    name: str,
    data_dir: str | Path | None = None,
    images_dir: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    pixels: PixelLimits = UI_TARS_PIXEL_LIMITS,
    **options: Any,
) -> Benchmark:
    """The benchmark ``name`` with its paths from the arguments, else its environment variables (see ``locate``);
    ``pixels``: the run's image-processor pixel limits, the frame model coordinates are scored in."""
    return benchmark_class(name).locate(data_dir, images_dir, env=env, pixels=pixels, **options)


__all__ = [
    "BENCHMARKS",
    "AgentNetBench",
    "AndroidControl",
    "BadRecord",
    "Benchmark",
    "BenchmarkDataError",
    "Dataset",
    "Episode",
    "ImageRef",
    "Message",
    "Mind2Web",
    "Sample",
    "Score",
    "ScreenSpotPro",
    "ScreenSpotV2",
    "benchmark_class",
    "make_benchmark",
    "to_chat",
]
