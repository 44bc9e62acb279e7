"""Reading a benchmark's files: the two kinds of input error, bad records, and the field checks loaders use.

A :class:`BenchmarkDataError` stops the run (the data directory or a setting is wrong); a :class:`RecordProblem` stops
only its record, which the loader keeps as a :class:`BadRecord` (counted and listed in the summary, never dropped)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchmarkDataError(ValueError):
    """A data directory, file or setting is missing or not what the benchmark expects (fix the input, then rerun)."""


class RecordProblem(ValueError):
    """One record cannot be used; loaders turn it into a :class:`BadRecord` and go on."""


class MissingImage(RecordProblem):
    """A record's screenshot is not where the layout puts it; ``path`` is where it was looked for first."""

    def __init__(self, path: Path, also: Path | None = None) -> None:
        self.path = Path(path)
        super().__init__(f"image not found: {path}" + (f" (nor {also})" if also is not None else ""))


@dataclass(frozen=True)
class BadRecord:
    """A record that could not be turned into a sample. ``index`` is its position in the file (None: the whole file);
    ``meta`` keeps what is still known about it (episode id, ground-truth type) for the summaries' denominators."""

    path: str
    index: int | None
    reason: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    missing_image: Path | None = None
    """Where its screenshot was looked for, when that is why it is bad (what a layout diagnosis needs)."""

    @classmethod
    def of(cls, path: str, index: int | None, problem: RecordProblem, meta: Mapping[str, Any] | None = None) -> BadRecord:
        missing = problem.path if isinstance(problem, MissingImage) else None
        return cls(path, index, str(problem), dict(meta or {}), missing)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "index": self.index, "reason": self.reason, **({"meta": dict(self.meta)} if self.meta else {})}


def read_json(path: Path) -> Any:
    """Parsed JSON of ``path``; RecordProblem naming the file when it does not parse."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordProblem(f"not valid JSON: {error}") from error


def require(record: Any, key: str, kind: type | tuple[type, ...], where: str = "record") -> Any:
    """``record[key]`` if present and of ``kind``; RecordProblem saying what is missing or wrong otherwise."""
    if not isinstance(record, Mapping):
        raise RecordProblem(f"{where} is a {type(record).__name__}, expected a JSON object")
    if key not in record:
        raise RecordProblem(f"{where} is missing field '{key}'")
    value = record[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise RecordProblem(f"{where} field '{key}' is {type(value).__name__}, expected {expected}")
    return value


def require_box(record: Any, key: str, where: str = "record") -> tuple[float, float, float, float]:
    """A 4-number box field."""
    box = require(record, key, list, where)
    if len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        raise RecordProblem(f"{where} field '{key}' must be 4 numbers, got {box!r}")
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def layout_hint(images_dir: Path, missing: Path) -> str:
    """A concrete fix when the missing image exists one folder level deeper or shallower than expected."""
    try:
        relative = missing.relative_to(images_dir)
    except ValueError:
        return ""
    if images_dir.is_dir():  # a bounded look: an image folder can hold a million files
        for child in sorted(p for p in itertools.islice(images_dir.iterdir(), 10_000) if p.is_dir()):
            if (child / relative).is_file():
                return f"It is under {child}: pass that folder. "
    if (images_dir.parent / relative).is_file():
        return f"It is under {images_dir.parent}: pass that folder. "
    if len(relative.parts) > 1 and (images_dir / Path(*relative.parts[1:])).is_file():
        return f"The tree has no '{relative.parts[0]}/' level: this benchmark expects {images_dir / relative}. "
    return ""
