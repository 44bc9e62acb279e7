"""Which actions a person must approve before they run, and how the loop asks.

On a real desktop a model can destroy work: a hotkey that closes a window or quits an application, a destructive
command typed into a terminal. ``SafetyRules`` names those actions (deny lists, matched on the typed action and the
focused window's title); ``SafetyGate`` asks a ``Confirm`` callable (the CLI's prompt) before such an action runs.
The model's own ``call_user`` always goes to the person: approving it lets the run go on after they helped.

``--yes`` means nobody is asked (``confirm=None``): risky actions run, and a ``call_user`` ends the run because no one
is there to help. The browser runs in a fresh, throw-away context, so only ``call_user`` is gated there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from environments.actions import Action, CallUser, Hotkey, Type
from environments.keys import canonical_keys

# Key combinations that close a window, a tab or document, quit an application, end the X session, or delete for good.
CLOSING_HOTKEYS: tuple[tuple[str, ...], ...] = (
    ("alt", "f4"),
    ("ctrl", "w"),
    ("ctrl", "q"),
    ("ctrl", "f4"),
    ("ctrl", "shift", "w"),
    ("ctrl", "shift", "q"),
    ("win", "q"),
    ("win", "w"),
    ("win", "shift", "q"),  # i3/sway: quit the session
    ("win", "shift", "e"),  # i3: exit
    ("ctrl", "alt", "delete"),
    ("ctrl", "alt", "backspace"),  # kills the X server
    ("shift", "delete"),  # file managers: delete without the trash
)

# Commands (regular expressions, searched case-insensitively in typed text) that destroy files, processes or sessions.
DESTRUCTIVE_COMMANDS: tuple[str, ...] = (
    r"\brm\s",
    r"\brmdir\b",
    r"\bshred\b",
    r"\bunlink\b",
    r"\btruncate\b",
    r"\bmkfs(\.\w+)?\b",
    r"\bdd\s+.*\bof=",
    r"\b(fdisk|parted|wipefs|sfdisk)\b",
    r"\b(shutdown|reboot|poweroff|halt)\b",
    r"\binit\s+[06]\b",
    r"\bsystemctl\s+(poweroff|reboot|halt|stop|kill|disable|mask)\b",
    r"\b(kill|killall|pkill|xkill)\b",
    r"\bsudo\b",
    r"\bsu\b",
    r"\bch(mod|own|grp)\s+(-\w*R|--recursive)",
    r"\bgit\s+(reset\s+--hard|clean\b|push\s+(-f\b|--force)|checkout\s+--\s|restore\b|branch\s+-D\b|stash\s+(drop|clear)\b)",
    r"\bfind\b.*\s-delete\b",
    r"\b(curl|wget)\b.*\|\s*(ba|z)?sh\b",
    r"\bcrontab\s+-r\b",
    r"\bdocker\s+(rm|rmi|system\s+prune|volume\s+rm)\b",
    r"\bdrop\s+(table|database|schema)\b",
    r">\s*/dev/(sd|nvme|hd)",
    r":\(\)\s*\{",  # fork bomb
    r"\b(exit|logout)\b",  # closes the terminal and whatever runs in it
)

# Window titles of terminals (regular expressions, searched case-insensitively); ``user@host:`` is a shell prompt.
TERMINAL_TITLES: tuple[str, ...] = (
    r"terminal",
    r"\b(xterm|u?rxvt|st|foot|kitty|alacritty|wezterm|konsole|tilix|terminator|guake|yakuake|tmux|screen)\b",
    r"\b(bash|zsh|fish|sh|dash|ksh|tcsh|console|shell|powershell|cmd\.exe)\b",
    r"\b[\w.-]+@[\w.-]+:",
)


@dataclass(frozen=True)
class SafetyRules:
    """Deny lists of one environment.

    hotkeys: key combinations (any order, any spelling ``environments.keys`` accepts) that need approval.
    commands: patterns of typed text that need approval when the focused window is a terminal (``terminals``) or
        unknown (the environment reports no ``info["window"]``).
    """

    hotkeys: frozenset[frozenset[str]] = frozenset()
    commands: tuple[str, ...] = ()
    terminals: tuple[str, ...] = ()
    _command_patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _terminal_patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hotkeys", frozenset(_key_set(keys) for keys in self.hotkeys))
        object.__setattr__(self, "_command_patterns", _compile(self.commands, "commands"))
        object.__setattr__(self, "_terminal_patterns", _compile(self.terminals, "terminals"))

    @classmethod
    def build(
        cls, hotkeys: Iterable[Iterable[str]] = (), commands: Iterable[str] = (), terminals: Iterable[str] = ()
    ) -> SafetyRules:
        return cls(frozenset(frozenset(k) for k in hotkeys), tuple(commands), tuple(terminals))

    def risk(self, action: Action, info: Mapping[str, Any] | None = None) -> str | None:
        """Why ``action`` can destroy work, given the observation's ``info``; ``None`` when it is harmless."""
        info = info or {}
        if isinstance(action, Hotkey) and self.hotkeys:
            try:
                keys = _key_set(action.keys)
            except ValueError:
                return None  # the environment refuses unknown keys itself
            if keys in self.hotkeys:
                return f"hotkey {'+'.join(action.keys)} can close a window or quit an application"
        if isinstance(action, Type) and self._command_patterns:
            window = info.get("window")
            in_terminal = window is None or any(p.search(str(window)) for p in self._terminal_patterns)
            if in_terminal:
                for pattern in self._command_patterns:
                    if pattern.search(action.text):
                        where = f"the terminal {window!r}" if window is not None else "a window that may be a terminal"
                        return f"typing {action.text.strip()!r} into {where} matches the deny list ({pattern.pattern})"
        return None


