"""What a shell would run for a line typed into a terminal: the forms the safety gate matches its deny list against.

A deny list read against the typed text literally is walked around by the shell's own quoting and expansion:
``r''m -rf ~``, ``"r\\m" -rf ~``, ``\\rm``, ``$(echo rm) -rf ~``, ``\\`echo rm\\` -rf ~``, ``rm${IFS}-rf${IFS}~``,
``$'\\x72m'``, ``mv "$HOME" /dev/null``. ``command_forms(line)`` gives the line as typed and as a shell would see it
once ANSI-C strings are decoded, ``$IFS`` is a space and ``$HOME`` is ``~``, substitutions are flattened to the text
inside them and quotes and backslashes are removed; a pattern that matches any form matches the line.
``computed_command(line)`` says whether a command's name is itself computed (``$X -rf ~``, ``$(...)``, backticks):
no pattern can tell what such a command is.

This is an approximation of a shell, on the side of asking too often: ``echo 'rm -rf x'`` matches ``rm`` too.
"""

from __future__ import annotations

import codecs
import re

_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'", re.DOTALL)
_IFS = re.compile(r"\$\{IFS(?:[^}]*)\}|\$IFS\b")
_HOME = re.compile(r"\$\{HOME\}|\$HOME\b")
_SUBSTITUTION = re.compile(r"\$\(|\$\{|[`(){}]")
_QUOTING = re.compile(r"""['"\\]""")
# A command's name is computed: at the start of a simple command (after assignments and wrappers such as sudo), a
# word that begins with $ or a backtick, possibly quoted.
_COMPUTED = re.compile(
    r"""(?:^|[;&|(\n]|\$\(|`)\s*(?:\w+=\S*\s+)*(?:(?:sudo|env|command|exec|nohup|time|nice|xargs)\s+(?:-\S+\s+)*)*"""
    r"""["']?[$`]"""
)


def _decode_ansi_c(match: re.Match[str]) -> str:
    try:
        return codecs.decode(match.group(1), "unicode_escape")
    except (UnicodeDecodeError, ValueError):
        return match.group(1)


def command_forms(line: str) -> tuple[str, ...]:
    """``line`` as typed, then with expansions and substitutions flattened, then also without quotes (no repeats)."""
    expanded = _HOME.sub("~", _IFS.sub(" ", _ANSI_C.sub(_decode_ansi_c, line)))
    flattened = _SUBSTITUTION.sub(" ", expanded)
    unquoted = _QUOTING.sub("", flattened)
    return tuple(dict.fromkeys((line, expanded, flattened, unquoted)))


def computed_command(line: str) -> bool:
    """Whether some command in ``line`` takes its name from a variable or a substitution (``$X``, ``$(..)``, ``...``)."""
    expanded = _IFS.sub(" ", _ANSI_C.sub(_decode_ansi_c, line))
    return _COMPUTED.search(expanded) is not None
