"""The sweep runner on the tiny random model: rows and result files, resume (both memories), failures, work units,
the results file's consistency rules, and configuration errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.benchmarks import BENCHMARKS, BenchmarkDataError, make_benchmark
from eval.results import RESULTS_FILE, SUMMARY_FILE, ResultsError, read_rows, results_lock, row_key
from eval.runner import EvalAborted, EvalConfig, plan_units, run_sweep
from guikv.testing import save_tiny_qwen2_5_vl
from tests.eval.helpers import PORTRAIT, SQUARE, WIDE, garbage, png, truncated, write_json, write_jsonl
from tests.eval.test_agentnetbench import CLICK, step, trajectory
from tests.eval.test_androidcontrol import record as android_record
from tests.eval.test_mind2web import row as mind2web_row
from tests.eval.test_screenspot_pro import item as pro_item
from tests.eval.test_screenspot_v2 import item as v2_item

TINY_PIXELS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 64}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    return str(save_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny-qwen2.5-vl")))


# --- small data sets in the real schemas ------------------------------------------------------------------------------


def screenspot_v2_data(root: Path) -> tuple[Path, Path]:
    """4 runnable items over the three splits, plus one undecodable image (a bad record)."""
    data, images = root / "ScreenSpot-v2", root / "ScreenSpot-v2" / "screenspotv2_image"
    for name in ("m1.png", "m2.png", "d1.png", "w1.png"):
        png(images / name, WIDE)
    garbage(images / "bad.png")
    mobile = [v2_item("m1.png", "text"), v2_item("m2.png", "icon"), v2_item("bad.png", "icon")]
    write_json(data / "screenspot_mobile_v2.json", mobile)
    write_json(data / "screenspot_desktop_v2.json", [v2_item("d1.png", "text")])
    write_json(data / "screenspot_web_v2.json", [v2_item("w1.png", "icon")])
    return data, images


def agentnetbench_data(root: Path, broken_step: int | None = None) -> tuple[Path, Path]:
    """Trajectories s_a (3 steps) and s_b (2 steps); ``broken_step`` of s_a gets a PNG that is cut in half."""
    data = root / "test_data"
    write_json(data / "s_a.json", trajectory("s_a", [step("s_a", i, [CLICK]) for i in range(3)]))
    write_json(data / "s_b.json", trajectory("s_b", [step("s_b", i, [CLICK]) for i in range(2)]))
    for task, steps in (("s_a", 3), ("s_b", 2)):
        for i in range(steps):
            path = data / "images" / f"{task}_{i + 2}.png"
            if (task, i) == ("s_a", broken_step):
                truncated(path, WIDE)
            else:
                png(path, WIDE, shade=i)
    return data, data / "images"


def mind2web_data(root: Path) -> tuple[Path, Path]:
    samples, images = root / "samples", root / "blocks"
    box = [[20, 20, 60, 40]]
    write_jsonl(samples / "cross_domain_blocks.jsonl", [
        mind2web_row("T1", "u1", 0, "CLICK", "", box, {"0": box}, [], 2),
        mind2web_row("T1", "u2", 1, "TYPE", "x", box, {"0": box}, ["a -> CLICK"], 2),
        mind2web_row("T2", "u3", 0, "CLICK", "", box, {"0": box}, [], 1),
    ])
    write_jsonl(samples / "cross_task_blocks.jsonl", [mind2web_row("T3", "u4", 0, "CLICK", "", box, {"0": box}, [], 1)])
    write_jsonl(samples / "cross_website_blocks.jsonl", [mind2web_row("T4", "u5", 0, "CLICK", "", box, {"0": box}, [], 1)])
    for split, folder in (("domain", "T1_u1"), ("domain", "T1_u2"), ("domain", "T2_u3"), ("task", "T3_u4"), ("website", "T4_u5")):
        for k in range(2):
            png(images / f"cross_{split}" / folder / f"{k}.png", SQUARE, shade=k)
    return samples, images


def androidcontrol_data(root: Path) -> tuple[Path, Path]:
    png(root / "images" / "9806" / "screenshot_5.png", PORTRAIT)
    records = [android_record({"action_type": "click", "x": 140, "y": 125}), android_record({"action_type": "wait"})]
    write_json(root / "data" / "500_steps.json", records)
    return root / "data", root / "images"


def screenspot_pro_data(root: Path) -> tuple[Path, Path]:
    base = root / "ScreenSpot-Pro"
    png(base / "images" / "vscode_mac" / "a.png", WIDE)
    write_json(base / "annotations" / "vscode_macos.json", [
        pro_item("v0", "vscode_mac/a.png", "vscode", "macos", "Dev", "text"),
        pro_item("v1", "vscode_mac/a.png", "vscode", "macos", "Dev", "icon"),
    ])
    return base / "annotations", base / "images"


BUILDERS = {
    "agentnetbench": agentnetbench_data,
    "androidcontrol": androidcontrol_data,
    "screenspot_v2": screenspot_v2_data,
    "screenspot_pro": screenspot_pro_data,
    "mind2web": mind2web_data,
}


def config(tiny_model: str, name: str, paths: tuple[Path, Path], results: Path, **overrides) -> EvalConfig:
    settings = {"methods": ("gui_kv",), "budgets": ("0.3",), "max_new_tokens": 6, **TINY_PIXELS, **overrides}
    return EvalConfig(name, model=tiny_model, results_dir=results, data_dir=paths[0], images_dir=paths[1], **settings)


def rows_of(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / RESULTS_FILE).read_text(encoding="utf-8").splitlines()]


def without_timing(rows: list[dict]) -> dict:
    return {row_key(row): {k: v for k, v in row.items() if k != "timing"} for row in rows}


# --- a sweep --------------------------------------------------------------------------------------------------------


def test_sweep_rows_and_reference_files(tiny_model, tmp_path):
    paths = screenspot_v2_data(tmp_path)
    cfg = config(tiny_model, "screenspot_v2", paths, tmp_path / "results", methods=("snap_kv", "gui_kv"), budgets=("0.2", "50%"))
    events = []
    result = run_sweep(cfg, on_event=events.append)

    rows = rows_of(tmp_path / "results")
    runs = {(row["method"], row["budget"]) for row in rows}
    assert runs == {("snap_kv", "0.2"), ("snap_kv", "0.5"), ("gui_kv", "0.2"), ("gui_kv", "0.5")}
    assert len(rows) == len({row_key(row) for row in rows}) == 4 * 4  # exactly one row per (run, sample)
    row = rows[0]
    assert set(row["scores"]) == {"reference", "corrected"} and row["outputs"] and row["error"] is None
    assert row["scores"]["corrected"]["value"] in (0.0, 1.0) and row["scores"]["reference"]["details"]["text"] == "press m1.png"
    assert row["cache"]["tokens_per_layer"] and row["prefill_tokens"][0] > 0 and row["timing"]["seconds"] > 0

    assert [e.kind for e in events].count("row") == 16 and [e.kind for e in events].count("finish") == 4
    last = [e for e in events if e.kind == "row"][-1]
    assert last.done == last.total == 4 and last.accuracy == 0.0
    assert result.bad_records["count"] == 1 and "bad.png" in result.bad_records["records"][0]["reason"]

    for outcome in result.outcomes:
        assert outcome.folder.name == f"{outcome.run.method}_budget-{int(float(outcome.run.budget) * 100)}"
        summary = json.loads((outcome.folder / SUMMARY_FILE).read_text())
        assert summary["samples"] == 4 and summary["scoring"]["corrected"]["bad_records"]["count"] == 1
        for mode in ("reference", "corrected"):
            reference = json.loads((outcome.folder / mode / "summary_results.json").read_text())
            assert {"model_path", "task", "total_samples", "overall_accuracy", "text_accuracy", "icon_accuracy",
                    "task_breakdown", "kv_cache", "kv_cache_budget", "bad_records"} <= set(reference)
            assert reference["scoring_mode"] == mode and reference["kv_cache"] == outcome.run.method
            assert reference["kv_cache_budget"] == float(outcome.run.budget) * 100
            details = json.loads((outcome.folder / mode / "detailed_results.json").read_text())
            # the reference leaves items whose output did not parse out of its details; corrected keeps them
            mine = [r for r in rows if (r["method"], r["budget"]) == (outcome.run.method, outcome.run.budget)]
            parsed = sum(1 for r in mine if r["scores"][mode]["error"] is None)
            assert len(details) == (parsed if mode == "reference" else 4)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_benchmark_runs_and_writes_its_reference_files(tiny_model, tmp_path, name):
    paths = BUILDERS[name](tmp_path)
    bench = make_benchmark(name, *paths, env={})
    limit = 1 if bench.multi_step else None  # one episode is enough here
    result = run_sweep(config(tiny_model, name, paths, tmp_path / "results", methods=("full", "snap_kv"), limit=limit))
    data = bench.load()
    samples = len(data.episodes[0].sample_ids) if limit else len(data)
    assert [(o.run.method, o.run.budget) for o in result.outcomes] == [("full", None), ("snap_kv", "0.3")]
    assert len(rows_of(tmp_path / "results")) == 2 * samples
    for outcome in result.outcomes:
        budget = "100.0" if outcome.run.budget is None else "30.0"
        for mode in ("reference", "corrected"):
            written = sorted(p.name for p in (outcome.folder / mode).iterdir())
            assert written == sorted(f.format(budget=budget) for f in BENCHMARKS[name].result_files)
    headers = [json.loads(p.read_text()) for p in (result.outcomes[0].folder / "reference").iterdir()]
    headers = [h for h in headers if isinstance(h, dict) and "kv_cache" in h]
    assert headers and all(h["kv_cache"] == "original" and h["kv_cache_budget"] == 100.0 for h in headers)


# --- resume ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory", "discarded"),
    [
        ("reference", []),  # a finished step is final: its recorded output seeds the next step's history
        ("persistent", [{"run": "gui_kv @ 0.3", "episode_id": "s_a", "rows": 2}]),  # a cut-off episode is replayed
    ],
)
def test_resume_writes_what_an_uninterrupted_run_writes(tiny_model, tmp_path, memory, discarded):
    paths = agentnetbench_data(tmp_path)
    cfg = config(tiny_model, "agentnetbench", paths, tmp_path / "results", memory=memory)
    run_sweep(cfg)
    results = tmp_path / "results" / RESULTS_FILE
    complete = results.read_text().splitlines()
    assert [json.loads(line)["sample_id"] for line in complete] == ["s_a/0", "s_a/1", "s_a/2", "s_b/0", "s_b/1"]

    # killed after two steps of s_a, in the middle of writing the third row
    results.write_text("\n".join(complete[:2]) + "\n" + complete[2][:40])
    resumed = run_sweep(cfg)
    assert resumed.resume.truncated_tail and list(resumed.resume.discarded_episodes) == discarded
    assert resumed.resume.resumed_rows == (2 if memory == "reference" else 0)
    assert without_timing(rows_of(tmp_path / "results")) == without_timing([json.loads(line) for line in complete])

    again = run_sweep(cfg)  # nothing left to do: nothing is added, nothing is counted twice
    assert again.resume.resumed_rows == 5 and len(rows_of(tmp_path / "results")) == 5


def test_reference_prompts_that_open_with_assistant_turns_run(tiny_model, tmp_path):
    # with 2 image slots, step 2's prompt starts with step 0's history text: an assistant turn before any user turn
    paths = agentnetbench_data(tmp_path)
    bench = make_benchmark("agentnetbench", *paths, env={}, image_slots=2)
    assert bench.load().sample("s_a/2").messages("ui_tars")[0].role == "assistant"
    run_sweep(config(tiny_model, "agentnetbench", paths, tmp_path / "results", options={"image_slots": 2}, limit=1))
    rows = rows_of(tmp_path / "results")
    assert [row["error"] for row in rows] == [None, None, None] and all(row["outputs"] for row in rows)


def test_failed_generation_is_recorded_and_the_episode_goes_on(tiny_model, tmp_path):
    # verify_images=False: the half PNG loads (its header reads) and fails when the prompt opens it.
    paths = agentnetbench_data(tmp_path, broken_step=1)
    cfg = config(tiny_model, "agentnetbench", paths, tmp_path / "results", memory="persistent",
                 options={"verify_images": False}, max_consecutive_failures=0)
    result = run_sweep(cfg)
    rows = {row["sample_id"]: row for row in rows_of(tmp_path / "results")}
    failed = rows["s_a/1"]
    assert failed["error"].startswith("OSError") and "truncated" in failed["error"]
    assert failed["outputs"] == [] and failed["generations"] == 0
    assert all(failed["scores"][mode]["value"] == 0.0 for mode in ("reference", "corrected"))
    # the next step runs in a session rebuilt from the good turns (preamble-free here: step 0's turns + its own)
    assert rows["s_a/2"]["error"] is None and rows["s_a/2"]["outputs"]
    assert rows["s_a/2"]["prefill_tokens"][0] > rows["s_a/0"]["prefill_tokens"][0]
    assert result.outcomes[0].failures == 1
    summary = json.loads((result.outcomes[0].folder / SUMMARY_FILE).read_text())
    assert summary["generation_failures"]["samples"][0]["sample_id"] == "s_a/1"
    reference = json.loads((result.outcomes[0].folder / "reference" / "agentnetbench_results_budget.json").read_text())
    assert reference["generation_failures"]["count"] == 1 and reference["metrics"]["total_steps"] == 5


def test_failures_in_a_row_stop_the_sweep_and_retry_reruns_them(tiny_model, tmp_path):
    paths = screenspot_v2_data(tmp_path)
    broken = config(tiny_model, "screenspot_v2", paths, tmp_path / "results", methods=("snap_kv",), budgets=("4",),
                    max_consecutive_failures=2)
    with pytest.raises(EvalAborted, match=r"2 generations in a row failed.*not larger than the window"):
        run_sweep(broken)
    rows = rows_of(tmp_path / "results")
    assert len(rows) == 2 and all(row["error"] for row in rows)
    # the same run again, failures allowed and retried: the two failed rows are replaced, not added to
    retried = run_sweep(config(tiny_model, "screenspot_v2", paths, tmp_path / "results", methods=("snap_kv",), budgets=("4",),
                               max_consecutive_failures=0, retry_failed=True))
    assert retried.resume.retried_failures == 2 and len(rows_of(tmp_path / "results")) == 4
    assert retried.outcomes[0].failures == 4


def test_limit_runs_the_first_episodes_only(tiny_model, tmp_path):
    paths = agentnetbench_data(tmp_path)
    result = run_sweep(config(tiny_model, "agentnetbench", paths, tmp_path / "results", limit=1))
    assert [row["sample_id"] for row in rows_of(tmp_path / "results")] == ["s_a/0", "s_a/1", "s_a/2"]
    reference = json.loads((result.outcomes[0].folder / "corrected" / "agentnetbench_results_budget.json").read_text())
    assert reference["metrics"]["total_trajectories"] == 1 and reference["metrics"]["total_steps"] == 3


# --- work units -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "memory", "prompts", "units"),
    [
        ("screenspot_v2", "reference", "reference", [["mobile/0", "mobile/1", "desktop/0", "web/0"]]),
        ("agentnetbench", "reference", "reference", [["s_a/0", "s_a/1", "s_a/2"], ["s_b/0", "s_b/1"]]),
        ("agentnetbench", "persistent", "corrected", [["s_a/0", "s_a/1", "s_a/2"], ["s_b/0", "s_b/1"]]),
        # quirk "stale history": reference prompts read the previous task's last row, so the tasks run in one unit
        ("mind2web", "reference", "reference", [["domain/T1_u1", "domain/T1_u2", "domain/T2_u3", "task/T3_u4", "website/T4_u5"]]),
        (
            "mind2web", "persistent", "corrected",
            [["domain/T1_u1", "domain/T1_u2"], ["domain/T2_u3"], ["task/T3_u4"], ["website/T4_u5"]],
        ),
    ],
)
def test_work_units(tmp_path, name, memory, prompts, units):
    paths = BUILDERS[name](tmp_path)
    bench = make_benchmark(name, *paths, env={})
    run = EvalConfig(
        name, model="m", adapter="ui_tars", memory=memory, prompts=prompts, data_dir=paths[0], images_dir=paths[1]
    ).runs(bench)[0]
    assert [list(unit.sample_ids) for unit in plan_units(bench, bench.load(), run)] == units


# --- the results file -----------------------------------------------------------------------------------------------


def test_results_file_rules(tmp_path):
    path = tmp_path / RESULTS_FILE
    row = {"benchmark": "b", "sample_id": "x", "outputs": ["a"]}
    path.write_text(json.dumps(row) + "\n" + json.dumps({**row, "outputs": ["b"]}) + "\n" + '{"benchmark": "b", "samp')
    found = read_rows(path)
    assert [r["outputs"] for r in found.rows] == [["a"]] and found.duplicates == 1 and found.truncated_tail
    path.write_text(json.dumps(row) + "\n{oops}\n" + json.dumps({**row, "sample_id": "y"}) + "\n")
    with pytest.raises(ResultsError, match="line 2 is not a result row"):
        read_rows(path)


def test_a_results_directory_serves_one_sweep_at_a_time(tiny_model, tmp_path):
    paths = screenspot_v2_data(tmp_path)
    with results_lock(tmp_path / "results"), pytest.raises(ResultsError, match="in use by another eval"):
        run_sweep(config(tiny_model, "screenspot_v2", paths, tmp_path / "results"))


# --- configuration --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"benchmark": "screenspot_v3"}, "unknown benchmark 'screenspot_v3'; known: agentnetbench"),
        ({"methods": ("gui_kv", "h2o")}, "unknown compression method 'h2o'; available: full"),
        ({"budgets": ("ten",)}, "budget 'ten': expected a fraction"),
        ({"budgets": ("1.5",)}, "budget '1.5': expected a fraction"),
        ({"memory": "forever"}, "memory must be one of reference, persistent"),
        ({"prompts": "fixed"}, "unknown scoring mode 'fixed'"),
        ({"adapter": "claude"}, "unknown model adapter 'claude'"),
        ({"options": {"levels": "low"}}, "screenspot_v2 has no option levels; options: splits, verify_images"),
        ({"method_options": {"snap_kv": {"alpha": 2}}}, "not in this sweep's methods"),
        ({"method_options": {"gui_kv": {"alfa": 2}}}, "gui_kv: unknown option"),
        ({"limit": 0}, "limit must be >= 1"),
    ],
)
def test_configuration_errors_say_what_is_wrong(overrides, message):
    settings = {"benchmark": "screenspot_v2", "model": "m", "adapter": "ui_tars", **overrides}
    with pytest.raises(ValueError, match=re.escape(message)):
        EvalConfig(**settings)


def test_budgets_are_canonical_and_full_runs_once(tmp_path):
    paths = screenspot_v2_data(tmp_path)
    cfg = EvalConfig(
        "screenspot_v2", model="m", adapter="ui_tars", methods=("full", "gui_kv"), budgets=("10%", "0.10", "1.0", "4096"),
                     data_dir=paths[0], images_dir=paths[1])
    assert cfg.budgets == ("0.1", "1.0", "4096")
    runs = cfg.runs(make_benchmark("screenspot_v2", *paths, env={}))
    assert [(r.method, r.budget, r.budget_folder) for r in runs] == [
        ("full", None, "full"), ("gui_kv", "0.1", "10"), ("gui_kv", "1.0", "100"), ("gui_kv", "4096", "4096tok")
    ]


@pytest.mark.parametrize("prompts", ["reference", "corrected"])
def test_persistent_mind2web_replays_each_task_in_step_order(tiny_model, tmp_path, prompts):
    """Rows stored as steps 2, 0, 1: the episode's one session takes them 0, 1, 2 (its cache grows in that order)."""
    from tests.eval.test_mind2web import out_of_order

    root = out_of_order(tmp_path)
    paths = (root / "samples", root / "release_images")
    run_sweep(config(tiny_model, "mind2web", paths, tmp_path / "results", memory="persistent", prompts=prompts))
    rows = rows_of(tmp_path / "results")
    order = [row["sample_id"] for row in rows]
    assert order == ["domain/T5_s0", "domain/T5_s1", "domain/T5_s2", "domain/T6_n0", "domain/T6_n1"]
    t5 = [row for row in rows if row["episode_id"] == "domain/T5"]
    assert all(row["error"] is None for row in t5)
    logical = [row["cache"]["logical_tokens"] for row in t5]
    assert logical == sorted(logical) and len(set(logical)) == 3  # one conversation, growing step by step
    assert [row["meta"]["step"] for row in t5] == [0, 1, 2]


