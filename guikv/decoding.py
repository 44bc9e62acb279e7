"""The pieces of one decode step that are not the model: picking the next token, stop strings, streaming text.

``Sampling``: temperature 0 is greedy (argmax, what every test and benchmark compares); above 0 the logits are divided
by the temperature, cut to the smallest top-p nucleus and sampled from a ``torch.Generator`` seeded per call, so one
seed gives one reply. ``TextStream`` turns the growing token list into text deltas a client can be sent: it holds
back text that may still turn into a stop string or an unfinished UTF-8 character, so the deltas concatenate to
exactly the final reply (truncated before the first stop string).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

REPLACEMENT = "\ufffd"  # what a tokenizer decodes an unfinished multi-byte character to


class GenerationCancelled(RuntimeError):
    """The caller asked the turn to stop (``on_text`` returned False, or ``cancelled()`` said True: a client went
    away); the turn was rolled back."""


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: ``temperature`` 0 greedy; otherwise nucleus sampling with ``top_p`` and ``seed``."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature) and 0 <= self.temperature <= 2):
            raise ValueError(f"temperature must be a number in [0, 2] (0 = greedy), got {self.temperature!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be a number in (0, 1], got {self.top_p!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def generator(self) -> torch.Generator | None:
        """A CPU generator for this call (seeded when ``seed`` is given); None when greedy."""
        if self.greedy:
            return None
        generator = torch.Generator()
        if self.seed is None:
            generator.seed()
        else:
            generator.manual_seed(self.seed)
        return generator

    def pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> int:
        """The next token id from ``logits`` (V,)."""
        if self.greedy:
            return int(logits.argmax())
        probs = torch.softmax(logits.float().cpu() / self.temperature, dim=-1)
        if self.top_p < 1:
            sorted_probs, order = probs.sort(descending=True)
            outside = sorted_probs.cumsum(-1) - sorted_probs >= self.top_p  # the nucleus always keeps the top token
            sorted_probs[outside] = 0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=generator))


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Index in ``text`` where the earliest stop string begins, or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def check_stops(stop: str | Sequence[str] | None) -> tuple[str, ...]:
    """``stop`` as a tuple of non-empty strings (OpenAI allows up to 4); ValueError naming what is wrong."""
    if stop is None:
        return ()
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise ValueError(f"stop must be a non-empty string or a list of at most 4 non-empty strings, got {stop!r}")
    return stops


class TextStream:
    """Text deltas of a growing reply: each ``push`` returns what can be shown now, ``finish`` the rest."""

    def __init__(self, decode: Callable[[list[int]], str], stops: Sequence[str], on_text: Callable[[str], object] | None):
        self.decode, self.stops, self.on_text = decode, tuple(stops), on_text
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.sent = 0
        self.text = ""

    def push(self, tokens: list[int]) -> int | None:
        """Decode ``tokens``; returns where a stop string begins (the reply ends there) or None. Emits the safe delta."""
        self.text = self.decode(tokens)
        stop_at = find_stop(self.text, self.stops)
        if stop_at is not None:
            return stop_at
        safe = len(self.text) - self.hold
        while safe > self.sent and self.text[safe - 1] == REPLACEMENT:
            safe -= 1
        self._emit(safe, every_token=True)
        return None

    def finish(self, final_text: str) -> None:
        self.text = final_text
        self._emit(len(final_text))

    def _emit(self, upto: int, every_token: bool = False) -> None:
        """Send the text up to ``upto``; with ``every_token`` the callback hears of a token even without new text
        (so a cancel is seen at the next token)."""
        delta = ""
        if upto > self.sent:
            delta, self.sent = self.text[self.sent : upto], upto
        if (delta or every_token) and self.on_text is not None and self.on_text(delta) is False:
            raise GenerationCancelled("the caller cancelled the reply while it was being decoded")
