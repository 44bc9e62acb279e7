"""``OpenCUAForConditionalGeneration``: the OpenCUA forward, owned by the project (no remote code).

OpenCUA is a LLaVA-style pair: transformers' Qwen2.5-VL vision tower (``vision_tower``, patch merger included) and a
plain ``Qwen2ForCausalLM`` (``language_model``, 1-D RoPE). The attribute names are the checkpoint's parameter
prefixes (``vision_tower.*``, ``language_model.model.*``, ``language_model.lm_head.weight``), so the state dict of
this module is the checkpoint's.

Unlike the remote code (which expands each ``<|media_placeholder|>`` inside its forward), this forward takes ids whose
placeholders the processor ALREADY expanded to ``N = t*h*w / merge**2`` copies per image, so the ids the compression
hooks see are the ids the KV cache holds. The merged image features replace the placeholder embeddings in order;
positions are 1-D (``position_ids`` (B, L) or, when absent, ``cache_position``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2ForCausalLM
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

from guikv.models.opencua.configuration import OpenCUAConfig


class OpenCUAPreTrainedModel(PreTrainedModel):
    config_class = OpenCUAConfig
    config: OpenCUAConfig
    base_model_prefix = ""
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "Qwen2_5_VLVisionBlock"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True


class OpenCUAForConditionalGeneration(OpenCUAPreTrainedModel, GenerationMixin):
    """Vision tower -> features scattered at the (expanded) placeholders -> ``Qwen2ForCausalLM`` on the embeddings."""

    def __init__(self, config: OpenCUAConfig) -> None:
        config.validate_shapes()
        super().__init__(config)
        self.vision_tower = Qwen2_5_VisionTransformerPretrainedModel._from_config(config.vision_config)
        self.language_model = Qwen2ForCausalLM._from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    @property
    def merge_size(self) -> int:
        return int(self.config.vision_config.spatial_merge_size)

    def image_features(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        """Merged features of every image, in order: (sum t*h*w / merge**2, text hidden size).

        ``pixel_values`` (sum t*h*w, channels * temporal_patch * patch**2) and ``image_grid_thw`` (n_images, 3) as the
        Qwen2-VL image processor returns them.
        """
        grid = _check_grid(image_grid_thw, self.merge_size)
        vision = self.config.vision_config
        row = vision.in_channels * vision.temporal_patch_size * vision.patch_size**2
        patches = int(grid.prod(-1).sum())
        if pixel_values.dim() != 2 or pixel_values.shape != (patches, row):
            raise ValueError(
                f"pixel_values has shape {tuple(pixel_values.shape)}; image_grid_thw {grid.tolist()} needs ({patches}, {row})"
            )
        out = self.vision_tower(pixel_values.to(self.vision_tower.dtype), grid_thw=grid)
        return out.pooler_output

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        cache_position: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        """``input_ids`` (B, L) with each image's placeholder already repeated N times; returns the LM's output."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("OpenCUA forward: pass exactly one of input_ids and inputs_embeds")
        if position_ids is not None and position_ids.dim() != 2:
            raise ValueError(
                f"OpenCUA uses 1-D RoPE: position_ids must be (batch, length), got shape {tuple(position_ids.shape)}"
            )
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
            inputs_embeds = self._merge_images(input_ids, inputs_embeds, pixel_values, image_grid_thw)
        elif pixel_values is not None:
            raise ValueError("OpenCUA forward: pixel_values need input_ids (the placeholders say where images go)")
        return self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            labels=labels,
            use_cache=use_cache,
            cache_position=cache_position,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )

    def _merge_images(self, input_ids, inputs_embeds, pixel_values, image_grid_thw) -> torch.Tensor:
        """Scatter the image features over the placeholder positions (row-major over the batch, prompt order)."""
        placeholder = self.config.media_placeholder_token_id
        mask = input_ids == placeholder  # (B, L)
        count = int(mask.sum())
        if pixel_values is None:
            if image_grid_thw is not None:
                raise ValueError("OpenCUA forward: image_grid_thw was given without pixel_values")
            if count and input_ids.shape[1] > 1:
                raise ValueError(
                    f"OpenCUA forward: the ids hold {count} image placeholder(s) (id {placeholder}) but no pixel_values; "
                    "a prompt's screenshots must come with it"
                )
            return inputs_embeds
        if image_grid_thw is None:
            raise ValueError("OpenCUA forward: pixel_values need image_grid_thw (one (t, h, w) row per image)")
        features = self.image_features(pixel_values, image_grid_thw)
        if count != features.shape[0]:
            raise ValueError(
                f"OpenCUA forward: the ids hold {count} image placeholder(s) (id {placeholder}) but the images give "
                f"{features.shape[0]} features (image_grid_thw {image_grid_thw.tolist()}); expand each placeholder to "
                f"t*h*w/{self.merge_size ** 2} copies (guikv.processor.VisionTextProcessor.encode does)"
            )
        features = features.to(inputs_embeds.device, inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1).expand_as(inputs_embeds), features)

    def prepare_inputs_for_generation(
        self, input_ids, pixel_values=None, image_grid_thw=None, is_first_iteration=False, **kwargs
    ):
        """``generate()`` support: the images go in with the prompt only; later steps read them from the cache."""
        inputs = super().prepare_inputs_for_generation(input_ids, is_first_iteration=is_first_iteration, **kwargs)
        if is_first_iteration or not kwargs.get("use_cache", True):
            inputs["pixel_values"] = pixel_values
            inputs["image_grid_thw"] = image_grid_thw
        return inputs


def _check_grid(image_grid_thw: torch.Tensor, merge: int) -> torch.Tensor:
    if not isinstance(image_grid_thw, torch.Tensor) or image_grid_thw.dim() != 2 or image_grid_thw.shape[-1] != 3:
        shape = tuple(image_grid_thw.shape) if isinstance(image_grid_thw, torch.Tensor) else type(image_grid_thw).__name__
        raise ValueError(f"image_grid_thw must be a (n_images, 3) tensor of (t, h, w), got {shape}")
    grid = image_grid_thw.long()
    if grid.numel() == 0 or bool((grid <= 0).any()) or bool((grid[:, 1:] % merge != 0).any()):
        raise ValueError(
            f"image_grid_thw {grid.tolist()}: every t, h, w must be positive and h, w multiples of the merge size {merge}"
        )
    return grid
