"""AndroidControl: the reference's result files of one run in one scoring mode (file name -> JSON payload), as the
GUI-KV reference scripts write them (specs/benchmarks.md); what the benchmark's ``reference_files`` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.results import RunScores


def reference_files(result: RunScores) -> dict[str, Any]:
    """§2.7: metrics only in the reference; we add ``detailed_results`` (spec §7.2). The budget is in the file name."""
    details = [
        {
            "sample_id": score.sample_id,
            "episode_id": score.meta.get("episode_id"),
            "step": score.meta.get("step"),
            "raw_response": score.details["raw_response"],
            "prediction": score.details["prediction"],
            "gt_action": score.details["gt_action"],
            "correct": score.details["correct"],
            **({"error": score.error} if score.error is not None else {}),
        }
        for score in result.scores
    ]
    metrics = result.summary["metrics"]
    payload = {
        **result.header,
        "dataset": result.summary["dataset"],
        "instruction_level": result.summary["instruction_level"],
        "metrics": metrics,
        "debug": False,
        "num_samples_evaluated": metrics["total_steps"],
        "detailed_results": details,
        **result.extras,
    }
    budget = result.run.budget_percent
    name = f"androidcontrol_results_budget{float(budget) if isinstance(budget, float) else budget}.json"
    return {name: payload}
