"""Reports from run summaries: accuracy tables (methods x budgets, both modes), category tables, Markdown and the plot.

The runs are real summaries written by ``finish_run`` from rows scored by the real scorers, with outputs chosen so
every run has a known accuracy (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from eval.benchmarks import make_benchmark
from eval.report import accuracy_tables, category_tables, collect, write_report
from eval.results import SUMMARY_FILE, score_record
from eval.runner import EvalConfig, finish_run
from eval.scoring import SCORING_MODES
from tests.eval.helpers import ui_tars_click
from tests.eval.test_runner import androidcontrol_data, screenspot_v2_data

INSIDE, OUTSIDE = ui_tars_click(120, 60), ui_tars_click(600, 250)  # the items' box is x 100-140, y 50-70 px
CORRECT = {("full", None): 4, ("snap_kv", "0.1"): 1, ("snap_kv", "0.5"): 2, ("gui_kv", "0.1"): 2, ("gui_kv", "0.5"): 3}


def write_runs(root: Path, name: str, paths: tuple[Path, Path], correct: dict, **settings) -> list:
    """Summaries of runs whose first ``correct[(method, budget)]`` samples are answered inside the target."""
    bench = make_benchmark(name, *paths, env={}, **settings.get("options", {}))
    data = bench.load()
    config = EvalConfig(name, model="ByteDance-Seed/UI-TARS-1.5-7B", results_dir=root, data_dir=paths[0], images_dir=paths[1],
                        methods=("full", "snap_kv", "gui_kv"), budgets=("0.1", "0.5"), **settings)
    outcomes = []
    for run in config.runs(bench):
        rows = {}
        for index, sample in enumerate(data.samples):
            output = INSIDE if index < correct[(run.method, run.budget)] else OUTSIDE
            scores = {mode: score_record(bench.score(output, sample, run.adapter, mode)) for mode in SCORING_MODES}
            row = {**run.to_dict(), "sample_id": sample.id, "outputs": [output], "error": None, "scores": scores,
                   "meta": dict(sample.meta), "engine": {"device": "cpu", "dtype": "float32", "attention": "sdpa"}}
            rows[sample.id] = json.loads(json.dumps(row))
        outcomes.append(finish_run(run, rows, bench, data, config))
    return outcomes


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_runs(root, "screenspot_v2", screenspot_v2_data(tmp_path / "v2"), CORRECT)
    return root


def test_accuracy_tables_are_methods_by_budgets(results):
    runs = collect(results)
    assert len(runs) == 5
    corrected = next(t for t in accuracy_tables(runs) if "[corrected scoring]" in t.title)
    assert corrected.columns == ("method", "budget 0.1", "budget 0.5", "full")
    assert corrected.rows == (("full", "", "", "100.0"), ("snap_kv", "25.0", "50.0", ""), ("gui_kv", "50.0", "75.0", ""))
    assert "screenspot_v2: ByteDance-Seed/UI-TARS-1.5-7B (ui_tars), reference memory, reference prompts" in corrected.title
    assert "4 samples per run, 1 bad records" in corrected.notes[0]
    # reference scoring: ScreenSpot v2's mean of split x text/icon cells; desktop has no icon item and web no text
    # item, and those empty cells count 0: (mean(1, 1, 0) + mean(1, 0, 1)) / 2
    reference = next(t for t in accuracy_tables(runs) if "[reference scoring]" in t.title)
    full = json.loads(next(results.rglob(f"full_budget-full/{SUMMARY_FILE}")).read_text())
    assert reference.rows[0][-1] == f"{100 * full['headline']['reference']:.1f}" == "66.7"


def test_category_tables(results):
    tables = category_tables(collect(results), modes=("corrected",))
    assert len(tables) == 1
    table = tables[0]
    assert table.columns[:4] == ("method", "budget", "text", "icon")
    assert {"mobile text", "mobile icon", "desktop text", "web icon"} <= set(table.columns)
    rows = {(row[0], row[1]): dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert rows[("full", "full")]["text"] == "100.0" and rows[("full", "full")]["icon"] == "100.0"
    # snap_kv at 0.1 answers only the first item (mobile, text) correctly
    assert rows[("snap_kv", "0.1")]["mobile text"] == "100.0" and rows[("snap_kv", "0.1")]["icon"] == "0.0"


def test_groups_split_by_benchmark_options(tmp_path):
    root = tmp_path / "results"
    paths = androidcontrol_data(tmp_path / "ac")
    everything_right = dict.fromkeys(CORRECT, 2)
    write_runs(root, "androidcontrol", paths, everything_right)
    write_runs(root, "androidcontrol", paths, everything_right, options={"instruction_level": "low"})
    tables = accuracy_tables(collect(root), modes=("corrected",))
    assert len(tables) == 2 and any("instruction_level=low" in t.title for t in tables)
    categories = category_tables(collect(root), modes=("corrected",))
    assert {c for t in categories for c in t.columns} >= {"high step", "high grounding", "low step", "low grounding"}


def test_report_files(results, tmp_path):
    report = write_report(results, tmp_path / "out")
    markdown = report.markdown.read_text()
    assert markdown.count("### ") == len(report.tables) == 4  # accuracy and category tables, both modes
    assert "| snap_kv | 25.0 | 50.0 |  |" in markdown
    with Image.open(report.plot) as image:
        assert image.format == "PNG" and image.size[0] > 1000 and image.size[1] > 300
    only = write_report(results, tmp_path / "only", modes=("reference",), categories=False)
    assert len(only.tables) == 1 and "[reference scoring]" in only.tables[0].title


def test_report_errors_say_why(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        collect(tmp_path / "nowhere")
    (tmp_path / "results.jsonl").write_text("")
    with pytest.raises(ValueError, match="did not finish; re-run the same eval command"):
        collect(tmp_path)
    broken = tmp_path / "x" / SUMMARY_FILE
    broken.parent.mkdir()
    broken.write_text('{"run": {}}')
    with pytest.raises(ValueError, match="is not a run summary written by `guikv-agent eval`"):
        collect(tmp_path)


def test_a_summary_of_an_unknown_benchmark_says_so(results):
    """A summary.json edited or written by another version: the report names the file and the benchmarks it knows."""
    path = next(results.rglob(SUMMARY_FILE))
    data = json.loads(path.read_text())
    data["run"]["benchmark"] = "screenspot_v9"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"is not a run summary.*unknown benchmark 'screenspot_v9'; known: agentnetbench"):
        collect(results)
