"""Hostile model answers (``malformed_outputs.py``, 60+ per adapter): the parser turns each into a model error or
checked actions, and the real loop with the real run record records every one and goes on (or stops cleanly), each
row of steps.jsonl strict UTF-8 JSON. Only the model is scripted (``ScriptedSession``): no real model can be made to
write a chosen answer. Every adapter the registry knows must have its table here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from agent.errors import ModelOutputError, ModelValueError
from agent.loop import ModelPolicy, actions_of_row, run_steps
from agent.models import registry
from agent.models.base import MAX_SCROLL_AMOUNT, MAX_WAIT_SECONDS, ModelAdapter, check_actions
from agent.models.opencua import OpenCUAAdapter
from agent.models.qwen3_vl import Qwen3VLAdapter
from agent.models.ui_tars import UITarsAdapter
from agent.record import RunRecord
from agent.run_folder import clean_text, read_steps
from environments import BrowserConfig, BrowserEnv
from environments.actions import Hover, Scroll, Wait
from tests.agent.conftest import TINY_PIXELS, VIEWPORT, run_scripted_cli, scripted_sessions
from tests.agent.malformed_outputs import OPENCUA_CASES, QWEN3_VL_CASES, UI_TARS_CASES, Case, _cua, _qa, _ui

ADAPTERS: dict[str, tuple[ModelAdapter, list[Case], str]] = {
    # adapter, its table, a usable answer the loop gets after each model error (a harmless hover)
    "ui_tars": (UITarsAdapter(), UI_TARS_CASES, _ui("hover(point='<point>300 230</point>')")),
    "opencua": (OpenCUAAdapter(), OPENCUA_CASES, _cua("pyautogui.moveTo(300, 230)")),
    "qwen3_vl": (Qwen3VLAdapter(), QWEN3_VL_CASES, _qa(action="mouse_move", coordinate=[900, 900])),
}
ISSUE_CASES = {  # the answers the issue reports as crashing the run, by table id
    "ui_tars": ["nan_point", "inf_point", "1e999_point", "1.7e308_point", "400_digit_point", "nested_lists_5000",
                "escaped_lone_surrogate"],
    "opencua": ["1e999_x", "1.7e308_x", "400_digit_x", "scroll_1e999", "scroll_a_billion_clamped",
                "nested_lists_5000", "escaped_lone_surrogate"],
    "qwen3_vl": ["nan_coordinate", "infinity_coordinate", "1e999_coordinate", "1.7e308_coordinate", "400_digit_coordinate",
                 "pixels_1e999", "pixels_a_billion", "nested_lists_5000", "escaped_lone_surrogate"],
}
CASES = [(name, case) for name, (_, cases, _) in ADAPTERS.items() for case in cases]


def test_every_registered_adapter_has_a_table():
    """A new adapter fails here until it gets its table of hostile answers (and the issue's cases in its terms)."""
    assert set(ADAPTERS) == set(registry.ADAPTERS) == set(ISSUE_CASES)
    for name, (adapter, _, _) in ADAPTERS.items():
        assert type(adapter) is registry.ADAPTERS[name]


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_each_table_holds_60_cases_and_every_case_of_the_issue(name):
    _, cases, _ = ADAPTERS[name]
    ids = [case.id for case in cases]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    assert set(ISSUE_CASES[name]) <= set(ids)
    assert sum(case.parses for case in cases) >= 5 and sum(not case.parses for case in cases) >= 55


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{name}-{case.id}" for name, case in CASES])
def test_the_adapter_gives_checked_actions_or_a_model_error(name, case):
    adapter = ADAPTERS[name][0]
    if case.error is not None:
        with pytest.raises(ModelOutputError) as info:
            adapter.interpret(case.text, VIEWPORT)
        assert case.error in info.value.reason, info.value.reason
        assert info.value.raw_text == case.text and len(info.value.reason) <= 600
        return
    parsed = adapter.interpret(case.text, VIEWPORT)
    assert check_actions(parsed.actions, VIEWPORT) == parsed.actions
    assert case.check(parsed.actions), parsed.actions


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{name}-{case.id}" for name, case in CASES])
def test_parse_itself_raises_nothing_but_model_output_error(name, case):
    try:
        parsed = ADAPTERS[name][0].parse(case.text, VIEWPORT)
    except ModelOutputError:
        assert not case.parses, case.id
        return
    if not case.parses:  # what parse() let through, the shared checks of interpret() refuse
        with pytest.raises(ModelValueError):
            check_actions(parsed.actions, VIEWPORT)


def strict_rows(path: Path) -> list[dict]:
    """The rows of a steps.jsonl, failing on anything but strict JSON in valid UTF-8 (no NaN, no lone surrogate)."""
    text = path.read_bytes().decode("utf-8")  # strict: a lone surrogate cannot have been written as UTF-8

    def no_constants(name: str):
        raise AssertionError(f"{path} holds the non-JSON constant {name}")

    rows = [json.loads(line, parse_constant=no_constants) for line in text.splitlines()]
    for row in rows:
        json.dumps(row, allow_nan=False).encode("utf-8")
    return rows


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_case_through_the_real_loop_and_run_record(name, site, tmp_path):
    adapter, cases, recovery = ADAPTERS[name]
    replies: list[str] = []
    for case in cases:
        replies += [case.text] if case.parses else [case.text, recovery]
    last_two = [cases[0].text, "%%$# not an answer"]  # two unusable answers in a row: the run stops cleanly
    policy = ModelPolicy(adapter, None, None, retries=1, session_factory=scripted_sessions(replies + last_two))
    record = RunRecord(tmp_path / "run")
    with BrowserEnv(BrowserConfig(start_url=site.url, viewport=VIEWPORT, settle=0.0, max_wait=0.0)) as env:
        for step in run_steps(env, policy, "survive the answers", max_steps=len(cases) + 5):
            record.add(step)
    summary = record.finish()

    rows = strict_rows(record.steps_path)
    assert rows == read_steps(record.folder) and len(rows) == len(cases) + 1
    for case, row in zip(cases, rows, strict=False):
        first = row["calls"][0]
        assert first["raw"] == clean_text(case.text), case.id
        actions = [action for action, _ in actions_of_row(row)]
        if case.parses:
            assert first["error"] is None and len(row["calls"]) == 1, (case.id, first["error"])
            assert case.check(tuple(actions)), (case.id, actions)
            assert all(o["status"] in ("executed", "failed") for o in row["outcomes"]), (case.id, row["outcomes"])
        else:
            assert case.error in first["error"], (case.id, first["error"])
            assert [call["error"] for call in row["calls"][1:]] == [None], case.id  # asked again: usable
            assert len(actions) == 1 and isinstance(actions[0], Hover), case.id
        assert row["stop_reason"] is None, case.id
    final = rows[-1]
    assert final["stop_reason"]["kind"] == "bad_output" and final["actions"] == []
    assert [call["error"] is not None for call in final["calls"]] == [True, True]
    bad = sum(not case.parses for case in cases) + 2
    assert summary["bad_outputs"] == bad and summary["stop_reason"]["kind"] == "bad_output"
    assert json.loads((record.folder / "summary.json").read_text(encoding="utf-8"))["bad_outputs"] == bad
    page = (record.folder / "report.html").read_bytes().decode("utf-8")
    assert page.count('<section class="step"') >= len(rows)


def test_hostile_answers_through_the_real_cli(site, tiny_model_folder, tmp_path):
    by_id = {case.id: case for case in UI_TARS_CASES}
    hostile = [by_id[name] for name in ("nan_point", "escaped_lone_surrogate", "raw_lone_surrogate", "400_digit_point",
                                        "1.7e308_point", "unary_chain_100000")]
    out = tmp_path / "run"
    result = run_scripted_cli(
        [case.text for case in hostile] + [_ui("finished(content='done')")], tmp_path,
        "run", "survive", "--url", site.url, "--viewport", "320x240", "--model", str(tiny_model_folder), *TINY_PIXELS,
        "--max-new-tokens", "2", "--retries", str(len(hostile)), "--out", str(out),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (row,) = strict_rows(out / "steps.jsonl")
    assert [call["raw"] for call in row["calls"]] == [clean_text(c.text) for c in hostile] + [_ui("finished(content='done')")]
    for case, call in zip(hostile, row["calls"], strict=False):
        assert case.error in call["error"], (case.id, call["error"])
    assert row["calls"][-1]["error"] is None and row["stop_reason"]["kind"] == "finished"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["bad_outputs"] == len(hostile) and (out / "report.html").is_file()


def test_scroll_amounts_are_clamped_and_never_overflow():
    parsed = OpenCUAAdapter().interpret(_cua("pyautogui.scroll(clicks=1000000000)"), VIEWPORT)
    assert [a.amount for a in parsed.actions] == [MAX_SCROLL_AMOUNT]
    assert math.isfinite(OpenCUAAdapter().interpret(_cua("time.sleep(1e300)"), VIEWPORT).actions[0].seconds)
    # Qwen3-VL: pixels and times inside its tool's bounds are clamped to the same shared caps, not refused
    qwen = Qwen3VLAdapter()
    assert qwen.interpret(_qa(action="scroll", pixels=-1000), VIEWPORT).actions == (Scroll("down", None, MAX_SCROLL_AMOUNT),)
    assert qwen.interpret(_qa(action="wait", time=600), VIEWPORT).actions == (Wait(MAX_WAIT_SECONDS),)
