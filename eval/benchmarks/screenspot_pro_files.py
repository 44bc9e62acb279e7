"""ScreenSpot Pro: the reference's result files of one run in one scoring mode (file name -> JSON payload), as the
GUI-KV reference scripts write them (specs/benchmarks.md); what the benchmark's ``reference_files`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.results import RunScores


def reference_files(result: RunScores) -> dict[str, Any]:
    """§4.5: a summary with the run keys and ``{"details", "metrics"}``."""
    summary = result.summary
    keys = ("task", "total_samples", "overall_accuracy", "text_accuracy", "icon_accuracy", "wrong_format_samples")
    head = {"model_path": result.header["model_path"], **{key: summary[key] for key in keys}}
    payload = {**head, **{k: v for k, v in result.header.items() if k != "model_path"}, **result.extras}
    details = {"details": [dict(score.details) for score in result.scores], "metrics": summary["metrics"]}
    return {"screenspotpro_summary_results.json": payload, "screenspotpro_detailed_results.json": details}
