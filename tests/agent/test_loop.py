"""The step loop on a real Chromium page, with a scripted policy; ``ModelPolicy`` on the tiny random Qwen2.5-VL."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import count

import pytest

from agent.errors import ModelOutputError
from agent.loop import CORRECTION, FAILED_ACTION_NOTE, ModelCall, ModelPolicy, PolicyOutput, run_steps
from agent.models.base import ParsedOutput
from agent.models.ui_tars import UITarsAdapter
from agent.record import RunRecord
from agent.run_folder import read_steps
from agent.safety import BROWSER_RULES, DESKTOP_RULES, SafetyGate
from environments import BrowserConfig, BrowserEnv
from environments.actions import CallUser, Click, Finished, Hotkey, Scroll, Type, Wait
from environments.base import Observation
from environments.desktop import DesktopConfig, DesktopEnv
from environments.errors import EnvError
from guikv.presses.registry import PRESSES
from guikv.testing import synthetic_screenshot
from tests.agent.conftest import (
    GO_BUTTON,
    TEXT_FIELD,
    VIEWPORT,
    ScriptedPolicy,
    field_value,
    page_log,
    scripted_sessions,
)
from tests.pointer import move_pointer

TINY_LIMITS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 64}


def test_scripted_task_runs_to_finished_and_acts_on_the_page(browser):
    policy = ScriptedPolicy([[Click(TEXT_FIELD)], [Type("hello")], [Click(GO_BUTTON), Finished("successful")]])
    records = list(run_steps(browser, policy, "say hello", max_steps=10))
    assert [r.step for r in records] == [0, 1, 2]
    assert page_log(browser) == "go:hello"
    assert policy.tasks == ["say hello"] and len(policy.seen) == 3
    assert [o.status for r in records for o in r.outcomes] == ["executed", "executed", "executed", "terminal"]
    assert [r.stop_reason for r in records[:2]] == [None, None]
    assert records[-1].stop_reason.kind == "finished" and records[-1].stop_reason.message == "successful"
    # each record holds the screenshot the policy saw, and the screen after its actions
    assert records[0].screenshot.size == VIEWPORT and records[0].info["url"].startswith("http://127.0.0.1")
    assert records[1].screenshot is policy.seen[1].screenshot
    assert records[-1].after is not None and records[-1].after.screenshot.size == VIEWPORT
    row = json.loads(json.dumps(records[2].to_dict()))
    assert row["actions"] == [{"type": "click", "point": list(GO_BUTTON)},
                              {"type": "finished", "content": "successful"}]
    assert row["stop_reason"] == {"kind": "finished", "message": "successful"}
    assert row["screenshot_size"] == list(VIEWPORT) and row["seconds"] >= row["action_seconds"] >= 0


def test_max_steps_ends_the_run(browser):
    policy = ScriptedPolicy([[Wait(0.0)]] * 3)
    records = list(run_steps(browser, policy, "wait", max_steps=3))
    assert len(records) == 3 and records[-1].stop_reason.kind == "max_steps"
    assert "3 step" in records[-1].stop_reason.message


def test_time_limit_is_checked_after_each_step(browser):
    ticks = count(step=10.0)  # every clock reading is 10 s later
    policy = ScriptedPolicy([[Wait(0.0)]] * 5)
    records = list(run_steps(browser, policy, "wait", max_steps=5, max_seconds=25, clock=lambda: next(ticks)))
    assert records[-1].stop_reason.kind == "max_seconds" and len(records) < 5


def test_interrupt_during_the_model_call_skips_the_steps_actions(browser):
    flag = {"stop": False}

    def interrupt_on_second_step(step: int) -> None:
        if step == 1:
            flag["stop"] = True  # Ctrl+C while the model thinks

    policy = ScriptedPolicy([[Click(TEXT_FIELD), Type("abc")], [Click(GO_BUTTON)], [Wait(0.0)]],
                            on_act=interrupt_on_second_step)
    records = list(run_steps(browser, policy, "t", max_steps=5, stop_requested=lambda: flag["stop"]))
    assert len(records) == 2
    assert records[1].stop_reason.kind == "interrupted"
    assert [o.status for o in records[1].outcomes] == ["skipped"]
    assert field_value(browser) == "abc" and page_log(browser) == ""  # step 0 ran, the click of step 1 did not


def test_an_action_the_environment_refuses_is_recorded_and_the_rest_of_the_step_skipped(browser):
    off_screen = Click((VIEWPORT[0] + 50, 10))
    policy = ScriptedPolicy([[off_screen, Click(GO_BUTTON)], [Click(GO_BUTTON), Finished()]])
    first, second = run_steps(browser, policy, "t", max_steps=5)
    assert [o.status for o in first.outcomes] == ["failed", "skipped"]
    assert "outside" in first.outcomes[0].detail and first.stop_reason is None
    assert policy.seen[1].error is not None  # the next observation tells the policy what went wrong
    assert [o.status for o in second.outcomes] == ["executed", "terminal"]
    assert page_log(browser) == "go:"


class Answers:
    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    def __call__(self, request) -> bool:
        self.questions.append(request.question)
        return self.answers.pop(0)


def test_a_declined_risky_action_stops_the_run_without_executing(browser):
    confirm = Answers(False)
    policy = ScriptedPolicy([[Click(TEXT_FIELD), Hotkey(("alt", "f4")), Click(GO_BUTTON)]])
    (record,) = run_steps(browser, policy, "t", gate=SafetyGate(DESKTOP_RULES, confirm))
    assert [o.status for o in record.outcomes] == ["executed", "declined", "skipped"]
    assert record.stop_reason.kind == "declined" and "close a window" in record.stop_reason.message
    assert len(confirm.questions) == 1 and page_log(browser) == ""


def test_an_approved_risky_action_runs(browser):
    confirm = Answers(True)
    policy = ScriptedPolicy([[Click(TEXT_FIELD), Type("rm -rf x"), Click(GO_BUTTON), Finished()]])
    (record,) = run_steps(browser, policy, "t", gate=SafetyGate(DESKTOP_RULES, confirm))
    assert [o.status for o in record.outcomes] == ["executed", "executed", "executed", "terminal"]
    assert "deny list" in record.outcomes[1].risk and len(confirm.questions) == 1
    assert page_log(browser) == "go:rm -rf x"


def test_dry_run_executes_nothing_and_notes_what_would_be_asked(browser):
    policy = ScriptedPolicy([[Click(TEXT_FIELD), Type("rm -rf x")], [Click(GO_BUTTON)]])
    records = list(run_steps(browser, policy, "t", max_steps=2, gate=SafetyGate(DESKTOP_RULES, Answers()),
                             dry_run=True))
    assert [o.status for r in records for o in r.outcomes] == ["dry_run"] * 3
    assert "would ask first" in records[0].outcomes[1].detail
    assert field_value(browser) == "" and page_log(browser) == ""
    assert policy.seen[1].screenshot is policy.seen[0].screenshot


@pytest.mark.parametrize(("confirm", "steps", "kind"), [(None, 1, "call_user"), (Answers(True), 2, "max_steps")])
def test_call_user_ends_the_run_unless_a_person_helps(browser, confirm, steps, kind):
    policy = ScriptedPolicy([[CallUser("stuck")], [Wait(0.0)]])
    records = list(run_steps(browser, policy, "t", max_steps=2, gate=SafetyGate(BROWSER_RULES, confirm)))
    assert len(records) == steps and records[-1].stop_reason.kind == kind


def test_a_policy_that_cannot_decide_stops_the_run(browser):
    policy = ScriptedPolicy([PolicyOutput((), error="no usable answer")])
    (record,) = run_steps(browser, policy, "t")
    assert record.stop_reason.kind == "bad_output" and "no usable answer" in record.stop_reason.message
    assert record.outcomes == () and record.to_dict()["error"] == "no usable answer"


# -- ModelPolicy on the tiny random Qwen2.5-VL ----------------------------------------------------------------------
@pytest.fixture
def tiny_adapter():
    return UITarsAdapter(max_new_tokens=12, **TINY_LIMITS)


def _within_budget(call) -> None:
    cache = call.cache
    assert max(cache["tokens_per_layer"]) <= cache["budget_tokens"], cache
    assert cache["budget_tokens"] < cache["logical_tokens"], "the cache was not compressed"


def test_unusable_output_is_recorded_then_asked_again_once(vl_model, processor, tiny_adapter):
    policy = ModelPolicy(tiny_adapter, vl_model, processor, method="gui_kv", budget=0.1, retries=1)
    policy.reset("click the Go button")
    decision = policy.act(Observation(synthetic_screenshot(*VIEWPORT)))
    assert decision.actions == () and "could not be used 2 time(s)" in decision.error
    assert len(decision.calls) == 2 and all(call.error for call in decision.calls)
    for call in decision.calls:
        _within_budget(call)
        assert call.output_tokens <= 12 and call.prompt_tokens > 0
    # the second call answered a correction turn added on top of the first answer
    roles = [m["role"] for m in policy.session.messages]
    assert roles == ["system", "user", "user", "assistant", "user", "assistant"]
    assert policy.session.messages[4]["content"] == CORRECTION.format(reason=decision.calls[0].error)
    assert decision.calls[1].cache["logical_tokens"] > decision.calls[0].cache["logical_tokens"]
    policy.close()
    assert policy.session is None


@dataclass(frozen=True)
class WaitingAdapter(UITarsAdapter):
    """UI-TARS prompts, but every answer reads as ``wait()``: random text cannot act, this keeps the loop going."""

    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        return ParsedOutput("random text", None, (Wait(0.0),), text)


def test_memory_persists_across_steps_within_a_token_budget(browser, vl_model, processor):
    adapter = WaitingAdapter(max_new_tokens=6, **TINY_LIMITS)
    policy = ModelPolicy(adapter, vl_model, processor, method="gui_kv", budget=40, retries=0)
    records = list(run_steps(browser, policy, "wait three times", max_steps=3))
    assert len(records) == 3 and records[-1].stop_reason.kind == "max_steps"
    calls = [r.calls[0] for r in records]
    for call in calls:
        _within_budget(call)
        assert max(call.cache["tokens_per_layer"]) <= 40 + call.output_tokens + 1
    logical = [call.cache["logical_tokens"] for call in calls]
    assert logical == sorted(logical) and logical[0] < logical[-1]  # one growing conversation, never re-prefilled
    assert sorted(calls[-1].cache["screenshot_sizes"]) == ["0", "1", "2"]  # all three screenshots went in
    assert calls[-1].prompt_tokens < calls[0].prompt_tokens  # later steps feed only the new screenshot turn
    policy.close()


@dataclass(frozen=True)
class FailingOnceAdapter(UITarsAdapter):
    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        raise ModelOutputError(text, "always unusable")


def test_a_failed_action_is_told_to_the_model(vl_model, processor):
    policy = ModelPolicy(FailingOnceAdapter(max_new_tokens=4, **TINY_LIMITS), vl_model, processor, retries=0)
    policy.reset("t")
    observation = Observation(synthetic_screenshot(*VIEWPORT), {"error": "click: point (400, 10) is outside"})
    decision = policy.act(observation)
    assert len(decision.calls) == 1 and decision.error is not None
    turn = policy.session.messages[2]["content"]
    assert turn[-1] == {"type": "text", "text": FAILED_ACTION_NOTE.format(error=observation.error)}
    policy.close()


def test_model_policy_needs_reset_first(vl_model, processor, tiny_adapter):
    with pytest.raises(RuntimeError, match="before reset"):
        ModelPolicy(tiny_adapter, vl_model, processor).act(Observation(synthetic_screenshot(*VIEWPORT)))
    with pytest.raises(ValueError, match="retries"):
        ModelPolicy(tiny_adapter, vl_model, processor, retries=-1)


def test_full_cache_budget_is_the_whole_context(vl_model, processor):
    policy = ModelPolicy(WaitingAdapter(max_new_tokens=3, **TINY_LIMITS), vl_model, processor, method="full")
    policy.reset("t")
    call = policy.act(Observation(synthetic_screenshot(*VIEWPORT))).calls[0]
    assert call.cache["budget_tokens"] == call.cache["logical_tokens"] == max(call.cache["tokens_per_layer"])
    assert math.isclose(sum(call.cache["tokens_per_layer"]) / 3, call.cache["logical_tokens"])
    policy.close()


@pytest.mark.parametrize("method", sorted(PRESSES))
def test_every_method_keeps_the_persistent_cache_within_budget(vl_model, processor, method):
    _two_steps_within_budget(vl_model, processor, method, "persistent")


@pytest.mark.parametrize("method", sorted(PRESSES))
def test_every_method_keeps_the_reference_cache_within_budget(vl_model, processor, method):
    _two_steps_within_budget(vl_model, processor, method, "reference")


def _two_steps_within_budget(vl_model, processor, method, mode):
    policy = ModelPolicy(WaitingAdapter(max_new_tokens=4, **TINY_LIMITS), vl_model, processor, method=method,
                         budget=0.2, mode=mode, max_screenshots=1)
    policy.reset("t")
    for seed in range(2):
        call = policy.act(Observation(synthetic_screenshot(*VIEWPORT, seed=seed))).calls[0]
        tokens = call.cache["tokens_per_layer"]
        assert sum(tokens) / len(tokens) <= call.cache["budget_tokens"], (method, mode, call.cache)
    policy.close()


def test_a_destructive_command_split_over_two_steps_is_asked_and_declined(browser):
    confirm = Answers(False)
    policy = ScriptedPolicy([[Click(TEXT_FIELD), Type("r")], [Type("m -rf ~", submit=True), Click(GO_BUTTON)]])
    first, second = run_steps(browser, policy, "t", max_steps=3, gate=SafetyGate(DESKTOP_RULES, confirm))
    assert [o.status for o in first.outcomes] == ["executed", "executed"]
    assert [o.status for o in second.outcomes] == ["declined", "skipped"]
    assert second.stop_reason.kind == "declined" and "'rm -rf ~'" in second.stop_reason.message
    assert len(confirm.questions) == 1 and field_value(browser) == "r" and page_log(browser) == ""


def test_dry_run_notes_a_split_command_as_asking(browser):
    policy = ScriptedPolicy([[Type("r")], [Type("m -rf ~", submit=True)]])
    records = list(run_steps(browser, policy, "t", max_steps=2, gate=SafetyGate(DESKTOP_RULES, None), dry_run=True))
    assert records[0].outcomes[0].risk is None and "deny list" in records[1].outcomes[0].risk
    assert field_value(browser) == ""


# -- environment failures and stops -----------------------------------------------------------------------------------
class BrowserThatBreaksOnTyping(BrowserEnv):
    """The real browser, with a fault injected: typing raises the EnvError a crashed browser would."""

    def _execute(self, action):
        if isinstance(action, Type):
            raise EnvError("the browser crashed")
        return super()._execute(action)


def test_an_environment_failure_still_yields_the_step_with_the_models_answer(site, tmp_path):
    answer = ModelCall("Thought: type it\nAction: type(content='hi')", 10, 5, 0.1, 0.1, True)
    policy = ScriptedPolicy([PolicyOutput((Click(TEXT_FIELD), Type("hi"), Click(GO_BUTTON)), "type it", calls=(answer,))])
    record = RunRecord(tmp_path / "run")
    with BrowserThatBreaksOnTyping(BrowserConfig(start_url=site.url, viewport=VIEWPORT, settle=0.0)) as env:
        for step in run_steps(env, policy, "t", max_steps=3):
            record.add(step)
    summary = record.finish()
    (row,) = read_steps(record.folder)
    assert [o["status"] for o in row["outcomes"]] == ["executed", "failed", "skipped"]
    assert row["stop_reason"]["kind"] == "env_error" and "the browser crashed" in row["stop_reason"]["message"]
    assert row["calls"][0]["raw"] == answer.raw and "the browser crashed" in row["error"]
    assert summary["stop_reason"]["kind"] == "env_error" and (record.folder / "report.html").is_file()


def test_a_stop_between_retries_does_not_wait_for_the_remaining_ones(browser):
    asked = {"calls": 0}

    def unusable_answers():
        while True:
            asked["calls"] += 1
            yield "no action here"

    policy = ModelPolicy(UITarsAdapter(), None, None, retries=10_000, session_factory=scripted_sessions(unusable_answers()))
    (record,) = run_steps(browser, policy, "t", max_steps=3, stop_requested=lambda: asked["calls"] >= 3)
    assert record.stop_reason.kind == "interrupted" and len(record.calls) == 3
    assert all(call.error for call in record.calls) and record.error is None
    assert policy.should_stop is None  # the run's stop condition is removed once the run ends


def test_the_time_limit_cuts_a_huge_scroll_on_the_desktop(xvfb):
    policy = ScriptedPolicy([[Scroll("down", None, amount=1_000_000_000), Click((5, 5))]] * 3)
    with DesktopEnv(DesktopConfig(pause=0.0)) as env:
        (record,) = run_steps(env, policy, "t", max_steps=3, max_seconds=1.0)
    assert record.stop_reason.kind == "max_seconds"
    scroll, click = record.outcomes
    assert scroll.status == "executed" and "of 1000000000 notches" in scroll.detail
    assert scroll.seconds < 1.0 + 1.0  # the bound: within max_seconds + 1 s
    assert click.status == "skipped" and click.detail == "the time limit was reached"
    assert env.should_stop is None


def test_the_fail_safe_corner_stops_the_run_cleanly_with_its_record(xvfb, tmp_path):
    def person_grabs_the_mouse(step: int) -> None:
        if step == 1:
            move_pointer(0, 0)

    policy = ScriptedPolicy([[Click((0, 0)), Click((799, 599))], [Click((300, 300))], [Wait(0.0)]],
                            on_act=person_grabs_the_mouse)
    record = RunRecord(tmp_path / "run")
    with DesktopEnv(DesktopConfig(pause=0.0)) as env:
        for step in run_steps(env, policy, "t", max_steps=3):
            record.add(step)
    summary = record.finish()
    first, second = read_steps(record.folder)
    assert [o["status"] for o in first["outcomes"]] == ["executed", "executed"]  # corners: clicked next to them
    assert [o["status"] for o in second["outcomes"]] == ["failed"]
    assert second["stop_reason"]["kind"] == "failsafe" and "corner" in second["stop_reason"]["message"]
    assert summary["stop_reason"]["kind"] == "failsafe" and "failsafe" in (record.folder / "report.html").read_text()
    move_pointer(400, 300)


def test_a_screenshot_the_processor_rejects_is_a_step_error_and_the_next_step_goes_on(vl_model, processor):
    """An extreme aspect ratio (the Qwen resize refuses > 200:1) is the policy's error for that step, not a crash;
    the session is left as it was, so the next, ordinary screenshot is answered."""
    policy = ModelPolicy(WaitingAdapter(max_new_tokens=3, **TINY_LIMITS), vl_model, processor, method="full")
    policy.reset("t")
    decision = policy.act(Observation(synthetic_screenshot(2000, 4)))
    assert decision.actions == () and "rejected the screenshot" in decision.error and decision.calls == ()
    assert [m["role"] for m in policy.session.messages] == ["system", "user"]
    decision = policy.act(Observation(synthetic_screenshot(*VIEWPORT)))
    assert decision.error is None and decision.actions == (Wait(0.0),) and len(decision.calls) == 1
    policy.close()
