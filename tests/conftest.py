"""Session-wide tiny models: real transformers classes with random weights, built offline (no downloads)."""

from __future__ import annotations

import pytest
import torch

from guikv.testing import tiny_processor, tiny_qwen2_5_vl

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def processor():
    return tiny_processor()


@pytest.fixture(scope="session")
def vl_model(processor):
    """Tiny Qwen2.5-VL (M-RoPE, GQA 4/2), float32, sdpa."""
    return tiny_qwen2_5_vl(tokenizer=processor.tokenizer)