def _all_bad(root: Path, case: str) -> tuple[str, tuple[Path, Path]]:
    if case == "agentnetbench images one level deeper":
        data, _ = agentnetbench_data(root)
        return "agentnetbench", (data, data)  # --images test_data instead of test_data/images
    if case == "screenspot_pro images one level shallower":
        data, images = screenspot_pro_data(root)
        return "screenspot_pro", (data, images / "vscode_mac")
    if case == "androidcontrol tree without its episode level":
        data, images = androidcontrol_data(root)
        (images / "9806" / "screenshot_5.png").rename(images / "screenshot_5.png")
        return "androidcontrol", (data, images)
    if case == "no valid record":
        data, images = screenspot_v2_data(root)
        for split in ("mobile", "desktop", "web"):
            write_json(data / f"screenspot_{split}_v2.json", [{"img_filename": "m1.png"}])
        return "screenspot_v2", (data, images)
    data, images = screenspot_v2_data(root)  # "no records at all"
    for split in ("mobile", "desktop", "web"):
        write_json(data / f"screenspot_{split}_v2.json", [])
    return "screenspot_v2", (data, images)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("agentnetbench images one level deeper", r"image tree one level off\? It is under .*/test_data/images: pass"),
        ("screenspot_pro images one level shallower", r"image tree one level off\? It is under .*/ScreenSpot-Pro/images: pass"),
        ("androidcontrol tree without its episode level", r"The tree has no '9806/' level: this benchmark expects .*9806/"),
        ("no valid record", r"all 3 records are bad; first: screenspot_mobile_v2.json #0: record is missing field 'bbox'"),
        ("no records at all", r"no runnable sample in .*: it holds no records \(expected"),
    ],
)
def test_a_sweep_with_nothing_runnable_stops_before_the_model_and_says_why(tmp_path, case, message):
    name, paths = _all_bad(tmp_path, case)
    cfg = EvalConfig(
        name, model=str(tmp_path / "no-model-needed"), adapter="ui_tars", results_dir=tmp_path / "results", data_dir=paths[0],
                     images_dir=paths[1])
    with pytest.raises(BenchmarkDataError, match=message):
        run_sweep(cfg)
    assert not (tmp_path / "results").exists()  # nothing written, no lock left behind


def test_a_limit_that_selects_only_bad_rows_says_so(tmp_path):
    paths = mind2web_data(tmp_path)
    (paths[1] / "cross_domain" / "T1_u1" / "0.png").unlink()
    (paths[1] / "cross_domain" / "T1_u2" / "0.png").unlink()
    cfg = EvalConfig(
        "mind2web", model="m", adapter="ui_tars", results_dir=tmp_path / "results", data_dir=paths[0], images_dir=paths[1],
        limit=1,
    )
    with pytest.raises(BenchmarkDataError, match=r"the first 1 episode\(s\) hold no runnable sample .* raise --limit"):
        run_sweep(cfg)
