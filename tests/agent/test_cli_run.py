"""End to end: ``guikv-agent run`` with the tiny random Qwen2.5-VL (a local folder, the real loader) in Chromium, and
``guikv-agent replay`` of a hand-written run folder on the test page; clear errors for bad setups; Ctrl+C handling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from agent.cli import app
from agent.replay import load_run, replay, scale_action
from agent.terminal import graceful_interrupt
from environments.actions import Click, Drag
from tests.agent.conftest import GO_BUTTON, TEXT_FIELD, TINY_PIXELS, VIEWPORT, field_value, page_log

CLI = Path(sys.executable).with_name("guikv-agent")
BUDGET = 48  # tokens per layer: far below one step's context (~850 tokens with the UI-TARS prompt)


def invoke(*args: str, env: dict[str, str | None] | None = None):
    """Run the CLI in-process; a wide terminal keeps messages on one line (``one_line`` joins what still wraps)."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250", **(env or {})}, catch_exceptions=False)


def one_line(result) -> str:
    return " ".join(result.output.split())


def test_run_with_the_tiny_model_in_the_browser(site, tiny_model_folder, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "run", "Type hello and press Go", "--env", "browser", "--url", site.url, "--viewport", "320x240",
        "--model", str(tiny_model_folder), *TINY_PIXELS, "--kv", "gui_kv", "--budget", str(BUDGET),
        "--max-new-tokens", "16", "--max-steps", "3", "--out", str(out),
    )
    # Random text is no action: the model is asked again once, then the run stops with the reason (exit code 1).
    assert result.exit_code == 1, result.output
    assert "Step 0" in result.output and "Run summary" in result.output
    assert "could not be used 2 time(s)" in one_line(result)

    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "Type hello and press Go" and config["budget"] == BUDGET
    assert config["env_config"]["start_url"] == site.url and config["min_pixels"] == 28 * 28 * 4

    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    (row,) = rows
    assert row["stop_reason"]["kind"] == "bad_output" and row["actions"] == [] and row["bad_outputs"] == 2
    assert row["screenshot_size"] == list(VIEWPORT) and row["info"]["url"] == site.url
    calls = row["calls"]
    assert len(calls) == 2 and all(call["error"] for call in calls) and all(call["raw"] for call in calls)
    assert calls[0]["prompt_tokens"] > calls[1]["prompt_tokens"] > 0  # the retry feeds only the correction turn
    for call in calls:  # the memory session stays within its budget across both generations
        cache = call["cache"]
        assert max(cache["tokens_per_layer"]) <= BUDGET + call["output_tokens"] + 1 < cache["logical_tokens"]
        assert cache["budget"] == f"{BUDGET} tokens" and cache["bytes"] > 0
        assert 0 < call["compress_seconds"] <= call["prefill_seconds"] and call["decode_seconds"] > 0
    assert Image.open(out / "screenshots" / "step_000.png").size == VIEWPORT
    assert (out / "screenshots" / "final.png").is_file()

    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"]["kind"] == "bad_output" and summary["model_calls"] == summary["bad_outputs"] == 2
    page = (out / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 2 and "Type hello and press Go" in page
    assert "bad_output" in page and "could not be used" in page


HAND_WRITTEN = [
    # step 0 was declined in the run: not replayed (else the log would show an empty 'go:')
    {"step": 0, "actions": [{"type": "click", "point": list(GO_BUTTON)}], "outcomes": [{"status": "declined"}]},
    # recorded on a 640x480 screenshot: the points are scaled to the 320x240 one
    {"step": 1, "screenshot_size": [640, 480], "actions": [{"type": "click", "point": [TEXT_FIELD[0] * 2,
                                                                                      TEXT_FIELD[1] * 2]}]},
    {"step": 2, "actions": [{"type": "type", "text": "hello"}, {"type": "click", "point": list(GO_BUTTON)}]},
    {"step": 3, "actions": [{"type": "wait", "seconds": 0.2}, {"type": "finished", "content": "successful"}]},
]


def write_run_folder(folder: Path, rows=HAND_WRITTEN) -> Path:
    folder.mkdir(parents=True)
    (folder / "steps.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def test_replay_command_performs_a_hand_written_run_on_the_test_page(site, tmp_path):
    site.events.clear()
    folder = write_run_folder(tmp_path / "hand")
    result = subprocess.run(
        [str(CLI), "replay", str(folder), "--env", "browser", "--url", site.url, "--viewport", "320x240"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert site.wait_for_events(1) == [{"kind": "go", "value": "hello"}]  # the page read 'hello' from its field
    assert "4 action(s) executed, 0 failed" in result.stdout and "not_replayed" in result.stdout


def test_replay_in_process_reads_the_effect_from_the_dom(browser, tmp_path):
    run = load_run(write_run_folder(tmp_path / "hand"))
    steps = list(replay(run, browser))
    assert [s.status for s in steps] == ["not_replayed", "executed", "executed", "executed", "executed", "terminal"]
    assert steps[1].action == Click(TEXT_FIELD)  # scaled from 640x480
    assert field_value(browser) == "hello" and page_log(browser) == "go:hello"


def test_replay_reports_failed_actions_with_exit_code_1(site, tmp_path):
    folder = write_run_folder(tmp_path / "bad", [{"step": 0, "actions": [{"type": "click", "point": [900, 10]}]}])
    result = invoke("replay", str(folder), "--env", "browser", "--url", site.url, "--viewport", "320x240")
    assert result.exit_code == 1 and "failed" in result.output and "outside" in one_line(result)


def test_scale_action_moves_every_point():
    assert scale_action(Drag((10, 20), (638, 478)), (640, 480), (320, 240)) == Drag((5, 10), (319, 239))
    assert scale_action(Click((3, 4)), (320, 240), (320, 240)) == Click((3, 4))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("{\"step\": 0}\n{}\n", "needs an 'actions' list"),
        ('{"actions": [{"type": "fly"}]}\n', "unknown action type 'fly'"),
        ('{"actions": [{"type": "click"}], "outcomes": []}\n', "'outcomes' must be a list as long as 'actions'"),
        ('{"actions": [{"type": "click", "point": [1e999, 5]}]}\n', "point [inf, 5] is not usable"),
        ('{"actions": [{"type": "click", "point": ["a", 5]}]}\n', "is not usable"),
        ('{"actions": [{"type": "click", "point": [5]}]}\n', "a point is [x, y]"),
        ('{"actions": [{"type": "hotkey", "keys": "ctrl"}]}\n', "keys is a list of key names"),
    ],
)
def test_replay_rejects_a_malformed_folder_before_acting(tmp_path, rows, message):
    (tmp_path / "steps.jsonl").write_text(rows)
    result = invoke("replay", str(tmp_path), "--env", "browser", "--url", "http://127.0.0.1:9/")
    assert result.exit_code == 2 and message in one_line(result)


def test_replay_needs_a_folder_and_an_environment(tmp_path):
    result = invoke("replay", str(tmp_path / "missing"))
    assert result.exit_code == 2 and "does not exist" in one_line(result)
    write_run_folder(tmp_path / "hand")
    result = invoke("replay", str(tmp_path / "hand"))
    assert result.exit_code == 2 and "pass --env" in one_line(result)


def test_dry_run_on_the_desktop_with_the_tiny_model(xvfb, tiny_model_folder, tmp_path):
    # A subprocess: pyautogui binds a process to the first X display it meets (other tests may use another Xvfb).
    out = tmp_path / "desk"
    result = subprocess.run(
        [str(CLI), "run", "Open the file manager", "--env", "desktop", "--model", str(tiny_model_folder), *TINY_PIXELS,
         "--max-new-tokens", "8", "--dry-run", "--max-steps", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "DISPLAY": xvfb, "COLUMNS": "250"},
    )
    assert result.returncode == 1 and "DRY RUN" in result.stdout, result.stdout + result.stderr
    (row,) = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert row["info"]["monitor"]["width"] == 800 and row["screenshot_size"] == [800, 600]
    assert json.loads((out / "config.json").read_text())["dry_run"] is True
    assert (out / row["annotated"]).is_file() and (out / "report.html").is_file()


def test_unreachable_url_is_a_clear_error_before_the_model_loads(tiny_model_folder, tmp_path):
    result = invoke("run", "t", "--url", "http://127.0.0.1:9/", "--model", str(tiny_model_folder),
                    "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "cannot open http://127.0.0.1:9/" in one_line(result) and "Check that the server is running" in one_line(
        result)
    assert not (tmp_path / "run").exists()


def test_no_x_display_is_a_clear_error(tiny_model_folder, tmp_path):
    result = invoke("run", "t", "--env", "desktop", "--model", str(tiny_model_folder), "--out", str(tmp_path / "r"),
                    env={"DISPLAY": None})
    assert result.exit_code == 2 and "DISPLAY is not set" in one_line(result) and "Xvfb" in one_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "/nonexistent/weights"), "model folder /nonexistent/weights does not exist"),
        (("--budget", "150%"), "budget '150%'"),
        (("--viewport", "wide"), "expected WIDTHxHEIGHT"),
        (("--max-steps", "0"), "max_steps must be a positive int"),
    ],
)
def test_bad_flags_are_clear_errors(site, tmp_path, args, message):
    result = invoke("run", "t", "--url", site.url, "--viewport", "320x240", *args, "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and message in one_line(result)


def test_browser_needs_a_start_page():
    result = invoke("run", "t", "--env", "browser")
    assert result.exit_code == 2 and "--url" in one_line(result)


def test_default_hub_model_without_weights_says_how_to_pass_a_folder(site, tmp_path):
    result = subprocess.run(
        [str(CLI), "run", "t", "--url", site.url, "--viewport", "320x240", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    output = " ".join(result.stdout.split())
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ByteDance-Seed/UI-TARS-1.5-7B" in output and "--model ./weights" in output


def test_first_ctrl_c_asks_to_stop_and_the_second_aborts():
    previous = signal.getsignal(signal.SIGINT)
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    with graceful_interrupt(console) as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set()  # the loop polls this: it stops after the current action
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous
    console.file.close()


class FakeStatus:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


@pytest.mark.parametrize(("typed", "approved"), [("y\n", True), ("n\n", False), ("\n", False), ("", False)])
def test_terminal_confirmation_prompt(monkeypatch, typed, approved):
    import io

    from agent.safety import ConfirmRequest
    from agent.terminal import terminal_confirm
    from environments.actions import Hotkey

    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    output = io.StringIO()
    status = FakeStatus()
    confirm = terminal_confirm(Console(file=output, width=200), status)
    request = ConfirmRequest("risky", 2, Hotkey(("alt", "f4")), "hotkey alt+f4 can close a window or quit an app")
    assert confirm(request) is approved
    assert "Step 2: hotkey alt+f4 can close a window" in output.getvalue()
    assert status.calls == ["stop", "start"]  # the spinner pauses while the person answers
    if not typed:  # no terminal input at all: a clear hint instead of a hang or a crash
        assert "Pass --yes" in output.getvalue()
