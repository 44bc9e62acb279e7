"""Ray scale-out: a local Ray instance on CPU writes the same results file as the in-process runner (timings aside)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import ray
import torch

from eval.runner import EvalConfig, run_sweep
from eval.scale import plan_workers
from tests.eval.test_runner import TINY_PIXELS, agentnetbench_data, rows_of, tiny_model, without_timing  # noqa: F401


def test_ray_writes_the_in_process_results(tiny_model, tmp_path):  # noqa: F811
    paths = agentnetbench_data(tmp_path)

    def sweep(results: Path, **extra) -> None:
        # persistent memory: each episode is a unit, replayed in one session on one worker; threads=1 on both sides,
        # since CPU reductions (and so top-k selections) can differ in the last bits between thread counts
        run_sweep(EvalConfig("agentnetbench", model=tiny_model, results_dir=results, data_dir=paths[0], images_dir=paths[1],
                             methods=("snap_kv", "gui_kv"), budgets=("0.3",), memory="persistent", max_new_tokens=6,
                             threads=1, **TINY_PIXELS, **extra))

    threads = torch.get_num_threads()
    try:
        sweep(tmp_path / "local")
    finally:
        torch.set_num_threads(threads)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sweep(tmp_path / "ray", ray=True)
    finally:
        ray.shutdown()

    local, spread = rows_of(tmp_path / "local"), rows_of(tmp_path / "ray")
    assert len(spread) == len(local) == 2 * 5
    assert without_timing(spread) == without_timing(local)
    workers = {row["timing"]["worker"] for row in spread}
    assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)  # two replicas, not us
    for folder in (tmp_path / "local").rglob("reference"):  # the reference-named files are identical too
        twin = tmp_path / "ray" / folder.relative_to(tmp_path / "local")
        assert [p.read_text() for p in sorted(folder.iterdir())] == [p.read_text() for p in sorted(twin.iterdir())]


@pytest.mark.parametrize(
    ("resources", "device", "workers", "threads", "expected"),
    [
        ({"CPU": 16.0, "GPU": 4.0}, "auto", None, None, (4, True)),  # one replica per GPU
        ({"CPU": 16.0, "GPU": 4.0}, "cuda", 2, None, (2, True)),
        ({"CPU": 16.0, "GPU": 4.0}, "cpu", None, 4, (4, False)),  # CPU replicas of 4 threads each
        ({"CPU": 2.0}, "auto", None, None, (2, False)),
        ({"CPU": 2.0}, "auto", 8, None, (2, False)),  # never more replicas than the cluster can hold
    ],
)
def test_plan_workers(resources, device, workers, threads, expected):
    config = EvalConfig("screenspot_v2", model="m", adapter="ui_tars", device=device, workers=workers, threads=threads)
    assert plan_workers(resources, config) == expected
