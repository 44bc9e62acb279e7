"""ScreenSpot v2: the reference's result files of one run in one scoring mode (file name -> JSON payload), as the
GUI-KV reference scripts write them (specs/benchmarks.md); what the benchmark's ``reference_files`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.results import RunScores


def reference_files(result: RunScores) -> dict[str, Any]:
    """§3.5: summary and a detailed list; UI-TARS ``pred`` is the point twice (x, y, x, y) as the reference stores it.
    In reference mode items whose output did not parse are absent from the details, as in the reference."""
    summary = result.summary
    details = []
    for score in result.scores:
        if score.error is not None and result.mode == "reference":
            continue
        pred = score.details.get("pred")
        if pred is not None and result.run.adapter == "ui_tars":
            pred = [*pred, *pred]
        details.append({
            "img_path": score.details["img_path"],
            "text": score.details["text"],
            "bbox": score.details["bbox"],
            "pred": pred,
            "type": score.details["type"],
            "source": score.details["source"],
        })
    keys = ("task", "total_samples", "overall_accuracy", "text_accuracy", "icon_accuracy", "task_breakdown")
    payload = {
        "model_path": result.header["model_path"],
        **{key: summary[key] for key in keys},
        **{k: v for k, v in result.header.items() if k != "model_path"},
        "micro_accuracy": summary["micro_accuracy"],
        "cell_mean_accuracy": summary["cell_mean_accuracy"],
        "wrong_format_samples": summary["wrong_format_samples"],
        **result.extras,
    }
    return {"summary_results.json": payload, "detailed_results.json": details}