def _key_set(keys: Iterable[str]) -> frozenset[str]:
    return frozenset(key.lower() for key in canonical_keys(tuple(keys)))


def _compile(patterns: Iterable[str], what: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"safety {what} pattern {pattern!r} is not a valid regular expression: {exc}") from None
    return tuple(compiled)


DESKTOP_RULES = SafetyRules.build(CLOSING_HOTKEYS, DESTRUCTIVE_COMMANDS, TERMINAL_TITLES)
BROWSER_RULES = SafetyRules()  # a fresh browser context per run: nothing outside it can be lost

SAFETY_RULES: dict[str, SafetyRules] = {"desktop": DESKTOP_RULES, "browser": BROWSER_RULES}


def rules_for(env_name: str) -> SafetyRules:
    """The rules of a registered environment; an environment without its own rules gets the desktop's (strictest)."""
    return SAFETY_RULES.get(env_name, DESKTOP_RULES)


@dataclass(frozen=True)
class ConfirmRequest:
    """What the person is asked: ``kind`` ``risky`` (run this action?) or ``call_user`` (go on after helping?)."""

    kind: Literal["risky", "call_user"]
    step: int
    action: Action
    reason: str
    screenshot: Image.Image | None = None

    @property
    def question(self) -> str:
        if self.kind == "call_user":
            return f"Step {self.step}: the model asks for help ({self.reason}). Continue the run once you have helped?"
        return f"Step {self.step}: {self.reason}. Run {self.action.kind} {self.action.to_dict()}?"


Confirm = Callable[[ConfirmRequest], bool]
"""Asks a person; ``True`` approves. The CLI prompts on the terminal; tests pass a function."""


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    reason: str | None = None  # why approval was needed (``None``: the action is harmless)


@dataclass(frozen=True)
class SafetyGate:
    """Decides, action by action, whether to run it: harmless ones run, risky ones need ``confirm``.

    ``confirm=None`` is ``--yes``: nobody is asked, risky actions run and ``call_user`` is refused (the run ends).
    """

    rules: SafetyRules = DESKTOP_RULES
    confirm: Confirm | None = None

    def review(self, action: Action, info: Mapping[str, Any] | None, step: int, screenshot: Image.Image | None = None
               ) -> GateDecision:
        if isinstance(action, CallUser):
            reason = action.reason or "no reason given"
            if self.confirm is None:
                return GateDecision(False, f"the model asks for a person ({reason}) and --yes means nobody is asked")
            request = ConfirmRequest("call_user", step, action, reason, screenshot)
            return GateDecision(bool(self.confirm(request)), f"the model asks for a person ({reason})")
        reason = self.rules.risk(action, info)
        if reason is None:
            return GateDecision(True)
        if self.confirm is None:
            return GateDecision(True, reason)
        return GateDecision(bool(self.confirm(ConfirmRequest("risky", step, action, reason, screenshot))), reason)
