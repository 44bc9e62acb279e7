"""The sessions a server holds, evicted least-recently-used under a cap on their KV bytes and on their number.

An evicted conversation is simply no longer found: its next request is a miss and is re-prefilled (the right answer,
slower). Eviction runs after each request, never evicting the session that request just used unless that session
alone is over the byte cap (it has answered; its next request re-prefills).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from agent.serve.canonical import CanonicalMessage
from guikv.session import MemorySession


@dataclass
class Entry:
    key: str
    session: MemorySession
    canonical: list[CanonicalMessage] = field(default_factory=list)
    pinned: bool = False  # named by the client (X-Session-Id / user): found by name, not by content

    def nbytes(self) -> int:
        return self.session.state().bytes


@dataclass
class SessionStore:
    max_bytes: int
    max_sessions: int
    entries: OrderedDict[str, Entry] = field(default_factory=OrderedDict)  # oldest use first

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_sessions < 1:
            raise ValueError(f"caps must be positive, got max_bytes={self.max_bytes}, max_sessions={self.max_sessions}")

    def get(self, key: str) -> Entry | None:
        return self.entries.get(key)

    def unpinned(self) -> list[tuple[str, list[CanonicalMessage]]]:
        return [(k, e.canonical) for k, e in self.entries.items() if not e.pinned]

    def put(self, entry: Entry) -> None:
        self.entries[entry.key] = entry
        self.entries.move_to_end(entry.key)

    def remove(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            entry.session.close()

    def total_bytes(self) -> int:
        return sum(e.nbytes() for e in self.entries.values())

    def total_tokens(self) -> int:
        return sum(sum(e.session.state().tokens_per_layer) for e in self.entries.values())

    def evict(self, keep: str | None = None) -> list[str]:
        """Evict least recently used sessions until both caps hold; returns the evicted keys."""
        evicted: list[str] = []
        while self.entries and (len(self.entries) > self.max_sessions or self.total_bytes() > self.max_bytes):
            victims = [k for k in self.entries if k != keep] or list(self.entries)
            if victims[0] == keep and len(self.entries) <= self.max_sessions and self.entries[keep].nbytes() <= self.max_bytes:
                break
            self.remove(victims[0])
            evicted.append(victims[0])
        return evicted
