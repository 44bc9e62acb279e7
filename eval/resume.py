"""Resuming a sweep: the finished rows of its runs after making the results file consistent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.benchmarks import Benchmark, Dataset
from eval.results import (
    RunSpec,
    read_rows,
    rewrite_rows,
    run_key,
)

# --- resume -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResumeInfo:
    """What a sweep found in its results file and what it had to undo (all of it said, none of it silent)."""

    resumed_rows: int = 0
    discarded_episodes: tuple[dict[str, Any], ...] = ()
    retried_failures: int = 0
    truncated_tail: bool = False
    duplicates_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "resumed_rows": self.resumed_rows,
            "discarded_episodes": list(self.discarded_episodes),
            "retried_failures": self.retried_failures,
            "truncated_tail": self.truncated_tail,
            "duplicates_removed": self.duplicates_removed,
        }


def prepare_resume(
    path: Path, runs: Sequence[RunSpec], bench: Benchmark, data: Dataset, *, retry_failed: bool = False
) -> tuple[dict[str, dict[str, dict[str, Any]]], ResumeInfo]:
    """The finished rows of ``runs`` (run key -> sample id -> row) after making the file consistent: a truncated last
    line, duplicate keys, failed rows (with ``retry_failed``) and cut-off persistent episodes are removed by one atomic
    rewrite. Rows of other runs and other samples are kept untouched."""
    found = read_rows(path)
    ours = {run.key: run for run in runs}
    selected = {sample.id for sample in data.samples}
    drop: set[int] = set()
    retried = 0
    done: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {key: {} for key in ours}
    for index, row in enumerate(found.rows):
        key = run_key(row)
        if key not in ours or row["sample_id"] not in selected:
            continue
        if retry_failed and row.get("error"):
            drop.add(index)
            retried += 1
            continue
        done[key][row["sample_id"]] = (index, row)
    discarded = []
    if bench.multi_step:
        for key, run in ours.items():
            if run.memory != "persistent":
                continue
            for episode in data.episodes:
                present = [sid for sid in episode.sample_ids if sid in done[key]]
                if present and len(present) < len(episode.sample_ids):
                    for sid in present:
                        drop.add(done[key].pop(sid)[0])
                    discarded.append({"run": run.label(), "episode_id": episode.id, "rows": len(present)})
    if drop or found.truncated_tail or found.duplicates:
        rewrite_rows(path, [row for index, row in enumerate(found.rows) if index not in drop])
    finished = {key: {sid: row for sid, (_, row) in rows.items()} for key, rows in done.items()}
    info = ResumeInfo(
        resumed_rows=sum(len(rows) for rows in finished.values()),
        discarded_episodes=tuple(discarded),
        retried_failures=retried,
        truncated_tail=found.truncated_tail,
        duplicates_removed=found.duplicates,
    )
    return finished, info
