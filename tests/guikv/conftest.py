"""The fixture registry of tiny models, one per registered model family (keyed by ``ModelSpec.name``).

Tests parametrised over ``FAMILIES`` cover every spec in ``guikv.models.MODEL_SPECS``; a spec without a tiny builder in
``guikv.testing.registry.TINY_FAMILIES`` fails them with a message saying where to register one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from guikv.models import MODEL_SPECS
from guikv.testing.registry import tiny_family
from tests.guikv.helpers import as_messages, conversation, images_of

FAMILIES = list(MODEL_SPECS)


@dataclass
class TinyModels:
    """Builds each family's tiny model and processor once per test session (per attention implementation)."""

    _built: dict[tuple[str, str], tuple[Any, Any]] = field(default_factory=dict)
    _prompts: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def get(self, name: str, attn_implementation: str = "sdpa") -> tuple[Any, Any]:
        """``(model, processor)`` of the family ``name``."""
        key = (name, attn_implementation)
        if key not in self._built:
            self._built[key] = tiny_family(name).build(attn_implementation=attn_implementation)
        return self._built[key]

    def prompt(self, name: str) -> dict[str, torch.Tensor]:
        """The encoded 3-step conversation (screenshots of unequal sizes), with the generation prompt."""
        if name not in self._prompts:
            _, processor = self.get(name)
            turns = conversation(3)
            self._prompts[name] = processor.encode(processor.render(as_messages(turns)), images_of(turns))
        return self._prompts[name]


@pytest.fixture(scope="session")
def tiny_models() -> TinyModels:
    return TinyModels()
