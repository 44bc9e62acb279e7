"""``report.html`` of a run folder, built from its files alone (so any folder, a crashed run's included): a header
with the totals, a chart of the cache per step, and every step's screenshot with its actions drawn."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from agent.annotate import annotate
from agent.loop import actions_of_row
from agent.run_folder import (
    FINAL_SCREENSHOT,
    REPORT_FILE,
    STEPS_FILE,
    SUMMARY_FILE,
    as_number,
    json_line,
    mapping_items,
    read_json,
    read_steps,
    screenshot_name,
    summarize,
)


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
        return (f"answered by {cache['endpoint']}: {as_number(cache.get('prompt_tokens')):.0f} prompt tokens"
                + (f", {as_number(cached):.0f} cached" if cached is not None else ""))
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
    outcomes = mapping_items(row.get("outcomes")) or [{} for _ in pairs]
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
    for number, call in enumerate(mapping_items(row.get("calls")), start=1):
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
