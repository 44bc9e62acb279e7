"""The record of a run: a folder that is written as the run goes, so that nothing done is lost.

    config.json               the RunConfig
    steps.jsonl               one StepRecord.to_dict() row per step, appended and flushed to disk as each step ends
    screenshots/step_000.png  the screenshot each step's model saw (final.png: the screen when the run ended;
                              step_000.annotated.png in dry runs: the action drawn on it)
    summary.json              totals and the stop reason, written at the end
    report.html               self-contained (images inlined): every screenshot with its actions drawn on it

``write_report(folder)`` builds the report from the files alone, so it works on any run folder, including one whose
run crashed before ``finish``; ``rebuild_report(folder)`` also rewrites ``summary.json`` (``guikv-agent report
RUN_DIR``), e.g. for a run killed with SIGKILL, whose last row may be cut in half (it is skipped with a
``TornRowWarning``). ``annotate`` draws actions (a marker for points, an arrow for drags and scrolls, a text label for
each).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from agent.loop import StepRecord, StopReason, actions_of_row
from environments.actions import Action, CallUser, Drag, Finished, Hotkey, Scroll, Type, Wait

STEPS_FILE = "steps.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"
SCREENSHOTS = "screenshots"
FINAL_SCREENSHOT = f"{SCREENSHOTS}/final.png"

# Marker colours by outcome status (unknown statuses, e.g. hand-written rows, get the first).
STATUS_COLORS = {
    "executed": (229, 72, 77),
    "terminal": (13, 116, 206),
    "failed": (247, 107, 21),
    "dry_run": (0, 144, 255),
    "declined": (120, 120, 120),
    "skipped": (160, 160, 160),
}


def screenshot_name(step: int) -> str:
    return f"{SCREENSHOTS}/step_{step:03d}.png"


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


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def summarize(rows: Sequence[Mapping[str, Any]], stop_reason: Mapping[str, str] | None, error: str | None = None
              ) -> dict[str, Any]:
    """Totals of a run's rows: steps, model calls, bad outputs, action outcomes, timings, peak cache.

    Rows are read defensively (a hand-written or damaged row with odd types counts as empty, never a crash).
    """
    calls = [call for row in rows for call in _mappings(row.get("calls"))]
    statuses: dict[str, int] = {}
    for row in rows:
        for outcome in _mappings(row.get("outcomes")):
            status = str(outcome.get("status", "?"))
            statuses[status] = statuses.get(status, 0) + 1
    caches = [call.get("cache") if isinstance(call.get("cache"), Mapping) else {} for call in calls]
    peak_tokens = max((max([int(_number(t)) for t in c.get("tokens_per_layer") or [0]] or [0]) for c in caches),
                      default=0)
    seconds = [_number(row.get("seconds")) for row in rows]
    return {
        "steps": len(rows),
        "stop_reason": dict(stop_reason) if isinstance(stop_reason, Mapping) else None,
        "error": error,
        "model_calls": len(calls),
        "bad_outputs": sum(call.get("error") is not None for call in calls),
        "actions": statuses,
        "seconds": round(sum(seconds), 3),
        "mean_step_seconds": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "model_seconds": round(sum(_number(c.get("prefill_seconds")) + _number(c.get("decode_seconds")) for c in calls), 3),
        "peak_cache_tokens": peak_tokens,
        "peak_cache_bytes": int(max((_number(c.get("bytes")) for c in caches), default=0)),
        "final_logical_tokens": caches[-1].get("logical_tokens") if caches else None,
    }


# -- drawing ---------------------------------------------------------------------------------------------------------
def describe(action: Action) -> str:
    """A short label: ``click``, ``type "abc" [enter]``, ``hotkey ctrl+c``, ``scroll down x5``..."""
    match action:
        case Type(text=text, submit=submit):
            shown = text if len(text) <= 40 else text[:37] + "..."
            return f"type {json.dumps(shown, ensure_ascii=True)}" + (" [enter]" if submit else "")
        case Hotkey(keys=keys):
            return "hotkey " + "+".join(keys)
        case Scroll(direction=direction, amount=amount):
            return f"scroll {direction} x{amount}"
        case Wait(seconds=seconds):
            return f"wait {seconds:g}s"
        case Finished(content=content):
            return f"finished: {content}" if content else "finished"
        case CallUser(reason=reason):
            return f"call_user: {reason}" if reason else "call_user"
    return action.kind


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color: tuple[int, int, int],
           font: Any, bounds: tuple[int, int]) -> float:
    """Draw ``text`` on a filled box whose top-left is near ``xy``, kept inside ``bounds``; returns the box height."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = 3
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(0.0, xy[0]), max(0.0, bounds[0] - width))
    y = min(max(0.0, xy[1]), max(0.0, bounds[1] - height))
    draw.rectangle((x, y, x + width, y + height), fill=(*color, 215))
    draw.text((x + pad - left, y + pad - top), text, fill=(255, 255, 255, 255), font=font)
    return height


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float],
           color: tuple[int, int, int], width: int) -> None:
    draw.line((start, end), fill=(*color, 255), width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    head = 4 * width + 6
    left = (end[0] - head * math.cos(angle - 0.45), end[1] - head * math.sin(angle - 0.45))
    right = (end[0] - head * math.cos(angle + 0.45), end[1] - head * math.sin(angle + 0.45))
    draw.polygon((end, left, right), fill=(*color, 255))


def _marker(draw: ImageDraw.ImageDraw, point: tuple[float, float], color: tuple[int, int, int], unit: float) -> None:
    x, y = point
    radius = 9 * unit
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=(*color, 255), width=max(2, round(2 * unit)))
    arm = radius + 6 * unit
    for dx, dy in ((1, 0), (0, 1)):
        draw.line(((x - arm * dx, y - arm * dy), (x - radius * dx, y - radius * dy)), fill=(*color, 255), width=2)
        draw.line(((x + radius * dx, y + radius * dy), (x + arm * dx, y + arm * dy)), fill=(*color, 255), width=2)
    dot = max(2.0, 2 * unit)
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=(*color, 255))


