"""The real CLI on a real X server (Xvfb) with the tiny model and scripted answers (``scripted_cli.py``): the safety
prompt with no terminal to answer it. A subprocess each: pyautogui binds a process to the first display it meets."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.agent.conftest import ROOT, TINY_PIXELS, cli_env, scripted_cli_command
from tests.agent.malformed_outputs import _cua, _ui


def desktop_run(replies, tmp_path, xvfb, tiny_model_folder, *extra, stdin=subprocess.DEVNULL, close_stdin=False):
    out = tmp_path / "run"
    command = scripted_cli_command(
        replies, tmp_path, "run", "t", "--env", "desktop", "--model", str(tiny_model_folder), *TINY_PIXELS,
        "--max-new-tokens", "2", "--env-option", "pause=0", "--out", str(out), *extra)
    result = subprocess.run(command, cwd=ROOT, env=cli_env(DISPLAY=xvfb), capture_output=True, text=True, timeout=240,
                            stdin=stdin, preexec_fn=(lambda: os.close(0)) if close_stdin else None)
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()] if out.exists() else []
    return result, rows, out


@pytest.mark.parametrize("close_stdin", [False, True], ids=["stdin_at_eof", "stdin_closed"])
def test_a_split_destructive_command_asks_and_no_answer_declines(xvfb, tiny_model_folder, tmp_path, close_stdin):
    replies = [_ui("type(content='r')"), _ui("type(content='m -rf ~\\n')")]
    result, rows, out = desktop_run(replies, tmp_path, xvfb, tiny_model_folder, "--max-steps", "3",
                                    close_stdin=close_stdin)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, output
    assert "Traceback" not in output and "treated as no" in output and "'rm -rf ~'" in output
    assert [o["status"] for row in rows for o in row["outcomes"]] == ["executed", "declined"]
    assert rows[-1]["stop_reason"]["kind"] == "declined"
    assert (out / "summary.json").is_file() and (out / "report.html").is_file()


def test_a_click_at_negative_coordinates_runs_inside_the_screen_and_the_run_goes_on(xvfb, tiny_model_folder, tmp_path):
    replies = [_ui("click(point='<point>-50 -50</point>')"), _ui("click(point='<point>300 300</point>')"),
               _ui("finished(content='done')")]
    result, rows, _ = desktop_run(replies, tmp_path, xvfb, tiny_model_folder, "--max-steps", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [row["actions"][0]["type"] for row in rows] == ["click", "click", "finished"]
    assert rows[0]["actions"][0]["point"] == [0, 0]  # clamped onto the screenshot, then clicked next to the corner
    assert [o["status"] for row in rows for o in row["outcomes"]] == ["executed", "executed", "terminal"]
    assert rows[-1]["stop_reason"]["kind"] == "finished"


def test_the_fail_safe_corner_is_a_clean_stop_with_a_summary_and_a_report(xvfb, tiny_model_folder, tmp_path):
    # While the model answers, a person pushes the mouse into the top-left corner: the next action trips the fail-safe.
    replies = [{"text": _ui("click(point='<point>300 300</point>')"), "pointer": [0, 0]}]
    result, rows, out = desktop_run(replies, tmp_path, xvfb, tiny_model_folder, "--max-steps", "3")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 130, output
    assert "Traceback" not in output and "failsafe" in output
    (row,) = rows
    assert row["stop_reason"]["kind"] == "failsafe" and row["outcomes"][0]["status"] == "failed"
    assert row["calls"][0]["raw"] == replies[0]["text"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"]["kind"] == "failsafe" and (out / "report.html").is_file()


def test_an_opencua_scroll_of_a_billion_clicks_finishes_within_the_time_limit(xvfb, tiny_model_folder, tmp_path):
    code = _cua("pyautogui.scroll(clicks=1000000000)")
    result, rows, _ = desktop_run([code], tmp_path, xvfb, tiny_model_folder, "--adapter", "opencua",
                                    "--max-seconds", "3", "--max-steps", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows[-1]["stop_reason"]["kind"] in ("max_seconds", "max_steps")
    scrolls = [(action, outcome) for row in rows for action, outcome in zip(row["actions"], row["outcomes"], strict=True)]
    assert scrolls and all(action == {"type": "scroll", "direction": "up", "point": None, "amount": 100}
                           for action, _ in scrolls)
    assert all(outcome["status"] in ("executed", "skipped") and outcome["seconds"] <= 3 + 1 for _, outcome in scrolls)
