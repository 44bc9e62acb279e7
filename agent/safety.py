"""Which actions a person must approve before they run, and how the loop asks.

On a real desktop a model can destroy work: a hotkey that closes a window or quits an application, a destructive
command typed into a terminal. ``SafetyRules`` names those actions (deny lists, matched on the typed action and the
focused window's title); ``SafetyGate`` asks a ``Confirm`` callable (the CLI's prompt) before such an action runs.
The model's own ``call_user`` always goes to the person: approving it lets the run go on after they helped.

A command is what the shell runs when Enter is pressed, however it was typed: the gate keeps the text typed into the
focused window since the last Enter (``TypedLine``; a different window title starts a new line) and reviews each
``type`` action, and each Enter, against that whole line, so ``type("r")`` then ``type("m -rf ~\n")`` asks. Patterns
are matched against every form ``agent.shell.command_forms`` gives (quotes removed, substitutions and ``$IFS`` /
``$HOME`` expanded), and a command whose name is computed (``$X``, ``$(...)``) always asks.

This is a seatbelt, not a sandbox: it catches the common ways a model destroys work by accident, not a determined
adversary (a script written to a file and run later, a paste, an alias, a GUI file manager). Run desktop agents in a
VM or a container that holds nothing you cannot lose.

``--yes`` means nobody is asked (``confirm=None``): risky actions run, and a ``call_user`` ends the run because no one
is there to help. The browser runs in a fresh, throw-away context, so only ``call_user`` is gated there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from agent.shell import command_forms, computed_command
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
    ("ctrl", "d"),  # end of input: exits the shell and closes its terminal
)
# Hotkeys that submit the typed line in a terminal: Enter, and the control codes a shell reads as one (CR, LF).
SUBMIT_HOTKEYS = frozenset({frozenset({"enter"}), frozenset({"ctrl", "m"}), frozenset({"ctrl", "j"})})

# Top-level places whose loss destroys a home or a system: ~ and ~user, /, /home, /root and the system directories,
# alone or with a trailing / or /* (after agent.shell has turned $HOME into ~ and removed quotes).
_TOP = r"(?:(?:~[\w.-]*|/home(?:/[\w.-]+)?|/root|/(?:bin|boot|dev|etc|lib|lib64|opt|sbin|srv|usr|var))/?|/)\*?"
_ARG_TOP = rf"\s{_TOP}(?=\s|$|[;&|])"
_SHELLS = r"(?:\S*/)?(?:ba|z|da|k|c|tc|fi|a)?sh"
_INTERPRETERS = r"(?:\S*/)?(?:python[0-9.]*|perl|ruby|node|php|lua)"

# Commands (regular expressions, searched case-insensitively in every form of the typed line) that destroy files,
# processes or sessions, or run code the gate cannot see.
DESTRUCTIVE_COMMANDS: tuple[str, ...] = (
    r"\brm(\s|$)",
    r"\brmdir\b",
    r"\bshred\b",
    r"\bunlink\b",
    r"\btruncate\b",
    r"\bmkfs(\.\w+)?\b",
    r"\bdd\b.*\bof=",
    r"\b(fdisk|parted|wipefs|sfdisk)\b",
    r"\b(shutdown|reboot|poweroff|halt)\b",
    r"\binit\s+[06]\b",
    r"\bsystemctl\s+(poweroff|reboot|halt|stop|kill|disable|mask)\b",
    r"\b(kill|killall|pkill|xkill)\b",
    r"\bsudo\b",
    r"\bsu\b",
    r"\bch(mod|own|grp)\s+(-\w*R|--recursive)",
    rf"\bch(mod|own|grp)\b[^;&|]*{_ARG_TOP}",  # chmod 000 /
    rf"\bmv\b[^;&|]*\s{_TOP}\s+[^\s;&|]",  # a top place moved away: mv ~ /dev/null, mv / x, mv ~/* /tmp
    r"\bmv\b[^;&|]*\s/dev/null\b",
    r"\brsync\b.*--delete",
    r"\bgit\s+(reset\s+--hard|clean\b|push\s+(-f\b|--force)|checkout\s+--\s|restore\b|branch\s+-D\b|stash\s+(drop|clear)\b)",
    r"\bfind\b.*\s-delete\b",
    rf"\|&?\s*(sudo\s+)?{_SHELLS}\b",  # curl ... | sh, base64 -d | bash
    rf"\|&?\s*(sudo\s+)?{_INTERPRETERS}\b",  # ... | python
    rf"(^|[\s;&|(]){_SHELLS}\s+(-\w+\s+)*-\w*c\b",  # bash -c '...', sh -lc
    rf"(^|[\s;&|(]){_INTERPRETERS}\s+(-\w+\s+)*-\w*[ce]\b",  # python -c, perl -e
    r"\beval\b",
    r"\bcrontab\s+-r\b",
    r"\bdocker\s+(rm|rmi|system\s+prune|volume\s+rm)\b",
    r"\bdrop\s+(table|database|schema)\b",
    r">\s*/dev/(sd|nvme|hd|vd|mmcblk)",
    r":\(\)\s*\{",  # fork bomb
    r"(\w+)\s*\(\)\s*\{[^}]*\b\1\s*\|\s*\1\b",  # fork bomb under another name: f(){ f|f& };f
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
        """Why ``action`` alone can destroy work, given the observation's ``info``; ``None`` when it is harmless.

        A ``type`` action is reviewed line by line (each newline is an Enter); ``SafetyGate`` adds the text typed
        before it since the last Enter.
        """
        info = info or {}
        if isinstance(action, Hotkey):
            return self.hotkey_risk(action)
        if isinstance(action, Type):
            for line in _lines(action.text):
                reason = self.command_risk(line, info.get("window"))
                if reason is not None:
                    return reason
        return None

    def hotkey_risk(self, action: Hotkey) -> str | None:
        if not self.hotkeys:
            return None
        try:
            keys = _key_set(action.keys)
        except ValueError:
            return None  # the environment refuses unknown keys itself
        if keys in self.hotkeys:
            return f"hotkey {'+'.join(action.keys)} can close a window, end a shell or quit an application"
        return None

    def command_risk(self, line: str, window: Any = None) -> str | None:
        """Why running ``line`` in ``window`` (a title, ``None``: unknown) can destroy work, or ``None``."""
        if not self._command_patterns or not line.strip():
            return None
        if window is not None and not any(p.search(str(window)) for p in self._terminal_patterns):
            return None
        where = f"the terminal {window!r}" if window is not None else "a window that may be a terminal"
        shown = line.strip() if len(line.strip()) <= 200 else line.strip()[:197] + "..."
        forms = command_forms(line)
        for pattern in self._command_patterns:
            if any(pattern.search(form) for form in forms):
                return f"the command {shown!r} typed into {where} matches the deny list ({pattern.pattern})"
        if computed_command(line):
            return (f"the command {shown!r} typed into {where} takes its name from a variable or a substitution; "
                    "the deny list cannot tell what it runs")
        return None


def _lines(text: str) -> list[str]:
    """The lines of typed text (a newline or carriage return is an Enter)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


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


