"""Scale-out over a Ray cluster: one model replica per GPU (or per CPU worker), rows gathered by the driver.

Each worker is a Ray actor holding one :class:`eval.replayer.Replayer` (the benchmark's data and one model loaded once);
the driver hands out :class:`eval.planning.WorkUnit` s (independent pieces of a run: a chunk of single-screenshot
samples, an episode) and writes the rows each returns into the same results file, as the in-process runner does. A
unit's rows are the rows the in-process runner would write for it (timings aside): same prompts, same seeds, same
greedy decoding.

Actors ask for one GPU each when the cluster has GPUs and the device is not ``cpu``, else one CPU each. Every node
needs this package installed and the data sets and model at the same paths (a shared filesystem). Ray is optional:
``pip install 'guikv-agent[ray]'``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from eval.config import EvalConfig
from eval.planning import WorkUnit
from eval.replayer import Replayer

UNITS_IN_FLIGHT = 2
"""Units queued per worker, so a worker never waits for the driver between two units."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise RuntimeError(
            "--ray needs Ray, an optional extra: pip install 'guikv-agent[ray]' (or pip install 'ray>=2.30')"
        ) from error
    return ray


class ReplicaWorker:
    """The body of a Ray actor: one replayer with its model, running the units it is given."""

    def __init__(self, config: EvalConfig) -> None:
        self.replayer = Replayer(config)
        self.replayer.load_model()

    def run(self, unit: WorkUnit) -> list[dict[str, Any]]:
        return list(self.replayer.run(unit))


def plan_workers(resources: dict[str, float], config: EvalConfig) -> tuple[int, bool]:
    """(number of replicas, whether each takes a GPU): one per GPU when the cluster has GPUs and the device allows,
    else one per ``config.threads`` CPUs (default 1); ``config.workers`` caps the count."""
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and config.device != "cpu"
    available = gpus if use_gpu else max(1, int(resources.get("CPU", 1)) // (config.threads or 1))
    return (min(config.workers, available) if config.workers else available), use_gpu


def ray_rows(config: EvalConfig, units: Sequence[WorkUnit]) -> Iterator[dict[str, Any]]:
    """Rows of ``units`` computed on Ray workers, unit by unit as they finish. Uses the Ray instance already
    initialised in this process, else connects to ``config.ray_address`` (None: a new local instance, shut down at the
    end). A unit that fails on a worker raises here; its rows are not written, so a resume runs it again."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray_address, include_dashboard=False, log_to_driver=False)
    actors: list[Any] = []
    try:
        count, use_gpu = plan_workers(ray.cluster_resources(), config)
        worker_config = replace(config, device="cuda" if use_gpu else "cpu", ray=False, ray_address=None)
        actor_class = ray.remote(num_gpus=1 if use_gpu else 0, num_cpus=config.threads or 1)(ReplicaWorker)
        actors = [actor_class.remote(worker_config) for _ in range(min(count, len(units)) or 1)]
        queue = deque(units)
        pending: dict[Any, Any] = {}

        def submit(actor: Any) -> None:
            if queue:
                pending[actor.run.remote(queue.popleft())] = actor

        for actor in actors:
            for _ in range(UNITS_IN_FLIGHT):
                submit(actor)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ready[0])
            try:
                rows = ray.get(ready[0])
            except Exception as error:
                raise RuntimeError(f"a Ray worker failed: {error}") from error
            submit(actor)
            yield from rows
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
