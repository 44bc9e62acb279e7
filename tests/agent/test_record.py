"""The run folder (written step by step, readable after a crash), the HTML report and RunConfig."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from agent.config import RunConfig
from agent.loop import ActionOutcome, ModelCall, StepRecord, StopReason
from agent.record import RunRecord, default_run_folder
from agent.run_folder import FINAL_SCREENSHOT, clean_text, json_line, read_steps
from agent.run_report import render_report, write_report
from environments.actions import Click, Finished, Type
from environments.base import Observation
from guikv.testing import synthetic_screenshot


def make_step(step: int, actions, statuses, *, stop: StopReason | None = None, thought: str = "") -> StepRecord:
    screenshot = synthetic_screenshot(160, 120, seed=step)
    call = ModelCall(
        raw=f"Thought: {thought}\nAction: ...", prompt_tokens=100 + step, output_tokens=20, prefill_seconds=0.5,
        decode_seconds=0.25, stopped_by_eos=True,
        cache={"tokens_per_layer": [40 + step, 40 + step], "bytes": 2**20, "logical_tokens": 400 * (step + 1),
               "budget_tokens": 61, "budget": "0.1"},
    )
    return StepRecord(
        step=step, started_at=1.7e9 + step, screenshot=screenshot, info={"url": "http://127.0.0.1/"},
        thought=thought, reflection=None,
        outcomes=tuple(ActionOutcome(a, s) for a, s in zip(actions, statuses, strict=True)),
        calls=(call,), policy_seconds=0.75, action_seconds=0.1, seconds=0.85, stop_reason=stop,
        after=Observation(synthetic_screenshot(160, 120, seed=99)),
    )


def test_run_record_writes_each_step_as_it_happens_then_summary_and_report(tmp_path):
    config = RunConfig(task="say <hello>", env_config={"start_url": "http://127.0.0.1/"}, budget="10%")
    record = RunRecord(tmp_path / "run", config)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["budget"] == 0.1
    record.add(make_step(0, [Click((10, 10)), Type("hi")], ["executed", "executed"], thought="<script>x</script>"))
    rows = read_steps(tmp_path / "run")  # on disk before the run ends
    assert len(rows) == 1 and rows[0]["screenshot"] == "screenshots/step_000.png"
    assert (tmp_path / "run" / "screenshots" / "step_000.png").is_file()
    stop = StopReason("finished", "successful")
    record.add(make_step(1, [Finished("successful")], ["terminal"], stop=stop))
    summary = record.finish()
    assert summary["steps"] == 2 and summary["stop_reason"] == {"kind": "finished", "message": "successful"}
    assert summary["model_calls"] == 2 and summary["bad_outputs"] == 0
    assert summary["actions"] == {"executed": 2, "terminal": 1} and summary["peak_cache_tokens"] == 41
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary
    assert Image.open(tmp_path / "run" / FINAL_SCREENSHOT).size == (160, 120)

    page = (tmp_path / "run" / "report.html").read_text()
    images = [part.split('"')[0] for part in page.split('src="data:image/jpeg;base64,')[1:]]
    assert len(images) == 3  # two steps and the final screen, inlined
    decoded = Image.open(io.BytesIO(base64.b64decode(images[0])))
    assert decoded.size == (160, 120)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "say &lt;hello&gt;" in page and "finished" in page and "src=\"http" not in page


def test_a_folder_that_holds_a_run_is_not_overwritten(tmp_path):
    RunRecord(tmp_path / "run")
    with pytest.raises(FileExistsError, match="already holds a run"):
        RunRecord(tmp_path / "run")


def test_dry_run_records_write_the_action_drawn_on_the_screenshot(tmp_path):
    record = RunRecord(tmp_path / "run", annotate_steps=True)
    row = record.add(make_step(0, [Click((80, 60))], ["dry_run"]))
    drawn = Image.open(tmp_path / "run" / row["annotated"])
    assert drawn.getpixel((80, 60)) != synthetic_screenshot(160, 120, seed=0).getpixel((80, 60))


def test_reading_survives_a_crash_mid_write_but_not_a_corrupt_row(tmp_path):
    steps = tmp_path / "steps.jsonl"
    steps.write_text('{"step": 0, "actions": []}\n{"step": 1, "actions": [{"type": "cli')  # cut by a crash
    assert [row["step"] for row in read_steps(tmp_path)] == [0]
    steps.write_text('{"step": 0, "actions": []}\nnot json\n{"step": 2, "actions": []}\n')
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        read_steps(tmp_path)
    steps.write_text('[1, 2]\n{"step": 1}\n')
    with pytest.raises(ValueError, match="line 1: a step row is a JSON object"):
        read_steps(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        read_steps(tmp_path / "nowhere")


def test_report_of_a_hand_written_or_unfinished_folder(tmp_path):
    (tmp_path / "steps.jsonl").write_text(
        json.dumps({"step": 0, "actions": [{"type": "click", "point": [5, 5]}]}) + "\n"
        + json.dumps({"step": 1, "actions": [{"type": "teleport"}]}) + "\n"
    )
    page = render_report(tmp_path)  # no config, no screenshots, no summary, one bad action
    assert "Step 0" in page and "Step 1" in page and "unknown action type" in page
    assert write_report(tmp_path).read_text() == page


def test_rows_are_strict_utf8_json_whatever_the_model_wrote(tmp_path):
    """A lone surrogate or a NaN in a row (from the model's text, or a cache statistic) never reaches the file."""
    record = RunRecord(tmp_path / "run", {"task": "t\ud800"})
    step = make_step(0, [Type("ok")], ["executed"], thought="half a character: \ud800, a pair: \ud83d\ude00")
    step.calls[0].cache["odd"] = [float("nan"), float("inf")]
    record.add(step)
    record.finish()
    for name in ("steps.jsonl", "config.json", "summary.json", "report.html"):
        (tmp_path / "run" / name).read_bytes().decode("utf-8")  # strict UTF-8
    (row,) = [json.loads(line, parse_constant=pytest.fail) for line in (tmp_path / "run" / "steps.jsonl").open()]
    assert row["thought"] == "half a character: \ufffd, a pair: \U0001f600"
    assert row["calls"][0]["cache"]["odd"] == ["nan", "inf"]
    assert clean_text("fine") == "fine" and json_line({"x": (1, float("-inf"))}) == '{"x": [1, "-inf"]}'


def test_default_run_folder_is_dated_and_readable():
    import datetime as dt

    folder = default_run_folder("Search for GUI-KV, then open it!", "runs", dt.datetime(2025, 1, 2, 3, 4, 5))
    assert folder.as_posix() == "runs/20250102-030405-search-for-gui-kv-then-open-it"


# -- RunConfig ---------------------------------------------------------------------------------------------------------
def test_run_config_round_trips_through_the_run_folder(tmp_path):
    config = RunConfig(task="t", env="desktop", env_config={"monitor": 1}, kv="snap_kv", budget="4096",
                       max_seconds=60, min_pixels=3136, max_pixels=50176, kv_options={"window_size": 4})
    assert config.budget == 4096
    config.save(tmp_path)
    assert RunConfig.load(tmp_path) == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": " "}, "task must be"),
        ({"env": "phone"}, "unknown environment 'phone'; registered: browser, desktop"),
        ({"kv": "h2o"}, "unknown KV compression method 'h2o'; available: full"),
        ({"budget": "1.5"}, "budget '1.5'"),
        ({"budget": "ten"}, "budget 'ten'"),
        ({"max_steps": 0}, "max_steps must be a positive int"),
        ({"max_seconds": -1}, "max_seconds must be a positive number"),
        ({"retries": -1}, "retries must be an int >= 0"),
        ({"min_pixels": 100, "max_pixels": 50}, "min_pixels (100) is above max_pixels (50)"),
        ({"memory_mode": "sliding"}, "memory_mode must be one of"),
        ({"env_config": ["start_url"]}, "env_config must be a mapping"),
    ],
)
def test_run_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError) as error:
        RunConfig(**{"task": "t", **kwargs})
    assert message in str(error.value)


def test_loading_a_broken_config_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"config\.json does not exist"):
        RunConfig.load(tmp_path)
    (tmp_path / "config.json").write_text('{"task": "t", "colour": "red"}')
    with pytest.raises(ValueError, match=r"config.json: unknown run config field\(s\) \['colour'\]"):
        RunConfig.load(tmp_path)