@dataclass
class TypedLine:
    """The text typed into one window since the last Enter: what its shell runs at the next Enter.

    ``window`` is the focused window's title when the text was typed (``None``: unknown); typing into another window
    starts a new line. ``approved`` is a line a person already approved, so the Enter that runs it does not ask again.
    """

    text: str = ""
    window: Any = None
    approved: str | None = None

    def current(self, window: Any) -> str:
        """The pending line if ``window`` is where it was typed, else ``""`` (the focus moved)."""
        return self.text if window == self.window else ""

    def after(self, action: Action, window: Any) -> tuple[list[str], str]:
        """``(lines entered, line left pending)`` if ``action`` runs in ``window`` now."""
        current = self.current(window)
        if isinstance(action, Type):
            lines = _lines(current + action.text)
            if action.submit:
                return lines, ""
            return lines[:-1], lines[-1]
        if isinstance(action, Hotkey) and _submits(action):
            return [current], ""
        return [], current


def _submits(action: Hotkey) -> bool:
    try:
        return _key_set(action.keys) in SUBMIT_HOTKEYS
    except ValueError:
        return False


@dataclass
class SafetyGate:
    """Decides, action by action, whether to run it: harmless ones run, risky ones need ``confirm``.

    ``confirm=None`` is ``--yes``: nobody is asked, risky actions run and ``call_user`` is refused (the run ends).
    The gate keeps the line typed so far (``TypedLine``): tell it what ran with ``executed`` (the loop and replay do),
    and call ``reset`` when an episode starts.
    """

    rules: SafetyRules = DESKTOP_RULES
    confirm: Confirm | None = None
    line: TypedLine = field(default_factory=TypedLine, repr=False)

    def reset(self) -> None:
        self.line = TypedLine()

    def risk(self, action: Action, info: Mapping[str, Any] | None = None) -> str | None:
        """Why ``action`` can destroy work, given what was typed before it; nobody is asked."""
        reason, _ = self._review(action, info or {})
        return reason

    def _review(self, action: Action, info: Mapping[str, Any]) -> tuple[str | None, bool]:
        """``(reason, already approved)``."""
        if isinstance(action, Hotkey):
            reason = self.rules.hotkey_risk(action)
            if reason is not None:
                return reason, False
        window = info.get("window")
        entered, pending = self.line.after(action, window)
        if not isinstance(action, Type) and not entered:
            return self.rules.risk(action, info), False
        first: str | None = None
        for line in [*entered, pending]:
            reason = self.rules.command_risk(line, window)
            if reason is None:
                continue
            if not (line == self.line.approved and self.line.window == window):
                return reason, False  # a risky line nobody approved: ask, whatever else was approved
            first = first or reason
        return first, first is not None

    def review(self, action: Action, info: Mapping[str, Any] | None, step: int, screenshot: Image.Image | None = None
               ) -> GateDecision:
        info = info or {}
        if isinstance(action, CallUser):
            reason = action.reason or "no reason given"
            if self.confirm is None:
                return GateDecision(False, f"the model asks for a person ({reason}) and --yes means nobody is asked")
            request = ConfirmRequest("call_user", step, action, reason, screenshot)
            return GateDecision(bool(self.confirm(request)), f"the model asks for a person ({reason})")
        reason, approved = self._review(action, info)
        if reason is None or approved or self.confirm is None:
            return GateDecision(True, reason)
        allowed = bool(self.confirm(ConfirmRequest("risky", step, action, reason, screenshot)))
        if allowed:
            _, pending = self.line.after(action, info.get("window"))
            self.line.approved = pending if pending.strip() else None
        return GateDecision(allowed, reason)

    def executed(self, action: Action, info: Mapping[str, Any] | None = None) -> None:
        """Note that ``action`` ran in the window of ``info`` (the observation it was decided on)."""
        window = (info or {}).get("window")
        entered, pending = self.line.after(action, window)
        if not isinstance(action, Type) and not entered:
            return  # clicks, scrolls, other keys: the line stays (a window change is seen at the next review)
        approved = self.line.approved if pending == self.line.approved else None
        self.line = TypedLine(pending, window, approved)
