"""AgentNetBench: the reference's result files of one run in one scoring mode (file name -> JSON payload), as the
GUI-KV reference scripts write them (specs/benchmarks.md); what the benchmark's ``reference_files`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.results import RunScores


def _error_or(score: Any, key: str, value: Any) -> dict[str, Any]:
    return {"error": score.error} if score.error is not None else {key: value}


def reference_files(result: RunScores) -> dict[str, Any]:
    """§1.8: one file with metrics and ``detailed_results`` (rows that failed to parse carry ``error``)."""
    details = []
    for score in result.scores:
        truth = result.data.sample(score.sample_id).truth
        details.append({
            "task_id": score.details["task_id"],
            "step_num": score.details["step_num"],
            "raw_response": score.details["raw_response"],
            "predicted_actions": score.details["predicted_actions"],
            "ground_truth_actions": [dict(action) for action in truth.actions],
            "alternative_options": [[dict(action) for action in option] for option in truth.alternatives],
            "score": score.value,
            **_error_or(score, "used_alternative", score.details["used_alternative"]),
            "is_milestone": score.details["is_milestone"],
        })
    metrics = result.summary["metrics"]
    payload = {
        **result.header,
        "metrics": metrics,
        "debug": False,
        "num_trajectories_evaluated": metrics["total_trajectories"],
        "detailed_results": details,
        **result.extras,
    }
    return {"agentnetbench_results_budget.json": payload}
