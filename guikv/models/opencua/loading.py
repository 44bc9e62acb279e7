"""Load an OpenCUA checkpoint folder (or hub snapshot) into the project's own model, tokenizer and processor.

Nothing of the checkpoint's remote code runs: ``config.json`` -> ``OpenCUAConfig``, the safetensors -> the project's
``OpenCUAForConditionalGeneration`` (``weights.py``), ``tiktoken.model`` + ``tokenizer_config.json`` ->
``OpenCUATokenizer``, ``preprocessor_config.json`` -> transformers' ``Qwen2VLImageProcessor``. Token ids come from the
folder, never from a table; where the folder's files disagree with each other the load stops with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from guikv.models.loaders import ModelLoadError
from guikv.models.opencua.configuration import OpenCUAConfig
from guikv.models.opencua.modeling import OpenCUAForConditionalGeneration
from guikv.models.opencua.tokenization import OpenCUATokenizer
from guikv.processor import VisionTextProcessor

MEDIA_PLACEHOLDER = "<|media_placeholder|>"
MEDIA_BEGIN = "<|media_begin|>"
MEDIA_END = "<|media_end|>"
IMAGE_PROCESSORS = ("Qwen2VLImageProcessor", "Qwen2VLImageProcessorFast")
HUB_FILES = ["*.json", "*.safetensors", "tiktoken.model", "*.jinja"]


def load(
    source: str,
    *,
    model_options: dict[str, Any] | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    trust_remote_code: bool = False,
) -> tuple[OpenCUAForConditionalGeneration, VisionTextProcessor]:
    """``(model, processor)`` for an OpenCUA folder or hub id; ``trust_remote_code`` is never needed (ignored)."""
    del trust_remote_code  # the project owns the forward and the tokenizer
    options = dict(model_options or {})
    folder = local_folder(source)
    tokenizer = _tokenizer(folder)
    model = load_opencua_model(folder, dtype=options.get("dtype", torch.float32),
                               attn_implementation=options.get("attn_implementation", "sdpa"))
    attach_tokenizer_ids(model.config, tokenizer, folder)
    return model, opencua_processor(tokenizer, image_processor(folder, min_pixels=min_pixels, max_pixels=max_pixels))


def opencua_processor(tokenizer: OpenCUATokenizer, images: Any) -> VisionTextProcessor:
    """The project's processor: the checkpoint's template, one ``<|media_placeholder|>`` per image, expanded."""
    return VisionTextProcessor(
        tokenizer=tokenizer, image_processor=images, chat_template=tokenizer.chat_template, image_token=MEDIA_PLACEHOLDER
    )


def local_folder(source: str | Path) -> Path:
    """A local checkpoint folder as is; a hub id through ``huggingface_hub.snapshot_download`` (only the files used)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=str(source), allow_patterns=HUB_FILES))
    except Exception as exc:  # offline, unknown repo, gated: all mean "give a folder"
        raise ModelLoadError(
            f"could not fetch {source!r} from the Hugging Face hub ({exc.__class__.__name__}). Download it where the "
            f"hub is reachable (hf download {source} --local-dir ./weights) and pass the folder: --model ./weights"
        ) from exc


def load_opencua_model(folder: str | Path, *, dtype: torch.dtype = torch.float32,
                       attn_implementation: str = "sdpa") -> OpenCUAForConditionalGeneration:
    """The model of ``folder``: built uninitialised (as ``from_pretrained`` does) in ``dtype``, weights copied in."""
    from transformers import GenerationConfig
    from transformers.initialization import no_init_weights

    from guikv.models.opencua.weights import load_weights

    folder = Path(folder)
    config = read_config(folder)
    with no_init_weights():
        model = OpenCUAForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation=attn_implementation)
    load_weights(model, folder)
    if (folder / "generation_config.json").is_file():
        try:
            model.generation_config = GenerationConfig.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{folder / 'generation_config.json'} is not a generation config ({exc})") from exc
    return model.eval()


def read_config(folder: Path) -> OpenCUAConfig:
    path = folder / "config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read the model config ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("model_type") != "opencua":
        found = raw.get("model_type") if isinstance(raw, dict) else type(raw).__name__
        raise ModelLoadError(f"{path}: model_type is {found!r}, expected 'opencua'")
    for key in ("vision_config", "text_config"):
        if not isinstance(raw.get(key), dict):
            raise ModelLoadError(f"{path}: {key} must be an object (the checkpoint's Qwen2.5-VL / Qwen2 sub-config)")
    raw.pop("auto_map", None)  # points at the remote code, which is not used
    rope = raw["text_config"].get("rope_scaling")
    if isinstance(rope, dict) and rope.get("type", rope.get("rope_type")) == "mrope":
        # Copied from Qwen2.5-VL's config: OpenCUA's language model rotates 1-D (README), i.e. the default angles
        # (Qwen2-VL's own config mapped "mrope" to "default" the same way); the sections do not apply.
        raw["text_config"]["rope_scaling"] = {k: v for k, v in rope.items() if k not in ("type", "rope_type", "mrope_section")}
        raw["text_config"]["rope_scaling"]["rope_type"] = "default"
    try:
        config = OpenCUAConfig(**raw)
        config.validate_shapes()
        return config
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: {exc}") from exc


def _tokenizer(folder: Path) -> OpenCUATokenizer:
    try:
        return OpenCUATokenizer.from_folder(folder)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"OpenCUA tokenizer of {folder}: {exc}") from exc


def attach_tokenizer_ids(config: OpenCUAConfig, tokenizer: OpenCUATokenizer, folder: Path | str = "the checkpoint") -> None:
    """Check the tokenizer against the config and record the media begin/end ids the hooks read from the config."""
    placeholder = tokenizer.special_tokens.get(MEDIA_PLACEHOLDER)
    if placeholder != config.media_placeholder_token_id:
        raise ModelLoadError(
            f"{folder}: config.json's media_placeholder_token_id is {config.media_placeholder_token_id} but the tokenizer "
            f"gives {MEDIA_PLACEHOLDER} the id {placeholder}; the checkpoint's files disagree"
        )
    if tokenizer.vocab_size > config.text_config.vocab_size:
        raise ModelLoadError(
            f"{folder}: the tokenizer has {tokenizer.vocab_size} ids but the language model embeds only "
            f"{config.text_config.vocab_size} (text_config.vocab_size)"
        )
    config.media_begin_token_id = tokenizer.special_tokens.get(MEDIA_BEGIN)
    config.media_end_token_id = tokenizer.special_tokens.get(MEDIA_END)


def image_processor(folder: Path, *, min_pixels: int | None = None, max_pixels: int | None = None):
    """transformers' ``Qwen2VLImageProcessor`` from ``preprocessor_config.json``; given limits override the file's."""
    from transformers import Qwen2VLImageProcessor

    path = folder / "preprocessor_config.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read the image processor config ({exc})") from exc
    kind = raw.get("image_processor_type") if isinstance(raw, dict) else None
    if kind not in IMAGE_PROCESSORS:
        raise ModelLoadError(f"{path}: image_processor_type {kind!r}; OpenCUA uses {IMAGE_PROCESSORS[0]}")
    limits = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    return Qwen2VLImageProcessor.from_pretrained(folder, **limits)
