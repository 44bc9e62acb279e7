"""No compression: the uncompressed baseline (keeps every token; the ledger still records screenshots)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from guikv.presses.base import LayerView, Press


@dataclass(frozen=True)
class FullPress(Press):
    name: ClassVar[str] = "full"

    budget: float | int = 1.0

    def capacity(self, logical_length: int) -> int:
        return max(1, logical_length)

    def score(self, view: LayerView) -> None:
        return None
