"""A KV budget: a fraction of the prompt (the GUI-KV reference's percent / 100) or an absolute token count."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    """``value`` in (0, 1] is a fraction of the logical context length; an ``int`` > 0 is a token count.

    ``Budget(0.1)`` keeps floor(0.1 * L) tokens per layer (the reference's ``max_capacity_prompt`` at 10 %);
    ``Budget(4096)`` keeps 4096 tokens per layer however long the context grows (bounded memory across turns).
    """

    value: float | int

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"budget must be a fraction in (0, 1] or a positive token count, got {value!r}")
        if isinstance(value, float) and not 0.0 < value <= 1.0:
            raise ValueError(
                f"budget {value!r} is not a fraction in (0, 1]; pass an int for an absolute token count (e.g. 4096)"
            )
        if isinstance(value, int) and value <= 0:
            raise ValueError(f"budget must be a positive token count, got {value!r}")

    @property
    def is_fraction(self) -> bool:
        return isinstance(self.value, float)

    def capacity(self, logical_length: int) -> int:
        """Tokens a layer may keep when the uncompressed context has ``logical_length`` tokens."""
        if self.is_fraction:
            return math.floor(logical_length * self.value)
        return int(self.value)

    @classmethod
    def parse(cls, value: float | int | str | Budget) -> Budget:
        """Accept ``0.1``, ``"0.1"``, ``"10%"``, ``4096`` or ``"4096"`` (CLI strings included)."""
        if isinstance(value, Budget):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                if text.endswith("%"):
                    return cls(float(text[:-1]) / 100.0)
                return cls(int(text)) if text.isdigit() else cls(float(text))
            except ValueError as exc:
                raise ValueError(f"budget {value!r}: expected a fraction like 0.1, a percent like 10%, or a token count") from exc
        if isinstance(value, float) and value.is_integer() and value > 1:
            return cls(int(value))
        return cls(value)

    def __str__(self) -> str:
        return f"{self.value:g}" if self.is_fraction else f"{self.value} tokens"
