"""Model adapters: prompt layout, output parsing and coordinate mapping for each supported GUI model."""

from agent.models.base import ModelAdapter, ParsedOutput
from agent.models.opencua import OpenCUAAdapter
from agent.models.qwen3_vl import Qwen3VLAdapter
from agent.models.registry import ADAPTERS, adapter_for_model, make_adapter
from agent.models.ui_tars import UITarsAdapter

__all__ = [
    "ADAPTERS",
    "ModelAdapter",
    "OpenCUAAdapter",
    "ParsedOutput",
    "Qwen3VLAdapter",
    "UITarsAdapter",
    "adapter_for_model",
    "make_adapter",
]
