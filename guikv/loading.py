"""One way to load a model and its processor: a hub id or a local folder, through ``from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from guikv.processor import VisionTextProcessor

# UI-TARS' pixel limits (spec A.4): min 100*28*28, max 16384*28*28.
UI_TARS_MIN_PIXELS = 100 * 28 * 28
UI_TARS_MAX_PIXELS = 16384 * 28 * 28
DEFAULT_MODEL = "ByteDance-Seed/UI-TARS-1.5-7B"

_VISION_LANGUAGE = {"qwen2_5_vl", "qwen2_vl"}
_LANGUAGE_ONLY = {"qwen2", "qwen3", "llama", "mistral"}
_REMOTE = {"opencua"}


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to pass instead."""


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise ValueError(f"dtype {dtype!r}: expected one of auto, {', '.join(table)}")
    return table[dtype]


def default_attention(device: str) -> str:
    """flash_attention_2 on a GPU where flash-attn is installed, sdpa otherwise."""
    if str(device).startswith("cuda"):
        try:
            import flash_attn  # noqa: F401

            return "flash_attention_2"
        except ImportError:
            pass
    return "sdpa"


def resolve_source(name_or_path: str | Path) -> str:
    """A hub id as given, or a local folder that must hold a ``config.json``; ``ModelLoadError`` otherwise."""
    source = str(name_or_path)
    local = Path(source).expanduser()
    if local.exists():
        if not local.is_dir() or not (local / "config.json").is_file():
            raise ModelLoadError(f"{local} is not a model folder: it has no config.json (expected a save_pretrained output)")
        return str(local)
    if source.startswith((".", "/", "~")):
        raise ModelLoadError(f"model folder {source} does not exist; pass a save_pretrained folder or a hub id")
    return source


def load_model(
    name_or_path: str | Path = DEFAULT_MODEL,
    *,
    dtype: str | torch.dtype = "auto",
    device: str = "cpu",
    attn_implementation: str | None = None,
    trust_remote_code: bool = False,
    min_pixels: int = UI_TARS_MIN_PIXELS,
    max_pixels: int = UI_TARS_MAX_PIXELS,
) -> tuple[nn.Module, VisionTextProcessor]:
    """Load ``(model, processor)`` from a hub id or a folder written by ``save_pretrained``.

    Qwen2.5-VL checkpoints (UI-TARS-1.5) load as ``Qwen2_5_VLForConditionalGeneration``; Qwen2-family language
    models as ``AutoModelForCausalLM``; OpenCUA only with ``trust_remote_code=True`` (its own code; untested here).
    """
    from transformers import AutoConfig

    source = resolve_source(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ModelLoadError(
            f"could not load {source!r}: its weights are neither in a local folder nor reachable on the Hugging Face "
            f"hub ({exc.__class__.__name__}). Download them where the hub is reachable (huggingface-cli download "
            f"{source} --local-dir ./weights) and pass the folder: --model ./weights"
        ) from exc
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(f"{source} ships its own model code; pass trust_remote_code=True (--trust-remote-code)") from exc
        raise
    model_type = getattr(config, "model_type", "")
    torch_dtype = resolve_dtype(dtype, device)
    common: dict[str, Any] = {
        "dtype": torch_dtype,
        "attn_implementation": attn_implementation or default_attention(device),
    }
    if model_type in _VISION_LANGUAGE:
        from transformers import Qwen2_5_VLForConditionalGeneration

        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(source, **common)
        processor = VisionTextProcessor.from_pretrained(source, min_pixels=min_pixels, max_pixels=max_pixels)
    elif model_type in _LANGUAGE_ONLY:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(source, **common)
        processor = VisionTextProcessor.from_pretrained(source)
    elif model_type in _REMOTE:
        if not trust_remote_code:
            raise ModelLoadError(f"{source} (OpenCUA) loads only through its own code: pass trust_remote_code=True")
        from transformers import AutoModel

        model = AutoModel.from_pretrained(source, trust_remote_code=True, **common)
        processor = VisionTextProcessor.from_pretrained(source, trust_remote_code=True)
    else:
        supported = sorted(_VISION_LANGUAGE | _LANGUAGE_ONLY | _REMOTE)
        raise ModelLoadError(f"{source}: model_type {model_type!r} is not supported; supported: {supported}")
    return model.to(device).eval(), processor
