"""A run folder's layout, and writing and reading its rows: strict JSON in valid UTF-8 whatever the model wrote;
``steps.jsonl`` read back even when a kill cut its last row; ``summarize`` for the totals. The writer is
``agent.record.RunRecord``; the report is ``agent.run_report``."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STEPS_FILE = "steps.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
SCREENSHOTS = "screenshots"
FINAL_SCREENSHOT = f"{SCREENSHOTS}/final.png"

def screenshot_name(step: int) -> str:
    return f"{SCREENSHOTS}/step_{step:03d}.png"


# -- writing: strict JSON, valid UTF-8, whatever the model wrote -----------------------------------------------------
def clean_text(text: str) -> str:
    """``text`` as valid Unicode: a lone surrogate (from an escape like ``\\ud800`` in the model's answer) becomes
    U+FFFD; a surrogate pair becomes the character it encodes. Valid text is returned as is."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def jsonable(value: Any) -> Any:
    """``value`` made strict-JSON safe: strings cleaned (``clean_text``), non-finite floats written as the strings
    ``"nan"``, ``"inf"``, ``"-inf"``, tuples as lists, keys as strings, anything else as its ``str``."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return clean_text(str(value))


def json_line(value: Any, indent: int | None = None) -> str:
    """Strict JSON (no ``NaN``), encodable as UTF-8: what every file of a run folder is written with."""
    return json.dumps(jsonable(value), ensure_ascii=False, allow_nan=False, indent=indent)


# -- reading ---------------------------------------------------------------------------------------------------------
class TornRowWarning(UserWarning):
    """``steps.jsonl`` ends in a half-written row (the run was killed while writing it); the row is skipped."""


def read_steps(folder: str | Path) -> list[dict[str, Any]]:
    """The rows of ``steps.jsonl``; a last line cut by a crash is skipped with a ``TornRowWarning``, any other broken
    line is an error."""
    path = Path(folder) / STEPS_FILE
    if not path.is_file():
        raise ValueError(f"{path} does not exist; a run folder holds {STEPS_FILE} (one JSON object per step)")
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # the run died while writing its last row
                warnings.warn(TornRowWarning(f"{path}, line {number}: the last row is cut short (the run was killed "
                                             f"while writing it?) and was skipped"), stacklevel=2)
                break
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {number}: a step row is a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else None


def mapping_items(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a JSON list (anything else: none); rows are read defensively."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def as_number(value: Any) -> float:
    """A JSON number as a float (anything else, a bool included: 0)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def summarize(rows: Sequence[Mapping[str, Any]], stop_reason: Mapping[str, str] | None, error: str | None = None
              ) -> dict[str, Any]:
    """Totals of a run's rows: steps, model calls, bad outputs, action outcomes, timings, peak cache.

    Rows are read defensively (a hand-written or damaged row with odd types counts as empty, never a crash).
    """
    calls = [call for row in rows for call in mapping_items(row.get("calls"))]
    statuses: dict[str, int] = {}
    for row in rows:
        for outcome in mapping_items(row.get("outcomes")):
            status = str(outcome.get("status", "?"))
            statuses[status] = statuses.get(status, 0) + 1
    caches = [call.get("cache") if isinstance(call.get("cache"), Mapping) else {} for call in calls]
    peak_tokens = max((max([int(as_number(t)) for t in c.get("tokens_per_layer") or [0]] or [0]) for c in caches),
                      default=0)
    seconds = [as_number(row.get("seconds")) for row in rows]
    return {
        "steps": len(rows),
        "stop_reason": dict(stop_reason) if isinstance(stop_reason, Mapping) else None,
        "error": error,
        "model_calls": len(calls),
        "bad_outputs": sum(call.get("error") is not None for call in calls),
        "actions": statuses,
        "seconds": round(sum(seconds), 3),
        "mean_step_seconds": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "model_seconds": round(sum(as_number(c.get("prefill_seconds")) + as_number(c.get("decode_seconds")) for c in calls), 3),
        "peak_cache_tokens": peak_tokens,
        "peak_cache_bytes": int(max((as_number(c.get("bytes")) for c in caches), default=0)),
        "final_logical_tokens": caches[-1].get("logical_tokens") if caches else None,
    }
