"""Multimodal-Mind2Web: the reference's result files of one run in one scoring mode (file name -> JSON payload), as the
GUI-KV reference scripts write them (specs/benchmarks.md); what the benchmark's ``reference_files`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.results import RunScores


def reference_files(result: RunScores) -> dict[str, Any]:
    """§5.6: a detailed file (overall metrics, breakdown with error ratios; we add per-row ``detailed_results``) and
    a flat summary."""
    summary = result.summary
    header = dict(result.header)
    model_path = header.pop("model_path")
    rows = [
        {
            "sample_id": score.sample_id,
            "split": score.meta.get("split"),
            "annotation_id": score.meta.get("annotation_id"),
            "action_uid": score.meta.get("action_uid"),
            "raw_responses": score.details["raw_responses"],
            "generations": score.details["generations"],
            "final_block": score.details["final_block"],
            "prediction": score.prediction,
            "element_correct": score.details["element_correct"],
            "operation_f1": score.details["operation_f1"],
            "step_correct": score.details["step_correct"],
            **({"error": score.error} if score.error is not None else {}),
        }
        for score in result.scores
    ]
    detailed = {
        "model_path": model_path,
        "tasks_evaluated": summary["tasks_evaluated"],
        **header,
        "overall_metrics": summary["overall_metrics"],
        "total_tasks": summary["total_tasks"],
        "task_breakdown": summary["task_breakdown"],
        "detailed_results": rows,
        **result.extras,
    }
    overall = summary["overall_metrics"]
    brief = {
        "model_path": model_path,
        "tasks_evaluated": summary["tasks_evaluated"],
        "total_tasks": summary["total_tasks"],
        "overall_element_accuracy": overall["element_accuracy"],
        "overall_operation_f1": overall["operation_f1"],
        "overall_step_accuracy": overall["step_accuracy"],
        **header,
        "task_breakdown": [
            {key: b[key] for key in ("task", "element_accuracy", "operation_f1", "step_accuracy", "total_tasks")}
            for b in summary["task_breakdown"]
        ],
        **result.extras,
    }
    return {"mind2web_summary_results.json": brief, "mind2web_detailed_results.json": detailed}
