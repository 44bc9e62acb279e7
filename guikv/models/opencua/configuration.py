"""``OpenCUAConfig``: the checkpoint's ``config.json`` (``model_type`` ``"opencua"``) as a transformers config.

Same fields as the checkpoint's own ``configuration_opencua.py`` (a Qwen2.5-VL vision sub-config, a Qwen2 text
sub-config, ``media_placeholder_token_id``), so no remote code is needed to read it. What the compression hooks look
for under Qwen2.5-VL's names is aliased (``image_token_id`` -> ``media_placeholder_token_id``, ``vision_start_token_id``
/ ``vision_end_token_id`` -> ``media_begin_token_id`` / ``media_end_token_id``); the two media ids are not in
``config.json`` and are filled from the tokenizer when the checkpoint is loaded.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig, Qwen2Config
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig

# The checkpoint's configuration_opencua.py default (xlangai/OpenCUA-7B); config.json's value wins when present.
DEFAULT_MEDIA_PLACEHOLDER_TOKEN_ID = 151664


class OpenCUAConfig(PretrainedConfig):
    """OpenCUA-7B / -32B: ``vision_config`` (Qwen2.5-VL ViT incl. merger) + ``text_config`` (Qwen2, 1-D RoPE)."""

    model_type = "opencua"
    sub_configs = {"vision_config": Qwen2_5_VLVisionConfig, "text_config": Qwen2Config}
    attribute_map = {
        "image_token_id": "media_placeholder_token_id",
        "vision_start_token_id": "media_begin_token_id",
        "vision_end_token_id": "media_end_token_id",
    }
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vision_config: dict[str, Any] | Qwen2_5_VLVisionConfig | None = None,
        text_config: dict[str, Any] | Qwen2Config | None = None,
        ignore_index: int = -100,
        media_placeholder_token_id: int = DEFAULT_MEDIA_PLACEHOLDER_TOKEN_ID,
        media_begin_token_id: int | None = None,
        media_end_token_id: int | None = None,
        pad_token_id: int | None = 0,
        **kwargs: Any,
    ) -> None:
        self.vision_config = _sub_config(vision_config, Qwen2_5_VLVisionConfig, "vision_config")
        self.text_config = _sub_config(text_config, Qwen2Config, "text_config")
        self.ignore_index = ignore_index
        self.media_placeholder_token_id = _token_id(media_placeholder_token_id, "media_placeholder_token_id")
        self.media_begin_token_id = _optional_token_id(media_begin_token_id, "media_begin_token_id")
        self.media_end_token_id = _optional_token_id(media_end_token_id, "media_end_token_id")
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def validate_shapes(self) -> None:
        """What the model needs of a config (not checked at init: transformers builds default configs to diff)."""
        vocab = self.text_config.vocab_size
        if self.media_placeholder_token_id >= vocab:
            raise ValueError(
                f"media_placeholder_token_id {self.media_placeholder_token_id} is outside the text model's vocabulary "
                f"(text_config.vocab_size {vocab})"
            )
        if self.vision_config.out_hidden_size != self.text_config.hidden_size:
            raise ValueError(
                f"vision_config.out_hidden_size {self.vision_config.out_hidden_size} must equal text_config.hidden_size "
                f"{self.text_config.hidden_size}: the merged image features replace token embeddings"
            )


def _sub_config(value: Any, cls: type[PretrainedConfig], name: str) -> PretrainedConfig:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"OpenCUA config: {name} must be a dict or {cls.__name__}, got {type(value).__name__}")


def _optional_token_id(value: Any, name: str) -> int | None:
    return None if value is None else _token_id(value, name)


def _token_id(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"OpenCUA config: {name} must be a non-negative token id, got {value!r}")
    return value
