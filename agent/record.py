"""The record of a run: a folder that is written as the run goes, so that nothing done is lost.

    config.json               the RunConfig
    steps.jsonl               one StepRecord.to_dict() row per step, appended and flushed to disk as each step ends
    screenshots/step_000.png  the screenshot each step's model saw (final.png: the screen when the run ended;
                              step_000.annotated.png in dry runs: the action drawn on it)
    summary.json              totals and the stop reason, written at the end
    report.html               self-contained (images inlined): every screenshot with its actions drawn on it

``RunRecord`` writes it (rows: ``agent.run_folder``, strict JSON). ``agent.run_report.write_report(folder)`` builds
the report from the files alone, so it works on any run folder, including one whose run crashed before ``finish``;
``rebuild_report(folder)`` also rewrites ``summary.json`` (``guikv-agent report RUN_DIR``), e.g. for a run killed
with SIGKILL, whose last row may be cut in half (it is skipped with a ``TornRowWarning``). ``agent.annotate`` draws
actions on screenshots.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from agent.annotate import annotate
from agent.loop import StepRecord, StopReason
from agent.run_folder import FINAL_SCREENSHOT, SCREENSHOTS, STEPS_FILE, SUMMARY_FILE, json_line, screenshot_name, summarize
from agent.run_report import write_report


def default_run_folder(task: str, root: str | Path = "runs", now: dt.datetime | None = None) -> Path:
    """``root/<YYYYmmdd-HHMMSS>-<task slug>``: sorts by time, readable at a glance."""
    now = now or dt.datetime.now()
    slug = re.sub(r"[^a-z0-9]+", "-", task.lower()).strip("-")[:40].strip("-") or "run"
    return Path(root) / f"{now:%Y%m%d-%H%M%S}-{slug}"


def check_run_folder(folder: str | Path) -> None:
    """``ValueError`` unless ``folder`` can become a new run folder: absent with a writable folder above it, or an
    existing, empty, writable folder. Checked before a run starts, so that a bad ``--out`` never leaves a half-made
    folder behind (a non-empty one may hold another run: it is never written into)."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise ValueError(f"{folder} exists and is not a folder")
        if any(folder.iterdir()):
            raise ValueError(f"{folder} is not empty (it may hold another run); pass a new or an empty folder")
        probe = folder
    else:
        probe = folder.absolute().parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise ValueError(f"cannot create {folder}: {probe} is a file, not a folder")
    try:
        handle, name = tempfile.mkstemp(dir=probe, prefix=".guikv-write-check-")
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        raise ValueError(f"cannot write into {probe} ({exc.strerror or exc}); pass a folder you can write to") from None


class RunRecord:
    """Writes one run folder step by step; ``finish`` adds the summary and the report."""

    def __init__(self, folder: str | Path, config: Any = None, *, annotate_steps: bool = False) -> None:
        """Create ``folder`` (parents included); ``FileExistsError`` if it already holds a run.

        ``config``: a ``RunConfig`` (or any object with ``to_dict``, or a mapping) written as ``config.json``.
        ``annotate_steps``: also write each screenshot with its actions drawn (dry runs show what would happen).
        """
        self.folder = Path(folder)
        if (self.folder / STEPS_FILE).exists():
            raise FileExistsError(f"{self.folder} already holds a run ({STEPS_FILE}); choose another output folder")
        (self.folder / SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        self.annotate_steps = annotate_steps
        self.rows: list[dict[str, Any]] = []
        if config is not None:
            data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
            (self.folder / "config.json").write_text(json_line(data, indent=2) + "\n", encoding="utf-8")
        (self.folder / STEPS_FILE).touch()
        self._last: StepRecord | None = None

    @property
    def steps_path(self) -> Path:
        return self.folder / STEPS_FILE

    def add(self, record: StepRecord) -> dict[str, Any]:
        """Save the step's screenshot and append its row (flushed and synced: a crash later loses nothing)."""
        name = screenshot_name(record.step)
        record.screenshot.save(self.folder / name)
        row = record.to_dict()
        row["screenshot"] = name
        if self.annotate_steps:
            annotated = name.replace(".png", ".annotated.png")
            drawn = annotate(record.screenshot, record.actions, [o.status for o in record.outcomes])
            drawn.save(self.folder / annotated)
            row["annotated"] = annotated
        with self.steps_path.open("a", encoding="utf-8") as handle:
            handle.write(json_line(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.rows.append(row)
        self._last = record
        return row

    def finish(self, stop_reason: StopReason | None = None, error: str | None = None) -> dict[str, Any]:
        """Write the final screenshot, ``summary.json`` and ``report.html``; returns the summary.

        ``stop_reason`` defaults to the last step's; ``error`` records why the run broke (an exception) if it did.
        """
        last = self._last
        if last is not None and last.after is not None:
            last.after.screenshot.save(self.folder / FINAL_SCREENSHOT)
        if stop_reason is None and last is not None:
            stop_reason = last.stop_reason
        summary = summarize(self.rows, stop_reason.to_dict() if stop_reason else None, error)
        (self.folder / SUMMARY_FILE).write_text(json_line(summary, indent=2) + "\n", encoding="utf-8")
        write_report(self.folder)
        return summary
