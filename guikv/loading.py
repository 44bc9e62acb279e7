"""One way to load a model and its processor: a hub id or a local folder, through ``from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from guikv.models.loaders import ModelLoadError
from guikv.models.pixels import QWEN2_5_VL_MAX_PIXELS, QWEN2_5_VL_MIN_PIXELS
from guikv.processor import VisionTextProcessor

# UI-TARS' pixel limits (spec A.4): min 100*28*28, max 16384*28*28 (Qwen2.5-VL's; guikv.models.pixels).
UI_TARS_MIN_PIXELS = QWEN2_5_VL_MIN_PIXELS
UI_TARS_MAX_PIXELS = QWEN2_5_VL_MAX_PIXELS
DEFAULT_MODEL = "ByteDance-Seed/UI-TARS-1.5-7B"



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
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> tuple[nn.Module, VisionTextProcessor]:
    """Load ``(model, processor)`` from a hub id or a folder written by ``save_pretrained``.

    The family is looked up in ``guikv.models`` from the checkpoint's ``config.json`` (``model_type`` /
    ``architectures``); its spec loads it. Pixel limits default to the family's own; an unknown family is a
    ``ModelLoadError`` listing the known ones.
    """
    from transformers import PretrainedConfig

    source = resolve_source(name_or_path)
    try:
        # The raw config.json: a family whose model_type transformers does not know (OpenCUA) is still recognised.
        config, _ = PretrainedConfig.get_config_dict(source)
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
    from guikv.models.registry import UnknownModelError, spec_for_config

    try:
        spec = spec_for_config(config, source)
    except UnknownModelError as exc:
        raise ModelLoadError(str(exc)) from None
    model_options: dict[str, Any] = {
        "dtype": resolve_dtype(dtype, device),
        "attn_implementation": attn_implementation or default_attention(device),
    }
    from guikv.models.loaders import ProcessorMismatchError

    try:
        model, processor = spec.load(
            source, model_options=model_options, min_pixels=min_pixels, max_pixels=max_pixels,
            trust_remote_code=trust_remote_code,
        )
    except ProcessorMismatchError as exc:
        raise ModelLoadError(str(exc)) from None
    return model.to(device).eval(), processor
