"""Work planning: which samples a run holds (``select``) and the independent units it splits into (``plan_units``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from eval.benchmarks import Benchmark, Dataset
from eval.results import (
    RunSpec,
)

CHUNK = 8
"""Single-screenshot samples per work unit (the granularity of Ray tasks)."""


# --- what to run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Samples run in order; with ``episode_id`` set and persistent memory, one conversation."""

    episode_id: str | None
    sample_ids: tuple[str, ...]


@dataclass(frozen=True)
class WorkUnit:
    """Work that depends on nothing outside itself: one run's groups, plus the recorded outputs of its finished samples
    (``seeds``: they are skipped, and later prompts read them as history)."""

    run: RunSpec
    groups: tuple[Group, ...]
    seeds: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def sample_ids(self) -> tuple[str, ...]:
        return tuple(sid for group in self.groups for sid in group.sample_ids)


def select(data: Dataset, bench: Benchmark, limit: int | None) -> Dataset:
    """The first ``limit`` samples (single-step) or episodes (multi-step), as a dataset; bad records all kept."""
    if limit is None:
        return data
    if not bench.multi_step:
        return replace(data, samples=data.samples[:limit])
    episodes = data.episodes[:limit]
    chosen = {sid for episode in episodes for sid in episode.sample_ids}
    return replace(data, samples=tuple(s for s in data.samples if s.id in chosen), episodes=episodes)


def plan_units(bench: Benchmark, data: Dataset, run: RunSpec, chunk: int = CHUNK) -> list[WorkUnit]:
    """Independent units of a run. Single-step: chunks of samples. Multi-step: one unit per episode, or a single unit
    when prompts read other episodes' outputs (``bench.history_spans_episodes``, e.g. Mind2Web's stale history)."""
    if not bench.multi_step:
        ids = [sample.id for sample in data.samples]
        return [WorkUnit(run, tuple(Group(None, (sid,)) for sid in ids[k : k + chunk])) for k in range(0, len(ids), chunk)]
    if bench.history_spans_episodes(run.prompts):
        if run.memory == "persistent":
            groups = tuple(Group(ep.id, ep.sample_ids) for ep in data.episodes if ep.sample_ids)
        else:
            groups = tuple(Group(None, (sample.id,)) for sample in data.samples)
        return [WorkUnit(run, groups)] if groups else []
    return [WorkUnit(run, (Group(ep.id, ep.sample_ids),)) for ep in data.episodes if ep.sample_ids]
