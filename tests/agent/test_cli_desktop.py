"""The real CLI on a real X server (Xvfb) with the tiny model and scripted answers (``scripted_cli.py``): the safety
prompt with no terminal to answer it. A subprocess each: pyautogui binds a process to the first display it meets."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.agent.conftest import ROOT, TINY_PIXELS, cli_env, scripted_cli_command
from tests.agent.malformed_outputs import _ui


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
