"""``guikv-agent eval`` and ``report`` from the command line: a sweep killed mid-run and resumed (exactly one row per
run and sample), the report's table and plot, the help text, and bad input (exit code 2 with a clear message)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from eval.results import RESULTS_FILE, row_key
from tests.eval.helpers import WIDE, png, write_json
from tests.eval.test_runner import screenspot_v2_data, tiny_model  # noqa: F401
from tests.eval.test_screenspot_v2 import item

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--min-pixels", str(28 * 28 * 4), "--max-pixels", str(28 * 28 * 64), "--max-new-tokens", "8"]
runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def six_items(root: Path) -> tuple[Path, Path]:
    data, images = root / "ScreenSpot-v2", root / "ScreenSpot-v2" / "screenspotv2_image"
    for split in ("mobile", "desktop", "web"):
        for k in range(2):
            png(images / f"{split}{k}.png", WIDE, shade=k)
        write_json(data / f"screenspot_{split}_v2.json", [item(f"{split}0.png", "text"), item(f"{split}1.png", "icon")])
    return data, images


def eval_process(model: str, results: Path, env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "agent.cli", "eval", "screenspot_v2", "--model", model,
               "--methods", "snap_kv,gui_kv", "--budgets", "0.2,0.5", "--results", str(results), *TINY]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sweep_killed_mid_run_resumes_to_one_row_per_sample_then_reports(tiny_model, tmp_path):  # noqa: F811
    data, images = six_items(tmp_path)
    env = {**os.environ, "SCREENSPOT_TEST": str(data), "SCREENSPOT_IMGS": str(images), "COLUMNS": "200"}
    results = tmp_path / "results"
    rows_file = results / RESULTS_FILE

    first = eval_process(tiny_model, results, env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and first.poll() is None:
        if rows_file.exists() and rows_file.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    first.kill()  # SIGKILL: no cleanup, no summary files
    output = first.communicate()[0]
    assert first.returncode == -9, f"the sweep was not killed mid-run (rc {first.returncode}):\n{output}"
    written = rows_file.read_text().count("\n")
    assert 3 <= written < 24

    second = eval_process(tiny_model, results, env)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output
    assert f"resumed: {written} rows were already done" in flat(output)
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    keys = [row_key(row) for row in rows]
    assert len(keys) == len(set(keys)) == 4 * 6  # exactly one row per (run, sample)
    assert {(row["method"], row["budget"]) for row in rows} == {(m, b) for m in ("snap_kv", "gui_kv") for b in ("0.2", "0.5")}
    for folder in results.glob("screenspot_v2/*/*/*_budget-*"):
        assert json.loads((folder / "corrected" / "summary_results.json").read_text())["total_samples"] == 6
    assert len(list(results.glob("screenspot_v2/*/*/*_budget-*/reference/detailed_results.json"))) == 4

    report = runner.invoke(app, ["report", str(results)])
    assert report.exit_code == 0, report.output
    assert "budget 0.2" in report.output and "budget 0.5" in report.output and "snap_kv" in report.output
    assert (results / "report.png").stat().st_size > 10_000 and "| gui_kv |" in (results / "report.md").read_text()


def test_help_teaches():
    text = flat(runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output)
    for needle in ("$SCREENSPOT_TEST", "$AGENTNETBENCH_DATA", "$MM_MIND2WEB_IMGS", "reference = as the GUI-KV reference scores",
                   "persistent = one session per episode", "Resume: re-run the same command", "--ray", "--method-option",
                   "guikv-agent eval screenspot_v2 --methods full,snap_kv,gui_kv"):
        assert needle in text, needle
    assert "report.png" in flat(runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"}).output)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "no data directory given; set SCREENSPOT_TEST or pass it explicitly"),
        (["--data", "/no/such/dir"], "data directory /no/such/dir (from argument) does not exist"),
        (["--data", "{data}", "--budgets", "ten"], "budget 'ten': expected a fraction"),
        (["--data", "{data}", "--methods", "h2o"], "unknown compression method 'h2o'"),
        (["--data", "{data}", "--option", "level=low"], "screenspot_v2 has no option 'level'"),
        (["--data", "{data}", "--method-option", "alpha=2"], "is not METHOD.OPTION"),
        (["--data", "{data}", "--model", "/no/such/model"], "model folder /no/such/model does not exist"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, monkeypatch, arguments, message):
    for variable in ("SCREENSPOT_TEST", "SCREENSPOT_IMGS"):
        monkeypatch.delenv(variable, raising=False)
    data, _ = screenspot_v2_data(tmp_path)
    arguments = [a.replace("{data}", str(data)) for a in arguments]
    result = runner.invoke(app, ["eval", "screenspot_v2", "--results", str(tmp_path / "results"), *arguments])
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)


def test_failed_generations_are_reported(tiny_model, tmp_path):  # noqa: F811
    # a 4-token budget is not larger than SnapKV's 8-token window: every session refuses to start
    data, _ = screenspot_v2_data(tmp_path)
    result = runner.invoke(app, ["eval", "screenspot_v2", "--data", str(data), "--model", tiny_model, "--methods", "snap_kv",
                                 "--budgets", "4", "--results", str(tmp_path / "results"), *TINY])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "4 generations failed (recorded, scored as wrong; --retry-failed redoes them)" in text
    assert "not larger than the window" in text and "1 bad records" in text


def test_report_of_an_unfinished_directory(tmp_path):
    (tmp_path / RESULTS_FILE).write_text("")
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "the sweep did not finish" in flat(result.output)


def test_a_sweep_whose_every_record_is_bad_exits_non_zero_naming_the_layout(tiny_model, tmp_path):  # noqa: F811
    """Mind2Web's block images one folder level deeper than --images says: every row is a bad record. The sweep used
    to exit 0 with accuracy 0.0; through the real CLI it now stops with exit code 2 before any model loads."""
    from tests.eval.test_mind2web import out_of_order

    root = out_of_order(tmp_path / "download")
    nested = tmp_path / "download" / "release_images"
    command = [sys.executable, "-m", "agent.cli", "eval", "mind2web", "--model", tiny_model, "--memory", "persistent",
               "--data", str(root / "samples"), "--images", str(tmp_path / "download"), "--results", str(tmp_path / "results"),
               *TINY]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "COLUMNS": "400"}, capture_output=True, text=True, timeout=300)
    output = flat(done.stdout + done.stderr)
    assert done.returncode == 2, output
    assert "mind2web: no runnable sample" in output and "all 5 records are bad, 5 for a missing image" in output
    assert f"No image found under {tmp_path / 'download'}" in output and "is the image tree one level off?" in output
    assert f"It is under {nested}: pass that folder" in output
    assert "Traceback" not in output and not (tmp_path / "results" / RESULTS_FILE).exists()
