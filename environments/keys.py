"""Key names: the pyautogui-style names models write, reduced to one canonical spelling per key.

Models write ``ctrl``/``control``, ``esc``/``escape``, ``arrowleft``/``left``, ``cmd``/``win``... ``canonical_key``
maps every accepted spelling to one canonical name; each environment maps canonical names to its own key names
(Playwright's ``Control``, pyautogui's ``ctrl``). The command/Windows/super key is one key, canonically ``win``.
"""

from __future__ import annotations

import string

_FUNCTION_KEYS = tuple(f"f{i}" for i in range(1, 25))

# Canonical name -> Playwright key name (https://playwright.dev/python/docs/api/class-keyboard#keyboard-press).
PLAYWRIGHT_KEYS: dict[str, str] = {
    "ctrl": "Control",
    "alt": "Alt",
    "shift": "Shift",
    "win": "Meta",
    "enter": "Enter",
    "esc": "Escape",
    "tab": "Tab",
    "backspace": "Backspace",
    "delete": "Delete",
    "insert": "Insert",
    "space": "Space",
    "up": "ArrowUp",
    "down": "ArrowDown",
    "left": "ArrowLeft",
    "right": "ArrowRight",
    "pageup": "PageUp",
    "pagedown": "PageDown",
    "home": "Home",
    "end": "End",
    "capslock": "CapsLock",
    "numlock": "NumLock",
    "scrolllock": "ScrollLock",
    "printscreen": "PrintScreen",
    "pause": "Pause",
    "apps": "ContextMenu",
    **{name: name.upper() for name in _FUNCTION_KEYS},
}
NAMED_KEYS = frozenset(PLAYWRIGHT_KEYS)
# Single-character keys: the printable ASCII of a US keyboard (whitespace has names: space, tab, enter).
CHARACTER_KEYS = frozenset(string.ascii_letters + string.digits + string.punctuation)

_ALIASES = {
    "control": "ctrl",
    "ctrlleft": "ctrl",
    "ctrlright": "ctrl",
    "option": "alt",
    "altleft": "alt",
    "altright": "alt",
    "shiftleft": "shift",
    "shiftright": "shift",
    "cmd": "win",
    "command": "win",
    "meta": "win",
    "super": "win",
    "windows": "win",
    "winleft": "win",
    "winright": "win",
    "return": "enter",
    "escape": "esc",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "pgup": "pageup",
    "pgdn": "pagedown",
    "page_up": "pageup",
    "page_down": "pagedown",
    "del": "delete",
    "ins": "insert",
    "spacebar": "space",
    "prtsc": "printscreen",
    "prtscr": "printscreen",
    "prntscrn": "printscreen",
    "print": "printscreen",
    "menu": "apps",
    "contextmenu": "apps",
    " ": "space",
    "\n": "enter",
    "\r": "enter",
    "\t": "tab",
}


def canonical_key(name: str) -> str:
    """The canonical name of key ``name``; a character key stays itself (case kept). ``ValueError`` if unknown."""
    if name in _ALIASES:
        return _ALIASES[name]
    if name in CHARACTER_KEYS:
        return name
    lowered = name.strip().lower()
    lowered = _ALIASES.get(lowered, lowered)
    if lowered in NAMED_KEYS:
        return lowered
    raise ValueError(f"unknown key name {name!r}; use an ASCII character or a key name: {', '.join(sorted(NAMED_KEYS))}")


def canonical_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """``canonical_key`` of each key; ``ValueError`` for an empty combination or an unknown name."""
    if not keys:
        raise ValueError("hotkey needs at least one key")
    return tuple(canonical_key(key) for key in keys)
