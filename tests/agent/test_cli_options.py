"""Bad options of ``run`` and ``eval``: each is ONE line and exit code 2, before any browser or model starts, and leaves
no run folder behind.

How "before" is shown: the start page is an unreachable URL (a started browser would fail with "cannot open ...") and
the model folder holds a config but no weights (loading them would fail with a load error); the error is about the
option instead.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.record import check_run_folder
from tests.agent.conftest import ROOT, cli_env
from tests.eval.helpers import WIDE, png, write_json
from tests.eval.test_screenspot_v2 import item

UNREACHABLE = "http://127.0.0.1:9/"


@pytest.fixture
def weightless_model(tiny_model_folder, tmp_path):
    """The tiny model's folder without its weights: its adapter can be chosen, its weights cannot load."""
    folder = tmp_path / "weightless"
    shutil.copytree(tiny_model_folder, folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return folder


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80"}, catch_exceptions=False)


def error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, f"expected one line, got {lines}"
    assert lines[0].startswith("error: ") and "cannot open" not in lines[0] and "Traceback" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--budget", "4"), "a budget of 4 tokens is not larger than the window of 8 recent tokens"),
        (("--budget", "8", "--kv", "snap_kv"), "is not larger than the window of 8"),
        (("--budget", "4", "--kv-option", "window_size=2"), None),  # allowed: the run would start (not here)
        (("--kv-option", "nonsense=1"), "--kv-option: gui_kv: unknown option(s) ['nonsense']"),
        (("--kv-option", "window_size=0"), "window_size must be a positive int"),
        (("--kv", "pyramid_kv", "--kv-option", "alpha=2"), "unknown option(s) ['alpha']"),
        (("--adapter-option", "bogus=1"), "the ui_tars adapter has no option(s) ['bogus']"),
        (("--adapter-option", "prompt=nope"), "unknown UI-TARS prompt 'nope'"),
        (("--adapter", "opencua", "--adapter-option", "prompt=computer"), "the opencua adapter has no option(s)"),
        (("--max-new-tokens", "0"), "max_new_tokens must be a positive int"),
        (("--env-option", "settle=abc"), "--env browser"),
        (("--env-option", "colour=red"), "unknown field(s) ['colour']"),
        (("--budget", "150%"), "--budget: budget '150%'"),
        (("--viewport", "wide"), "expected WIDTHxHEIGHT"),
        (("--kv-option", "novalue"), "--kv-option takes key=value"),
    ],
)
def test_a_bad_option_is_one_line_before_anything_starts(weightless_model, tmp_path, args, message):
    out = tmp_path / "run"
    if message is None:  # a valid combination gets past validation: to the browser, which cannot open the page
        result = run_cli("run", "t", "--url", UNREACHABLE, "--model", str(weightless_model), *args, "--out", str(out))
        assert result.exit_code == 2 and "cannot open" in result.output
        assert not out.exists()
        return
    result = run_cli("run", "t", "--url", UNREACHABLE, "--model", str(weightless_model), *args, "--out", str(out))
    assert message in error_line(result)
    assert not out.exists()


def test_a_non_empty_out_is_refused_and_left_as_it_was(weightless_model, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_cli("run", "t", "--url", UNREACHABLE, "--model", str(weightless_model), "--out", str(out))
    assert "--out:" in error_line(result) and "is not empty" in result.output
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("where", ["sys", "under_a_file", "a_file"])
def test_an_unwritable_out_is_refused(weightless_model, tmp_path, where):
    (tmp_path / "file").write_text("x")
    out = {"sys": "/sys/guikv-run", "under_a_file": str(tmp_path / "file" / "run"), "a_file": str(tmp_path / "file")}[
        where]
    result = run_cli("run", "t", "--url", UNREACHABLE, "--model", str(weightless_model), "--out", out)
    line = error_line(result)
    assert "--out:" in line and ("cannot write" in line or "is a file" in line or "is not a folder" in line)
    assert (tmp_path / "file").read_text() == "x"


def test_a_failed_start_leaves_nothing_that_blocks_a_rerun(weightless_model, tmp_path):
    out = tmp_path / "run"
    for _ in range(2):  # the same command twice: the same error, never "already holds a run"
        result = run_cli("run", "t", "--url", UNREACHABLE, "--model", str(weightless_model), "--out", str(out))
        assert result.exit_code == 2 and "cannot open" in result.output and not out.exists()


def test_run_folder_checks(tmp_path):
    check_run_folder(tmp_path / "new" / "deeper")  # absent: creatable
    (tmp_path / "empty").mkdir()
    check_run_folder(tmp_path / "empty")
    (tmp_path / "empty" / "x").write_text("")
    with pytest.raises(ValueError, match="is not empty"):
        check_run_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="cannot write into /sys"):
        check_run_folder("/sys/guikv-check")


def screenspot_data(root):
    data, images = root / "ScreenSpot-v2", root / "ScreenSpot-v2" / "screenspotv2_image"
    for split in ("mobile", "desktop", "web"):
        png(images / f"{split}0.png", WIDE)
        write_json(data / f"screenspot_{split}_v2.json", [item(f"{split}0.png", "text")])
    return data, images


@pytest.mark.parametrize("where", ["sys", "a_file", "under_a_file"])
def test_an_unwritable_eval_results_directory_is_one_line_before_the_model_loads(weightless_model, tmp_path, where):
    data, images = screenspot_data(tmp_path)
    (tmp_path / "file").write_text("x")
    results = {"sys": "/sys/guikv-results", "a_file": str(tmp_path / "file"),
               "under_a_file": str(tmp_path / "file" / "results")}[where]
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "eval", "screenspot_v2", "--model", str(weightless_model), "--data",
         str(data), "--images", str(images), "--results", results],
        cwd=ROOT, env=cli_env(COLUMNS="80"), capture_output=True, text=True, timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: --results: ") and "Traceback" not in result.stderr
    assert (tmp_path / "file").read_text() == "x"