_SCROLL_VECTORS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def annotate(image: Image.Image, actions: Sequence[Action], statuses: Sequence[str | None] | None = None
             ) -> Image.Image:
    """A copy of ``image`` with each action drawn: a ring and cross-hair on its point, an arrow for a drag (start to
    end) or a scroll (towards the content it reveals), and a numbered label; actions without a point are listed in
    the top-left corner. Colours follow the outcome status (``STATUS_COLORS``)."""
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    unit = max(1.0, base.width / 600)  # reports show screenshots scaled down: draw big enough to read there
    font = _font(max(12, round(16 * unit)))
    statuses = list(statuses or [])
    corner_y = 4.0
    for index, action in enumerate(actions):
        status = statuses[index] if index < len(statuses) else None
        color = STATUS_COLORS.get(status or "executed", STATUS_COLORS["executed"])
        text = f"{index + 1}. {describe(action)}" + (f" ({status})" if status not in (None, "executed") else "")
        if isinstance(action, Drag):
            _marker(draw, action.start, color, unit * 0.7)
            _arrow(draw, action.start, action.end, color, max(2, round(3 * unit)))
            _label(draw, (action.start[0] + 12 * unit, action.start[1] + 12 * unit), text, color, font, base.size)
        elif isinstance(action, Scroll):
            origin = action.point if action.point is not None else (base.width / 2, base.height / 2)
            dx, dy = _SCROLL_VECTORS.get(action.direction, (0, 1))
            length = 60 * unit
            _arrow(draw, origin, (origin[0] + dx * length, origin[1] + dy * length), color, max(2, round(3 * unit)))
            _label(draw, (origin[0] + 12 * unit, origin[1] - 28 * unit), text, color, font, base.size)
        elif action.points:
            point = action.points[0]
            _marker(draw, point, color, unit)
            _label(draw, (point[0] + 14 * unit, point[1] + 10 * unit), text, color, font, base.size)
        else:
            corner_y += _label(draw, (4, corner_y), text, color, font, base.size) + 3
    return Image.alpha_composite(base, overlay).convert("RGB")


