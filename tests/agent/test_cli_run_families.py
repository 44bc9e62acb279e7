"""End to end over every family with an agent adapter: ``guikv-agent run`` on the local test page with the family's tiny
random model saved in its real folder layout (``save_pretrained``, or OpenCUA's own checkpoint layout), loaded by the
same ``--model FOLDER`` path users take; the adapter is found from the folder's ``config.json`` through the model
registry (``ModelSpec.default_adapter``), never defaulted.

Random weights write random text, so the run ends as ``bad_output`` after one retry: what is checked is that every
layer of the run (loader, adapter prompt, persistent compressed memory, record, summary, report) works for the family.
A new family with a default adapter is covered by registering its tiny builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from guikv.models import MODEL_SPECS
from guikv.testing.registry import TINY_FAMILIES
from tests.agent.conftest import VIEWPORT

BUDGET = 48
FAMILIES = [name for name, spec in MODEL_SPECS.items() if spec.default_adapter is not None]


@pytest.fixture(scope="module")
def family_folders(tmp_path_factory: pytest.TempPathFactory):
    folders: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in folders:
            folders[name] = TINY_FAMILIES[name].save(tmp_path_factory.mktemp(f"tiny-{name}"))
        return folders[name]

    return folder


def test_the_adapter_families_include_the_issue_ones():
    assert {"qwen2_5_vl", "opencua", "qwen3_vl"} <= set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_run_in_the_browser_with_each_familys_tiny_model(site, family_folders, tmp_path, family):
    spec = MODEL_SPECS[family]
    factor = 32 if family.startswith("qwen3_vl") else 28  # patch x merge: 16 x 2 for Qwen3-VL, else 14 x 2
    pixels = ("--min-pixels", str(factor * factor * 4), "--max-pixels", str(factor * factor * 64))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "run", "Type hello and press Go", "--env", "browser", "--url", site.url, "--viewport", "320x240",
        "--model", str(family_folders(family)), *pixels, "--kv", "gui_kv", "--budget", str(BUDGET),
        "--max-new-tokens", "12", "--max-steps", "2", "--out", str(out),
    ], env={"COLUMNS": "250"}, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert "Run summary" in result.output

    config = json.loads((out / "config.json").read_text())
    assert config["adapter"] == spec.default_adapter, config
    rows = [json.loads(line) for line in (out / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows and rows[0]["screenshot_size"] == list(VIEWPORT) and rows[0]["info"]["url"] == site.url
    calls = [call for row in rows for call in row["calls"]]
    assert calls and all(call["raw"] is not None and call["prompt_tokens"] > 0 for call in calls)
    first = calls[0]["cache"]
    assert first["screenshot_sizes"] and first["logical_tokens"] > BUDGET  # a real screenshot went into the memory
    for call in calls:  # the persistent session holds its budget on every family
        cache = call["cache"]
        assert max(cache["tokens_per_layer"]) <= BUDGET + call["output_tokens"] + 1 < cache["logical_tokens"]
    if len(calls) > 1:
        assert calls[1]["prompt_tokens"] < calls[0]["prompt_tokens"]  # later turns feed only what is new
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_calls"] == len(calls)
    assert (out / "report.html").is_file() and (out / "screenshots" / "step_000.png").is_file()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_adapter_of_a_family_folder_takes_the_familys_options_and_pixel_limits(family_folders, family):
    """The registry picks the adapter and what the family needs of it: UI-TARS v1 (Qwen2-VL) writes 0-1000 points."""
    from agent.models.registry import adapter_for_model

    spec = MODEL_SPECS[family]
    adapter = adapter_for_model(family_folders(family))
    assert adapter.name == spec.default_adapter
    assert (adapter.min_pixels, adapter.max_pixels) == (spec.pixels.min_pixels, spec.pixels.max_pixels)
    for name, value in spec.default_adapter_options.items():
        assert getattr(adapter, name) == value
    if family == "qwen2_vl":
        assert adapter.coordinate_convention == "thousandths"
    lowered = spec.pixels.max_pixels // 2
    assert adapter_for_model(family_folders(family), max_pixels=lowered).max_pixels == lowered  # the caller's word wins
