"""How a request's conversation maps onto a cached one.

- ``extend``: the cached conversation is a prefix of the request; only the request's new messages are prefilled.
- ``slide``: the request is the cached conversation minus some of its oldest messages, plus new messages: what a
  client that resends a window of the last N screenshots sends once the oldest one leaves the window. The dropped
  messages must hold the cached conversation's oldest screenshots (the first k image-bearing messages), and every
  dropped message must come before the first kept screenshot: with UI-TARS-desktop's layout only the screenshot
  messages go (its replies stay as text), other runtimes drop the replies around them too; both are covered. The
  first message (the task) and the last one (the newest reply) must be kept. The server then ``forget``s them.
- ``miss``: anything else; the request starts a new session (a full prefill).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.serve.canonical import CanonicalMessage


@dataclass(frozen=True)
class Match:
    kind: str  # "extend", "slide" or "miss"
    new_from: int = 0  # index in the request of the first message the cache does not hold
    forget: tuple[int, ...] = ()  # indices in the cached conversation to drop (slide)
    kept: int = 0  # cached messages reused

    @property
    def reuses(self) -> bool:
        return self.kind != "miss"


MISS = Match("miss")


def match(cached: Sequence[CanonicalMessage], request: Sequence[CanonicalMessage]) -> Match:
    """The way ``request`` continues ``cached`` (see the module docstring)."""
    n = len(cached)
    if not n or len(request) <= 1:
        return MISS
    if len(request) > n and tuple(request[:n]) == tuple(cached):
        return Match("extend", new_from=n, kept=n)
    dropped: list[int] = []
    j = 0
    for i, message in enumerate(cached):
        if j < len(request) and request[j] == message:
            j += 1
        else:
            dropped.append(i)
    if not dropped or j >= len(request) or 0 in dropped or n - 1 in dropped:
        return MISS
    image_messages = [i for i, m in enumerate(cached) if m.has_image]
    dropped_images = [i for i in dropped if cached[i].has_image]
    if not dropped_images or dropped_images != image_messages[: len(dropped_images)]:
        return MISS
    kept_images = image_messages[len(dropped_images) :]
    if kept_images and max(dropped) > kept_images[0]:
        return MISS
    return Match("slide", new_from=j, forget=tuple(dropped), kept=n - len(dropped))


def best_match(candidates: Sequence[tuple[str, Sequence[CanonicalMessage]]],
               request: Sequence[CanonicalMessage]) -> tuple[str | None, Match]:
    """(key, match) of the candidate reused the most: an extension before a slide, then the most messages kept."""
    best: tuple[str | None, Match] = (None, MISS)
    for key, cached in candidates:
        found = match(cached, request)
        if not found.reuses:
            continue
        rank = (found.kind == "extend", found.kept)
        if best[0] is None or rank > (best[1].kind == "extend", best[1].kept):
            best = (key, found)
    return best