# -- HTML report -----------------------------------------------------------------------------------------------------
def _data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _open(folder: Path, name: Any) -> Image.Image | None:
    """The screenshot ``name`` of a run folder, or ``None`` when it is missing or unreadable (cut by a kill)."""
    if not isinstance(name, str) or not name or not (folder / name).is_file():
        return None
    try:
        with Image.open(folder / name) as image:
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _mb(nbytes: float | None) -> str:
    return f"{(nbytes or 0) / 2**20:.1f} MB"


def _cache_line(cache: Mapping[str, Any]) -> str:
    if cache.get("endpoint"):
        cached = cache.get("cached_tokens")
        return (f"answered by {cache['endpoint']}: {_number(cache.get('prompt_tokens')):.0f} prompt tokens"
                + (f", {_number(cached):.0f} cached" if cached is not None else ""))
    tokens = cache.get("tokens_per_layer") or []
    if not tokens:
        return "cache empty"
    mean = sum(tokens) / len(tokens)
    line = f"{mean:.0f} tokens/layer of {cache.get('logical_tokens', '?')} seen, {_mb(cache.get('bytes'))}"
    if cache.get("budget_tokens") is not None:
        line += f" (limit {cache['budget_tokens']}, budget {cache.get('budget', '?')})"
    return line


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f4f5f7;color:#1c2024}
header{background:#1c2024;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:20px}
header .task{font-size:15px;opacity:.9}main{padding:18px 28px;max-width:1500px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin-bottom:18px}
.stat{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0002}
.stat b{display:block;font-size:12px;color:#60646c;font-weight:500}.stat span{font-size:16px;overflow-wrap:anywhere}
.step{background:#fff;border-radius:10px;box-shadow:0 1px 3px #0002;margin:0 0 18px;display:flex;gap:18px;padding:14px}
.step img{width:58%;height:auto;image-rendering:auto;border:1px solid #ddd;border-radius:6px;align-self:flex-start}
.step .side{flex:1;min-width:0}.step h2{margin:0 0 8px;font-size:16px}
.pill{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;color:#fff;margin-left:4px}
.executed{background:#30a46c}.terminal{background:#0d74ce}.failed{background:#e5484d}.dry_run{background:#0090ff}
.declined{background:#f76b15}.skipped{background:#8b8d98}
.thought{white-space:pre-wrap;background:#f9f9fb;border-left:3px solid #8b8d98;padding:6px 10px;margin:6px 0}
pre{white-space:pre-wrap;word-break:break-word;background:#f0f0f3;padding:8px;border-radius:6px;font-size:12px}.muted{color:#60646c;font-size:13px}.err{color:#ce2c31}
.stop{background:#fff4d5;border:1px solid #ffc53d;border-radius:8px;padding:10px 14px;margin-bottom:18px}
svg{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002}
"""


def _chart(rows: Sequence[Mapping[str, Any]]) -> str:
    """An inline SVG of the cache (mean tokens per layer) against the tokens seen, per model call."""
    points = []
    for row in rows:
        for call in row.get("calls") or []:
            cache = call.get("cache") or {}
            tokens = cache.get("tokens_per_layer") or []
            if tokens:
                points.append((sum(tokens) / len(tokens), cache.get("logical_tokens") or 0))
    if len(points) < 2:
        return ""
    width, height, pad = 640, 180, 34
    top = max(max(kept, seen) for kept, seen in points) or 1
    step = (width - 2 * pad) / (len(points) - 1)

    def polyline(values: list[float], color: str) -> str:
        coords = " ".join(f"{pad + i * step:.1f},{height - pad - v / top * (height - 2 * pad):.1f}"
                          for i, v in enumerate(values))
        return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'

    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="cache size per model call">'
        f'<text x="{pad}" y="18" font-size="12">tokens per layer: kept (red) vs seen (grey), per model call; '
        f"max {top:.0f}</text>"
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#ccc"/>'
        + polyline([seen for _, seen in points], "#8b8d98")
        + polyline([kept for kept, _ in points], "#e5484d")
        + f'<text x="{pad}" y="{height - 10}" font-size="11">call 1</text>'
        f'<text x="{width - pad - 40}" y="{height - 10}" font-size="11">call {len(points)}</text></svg>'
    )


def _step_html(folder: Path, row: Mapping[str, Any]) -> str:
    esc = html.escape
    step = row.get("step", "?")
    try:
        pairs = actions_of_row(row) if "actions" in row else []
    except ValueError as exc:
        pairs = []
        bad_actions = str(exc)
    else:
        bad_actions = None
    outcomes = _mappings(row.get("outcomes")) or [{} for _ in pairs]
    name = row.get("screenshot") or (screenshot_name(step) if isinstance(step, int) else None)
    image = _open(folder, name)
    parts = [f'<section class="step" id="step-{esc(str(step))}">']
    if image is not None:
        drawn = annotate(image, [a for a, _ in pairs], [s for _, s in pairs])
        parts.append(f'<img src="{_data_uri(drawn)}" alt="screenshot of step {esc(str(step))}">')
    parts.append(f'<div class="side"><h2>Step {esc(str(step))}</h2>')
    info = row.get("info") if isinstance(row.get("info"), Mapping) else {}
    where = info.get("url") or info.get("window")
    if where:
        parts.append(f'<div class="muted">{esc(str(where))}</div>')
    if row.get("reflection"):
        parts.append(f'<div class="thought"><b>Reflection</b> {esc(row["reflection"])}</div>')
    if row.get("thought"):
        parts.append(f'<div class="thought">{esc(row["thought"])}</div>')
    if pairs:
        parts.append("<ol>")
        for (action, status), outcome in zip(pairs, outcomes, strict=False):
            status = status or "executed"
            detail = outcome.get("detail") if isinstance(outcome, Mapping) else None
            parts.append(
                f"<li><code>{esc(json.dumps(action.to_dict()))}</code>"
                f'<span class="pill {esc(status)}">{esc(status)}</span>'
                + (f'<div class="muted">{esc(str(detail))}</div>' if detail else "")
                + "</li>"
            )
        parts.append("</ol>")
    if bad_actions:
        parts.append(f'<p class="err">{esc(bad_actions)}</p>')
    if row.get("error"):
        parts.append(f'<p class="err">{esc(str(row["error"]))}</p>')
    timing = [f"step {row['seconds']:.2f} s" if isinstance(row.get("seconds"), int | float) else None,
              f"model {row['policy_seconds']:.2f} s" if isinstance(row.get("policy_seconds"), int | float) else None,
              f"actions {row['action_seconds']:.2f} s" if isinstance(row.get("action_seconds"), int | float) else None]
    if any(timing):
        parts.append(f'<div class="muted">{esc(", ".join(t for t in timing if t))}</div>')
    for number, call in enumerate(_mappings(row.get("calls")), start=1):
        label = f"model call {number}: {call.get('prompt_tokens', '?')} new prompt tokens, " \
                f"{call.get('output_tokens', '?')} generated; {_cache_line(call.get('cache') or {})}"
        error = f'<p class="err">unusable: {esc(str(call["error"]))}</p>' if call.get("error") else ""
        parts.append(f"<details><summary>{esc(label)}</summary>{error}<pre>{esc(str(call.get('raw', '')))}</pre>"
                     "</details>")
    stop = row.get("stop_reason")
    if isinstance(stop, Mapping):
        parts.append(f'<p><b>Run stopped:</b> {esc(str(stop.get("kind")))}: {esc(str(stop.get("message")))}</p>')
    parts.append("</div></section>")
    return "".join(parts)


def render_report(folder: str | Path) -> str:
    """The self-contained HTML of a run folder (config, rows, screenshots, summary when present)."""
    folder = Path(folder)
    rows = read_steps(folder)
    config = read_json(folder / "config.json") or {}
    summary = read_json(folder / SUMMARY_FILE) or summarize(rows, rows[-1].get("stop_reason") if rows else None)
    esc = html.escape
    stop = summary.get("stop_reason") or {}
    stats = {
        "steps": summary.get("steps"),
        "environment": config.get("env"),
        "model": config.get("model"),
        "KV method / budget": f"{config.get('kv', '?')} / {config.get('budget', '?')}" if config else None,
        "model calls (unusable)": f"{summary.get('model_calls')} ({summary.get('bad_outputs')})",
        "time": f"{summary.get('seconds', 0):.1f} s" if summary.get("seconds") is not None else None,
        "peak cache": f"{summary.get('peak_cache_tokens')} tokens/layer, {_mb(summary.get('peak_cache_bytes'))}",
        "dry run": "yes" if config.get("dry_run") else None,
    }
    grid = "".join(
        f'<div class="stat"><b>{esc(k)}</b><span>{esc(str(v))}</span></div>' for k, v in stats.items() if v is not None
    )
    banner = ""
    if stop or summary.get("error"):
        text = f"{stop.get('kind', 'error')}: {stop.get('message', '')}" if stop else ""
        if summary.get("error"):
            text += f" error: {summary['error']}"
        banner = f'<div class="stop"><b>Run ended</b> {esc(text)}</div>'
    final = _open(folder, FINAL_SCREENSHOT)
    final_html = (
        f'<section class="step"><img src="{_data_uri(final)}" alt="final screen"><div class="side"><h2>Final screen'
        "</h2></div></section>" if final is not None else ""
    )
    title = f"guikv-agent run: {config.get('task', folder.name)}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_CSS}</style></head><body><header><h1>guikv-agent run report</h1>"
        f'<div class="task">{esc(str(config.get("task", folder.name)))}</div></header><main>'
        f"{banner}<div class=\"grid\">{grid}</div>{_chart(rows)}"
        + "".join(_step_html(folder, row) for row in rows)
        + final_html
        + "</main></body></html>\n"
    )


def rebuild_report(folder: str | Path) -> dict[str, Any]:
    """Rewrite ``summary.json`` and ``report.html`` of any run folder from its files; returns the summary.

    The stop reason and error come from the run's own summary when it wrote one (a run that ended), else from the
    last row; a run that ended without either (killed) says so in ``error``. ``ValueError`` when the folder holds no
    readable ``steps.jsonl``.
    """
    folder = Path(folder)
    rows = read_steps(folder)
    try:
        previous = read_json(folder / SUMMARY_FILE)
    except ValueError:
        previous = None  # a summary cut by the kill: rebuilt from the rows
    if previous is not None:
        stop, error = previous.get("stop_reason"), previous.get("error")
    else:
        stop = rows[-1].get("stop_reason") if rows else None
        error = None if stop else (f"the run ended without a stop reason or a summary (killed?); rebuilt from the "
                                   f"{len(rows)} row(s) of {STEPS_FILE}")
    summary = summarize(rows, stop if isinstance(stop, Mapping) else None, error if isinstance(error, str) else None)
    (folder / SUMMARY_FILE).write_text(json_line(summary, indent=2) + "\n", encoding="utf-8")
    write_report(folder)
    return summary


def write_report(folder: str | Path) -> Path:
    """Write ``report.html`` into a run folder and return its path."""
    path = Path(folder) / REPORT_FILE
    path.write_text(render_report(folder), encoding="utf-8", errors="replace")  # a hand-written row may hold lone surrogates
    return path
