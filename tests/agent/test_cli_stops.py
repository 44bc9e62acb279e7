"""Stops of a real ``guikv-agent run`` subprocess (tiny model, real Chromium): SIGTERM and SIGHUP stop like the first
Ctrl+C and leave a complete record; ``report RUN_DIR`` (and ``replay --report-only``) rebuild the record of a run killed
with SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agent.cli import app
from agent.terminal import graceful_interrupt
from tests.agent.conftest import ROOT, TINY_PIXELS, cli_env, scripted_cli_command
from tests.agent.malformed_outputs import _ui

CLI = Path(sys.executable).with_name("guikv-agent")


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"}, catch_exceptions=False)


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit code {process.returncode}) before {what}: {process.communicate()[0]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {timeout} s: {process.communicate()[0]}")
        time.sleep(0.05)


def rows_of(folder: Path) -> list[dict]:
    path = folder / "steps.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_each_stop_signal_sets_the_stop_and_a_second_aborts(number):
    previous = signal.getsignal(number)
    output = io.StringIO()
    with graceful_interrupt(Console(file=output, width=200)) as stop:
        os.kill(os.getpid(), number)
        assert stop.is_set() and signal.Signals(number).name in output.getvalue()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), number)
    assert signal.getsignal(number) is previous


def test_sigterm_mid_run_writes_the_steps_the_summary_and_the_report(site, tiny_model_folder, tmp_path):
    # The tiny model writes random text: every answer is unusable and, with this many retries, step 0 would go on
    # for hours; SIGTERM arrives while the model answers again and again.
    out = tmp_path / "run"
    process = subprocess.Popen(
        [str(CLI), "run", "keep trying", "--url", site.url, "--viewport", "320x240", "--model", str(tiny_model_folder),
         *TINY_PIXELS, "--max-new-tokens", "2", "--retries", "100000", "--out", str(out)],
        cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    wait_for(lambda: (out / "config.json").is_file(), process, "a run folder")  # written once the weights loaded
    time.sleep(1.0)  # the model is answering
    process.send_signal(signal.SIGTERM)
    output = " ".join(process.communicate(timeout=120)[0].split())
    assert process.returncode == 130, output
    assert "SIGTERM: stopping" in output and "Traceback" not in output and "Run summary" in output
    (row,) = rows_of(out)
    assert row["stop_reason"]["kind"] == "interrupted" and len(row["calls"]) >= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"]["kind"] == "interrupted" and summary["model_calls"] == len(row["calls"])
    assert "interrupted" in (out / "report.html").read_text()


def test_report_rebuilds_a_run_killed_with_sigkill(site, tiny_model_folder, tmp_path):
    out = tmp_path / "run"
    command = scripted_cli_command(
        [_ui("wait()")], tmp_path, "run", "wait forever", "--url", site.url, "--viewport", "320x240",
        "--model", str(tiny_model_folder), *TINY_PIXELS, "--max-new-tokens", "2", "--max-steps", "1000",
        "--env-option", "max_wait=0", "--env-option", "settle=0", "--out", str(out))
    process = subprocess.Popen(command, cwd=ROOT, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(rows_of(out)) >= 2, process, "two recorded steps")
    process.kill()  # SIGKILL: no handler runs, no summary, no report
    process.communicate(timeout=60)
    assert not (out / "summary.json").exists() and not (out / "report.html").exists()
    # A kill in the middle of a row leaves half of it; whether a real kill lands there is luck, so cut one here.
    with (out / "steps.jsonl").open("a") as handle:
        handle.write('{"step": 999, "screenshot": "screenshots/step_999.png", "acti')
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()[:-1]]

    result = invoke("report", str(out))
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    assert "warning:" in text and "cut short" in text and "Run summary" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == len(rows) and summary["stop_reason"] is None and "killed" in summary["error"]
    page = (out / "report.html").read_text()
    assert page.count('<section class="step"') == len(rows) and "killed" in page

    (out / "report.html").unlink()
    result = invoke("replay", str(out), "--report-only")
    assert result.exit_code == 0 and (out / "report.html").is_file()
    assert json.loads((out / "summary.json").read_text())["steps"] == len(rows)


def test_report_keeps_the_stop_reason_of_a_run_that_ended(tmp_path):
    (tmp_path / "steps.jsonl").write_text(json.dumps({"step": 0, "actions": []}) + "\n")
    (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": {"kind": "interrupted", "message": "second "
                                                                       "Ctrl+C"}, "error": None}))
    assert invoke("report", str(tmp_path)).exit_code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"]["kind"] == "interrupted" and summary["error"] is None and summary["steps"] == 1


def test_report_of_a_folder_that_is_neither_is_one_line(tmp_path):
    result = invoke("report", str(tmp_path / "nothing"))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = invoke("report", str(tmp_path), "--out", str(tmp_path / "x"))  # not a run folder: eval's tables
    assert result.exit_code == 2
    (tmp_path / "steps.jsonl").write_text("")
    result = invoke("report", str(tmp_path), "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "run folder" in result.output
