"""What the compression hooks and the chunked runtime need to know about a model family.

A family says where the decoder layers are, how to rotate re-projected window queries (1-D RoPE or Qwen2.5-VL's
M-RoPE sections), and how to compute a chunk's position ids continuing from ``next_pos``. Families are looked up by the
attention module's class name in a registry; unknown models get an error listing what is supported.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn


class UnsupportedModelError(TypeError):
    """The model's attention modules are not ones the hooks can serve."""


@dataclass(frozen=True)
class ModelFamily(ABC):
    """Base for model families; subclasses are registered in ``FAMILIES`` by attention class name."""

    attention_classes: tuple[str, ...] = ()

    @abstractmethod
    def language_model(self, model: nn.Module) -> nn.Module:
        """The module holding ``.layers`` (decoder layers)."""

    def decoder_layers(self, model: nn.Module) -> list[nn.Module]:
        return list(self.language_model(model).layers)

    @abstractmethod
    def rotate(self, attn: nn.Module, q: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Apply the model's RoPE to window queries ``q`` (B, H, w, D) with this chunk's last-w cos/sin."""

    @abstractmethod
    def slice_rope(self, cos: torch.Tensor, sin: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the last ``n`` sequence positions of the hook's ``position_embeddings``."""

    @abstractmethod
    def chunk_positions(self, model: nn.Module, input_ids: torch.Tensor, image_grid_thw, next_pos: int) -> torch.Tensor:
        """Position ids of a chunk whose first token comes right after logical position ``next_pos - 1``."""

    @abstractmethod
    def decode_positions(self, next_pos: int, device: torch.device) -> torch.Tensor:
        """Position ids of one decoded token at logical position ``next_pos``."""

    @abstractmethod
    def rope_position_ids(self, positions: torch.Tensor) -> torch.Tensor:
        """Ledger positions (N, S, R) as the rotary embedding's ``position_ids``."""

    def unrotate(self, model: nn.Module, attn: nn.Module, keys: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Pre-RoPE keys from cached post-RoPE ``keys`` (B, H_kv, S, D) and their ledger ``positions`` (B, H_kv, S, R).

        Rotating by the negative angle (``sin`` negated) inverts RoPE exactly for the default rotary embedding; each
        head has its own slots after pruning, so heads are folded into the batch.
        """
        b, h, s, d = keys.shape
        flat = keys.reshape(b * h, 1, s, d)
        position_ids = self.rope_position_ids(positions.reshape(b * h, s, -1).long())
        cos, sin = self.language_model(model).rotary_emb(flat, position_ids)
        return self.rotate(attn, flat, cos, -sin).reshape(b, h, s, d)

    def window_queries(self, attn: nn.Module, hidden_states: torch.Tensor, cos, sin, n: int) -> torch.Tensor:
        """Re-project and rotate the last ``n`` queries of a chunk: (B, H, n, D), as the attention forward does."""
        bsz = hidden_states.shape[0]
        h = hidden_states[:, -n:]
        q = attn.q_proj(h).view(bsz, n, -1, attn.head_dim).transpose(1, 2)
        if hasattr(attn, "q_norm"):
            q = attn.q_norm(q)
        cos_w, sin_w = self.slice_rope(cos, sin, n)
        return self.rotate(attn, q, cos_w, sin_w)


def _module_function(attn: nn.Module, name: str):
    return getattr(sys.modules[type(attn).__module__], name)


@dataclass(frozen=True)
class Qwen2_5_VLFamily(ModelFamily):
    """Qwen2.5-VL (UI-TARS-1.5): 3-D M-RoPE; cos/sin reach the attention as (3, B, L, D) before the section merge."""

    attention_classes: tuple[str, ...] = ("Qwen2_5_VLAttention", "Qwen2VLAttention")

    def language_model(self, model: nn.Module) -> nn.Module:
        inner = model.model if hasattr(model, "model") else model
        return inner.language_model if hasattr(inner, "language_model") else inner

    def slice_rope(self, cos, sin, n):
        return cos[:, :, -n:], sin[:, :, -n:]

    def rotate(self, attn, q, cos, sin):
        apply = _module_function(attn, "apply_multimodal_rotary_pos_emb")
        section = attn.config.rope_parameters["mrope_section"]
        return apply(q, q, cos, sin, section)[0]

    def chunk_positions(self, model, input_ids, image_grid_thw, next_pos):
        inner = model.model if hasattr(model, "model") else model
        positions, _ = inner.get_rope_index(input_ids, image_grid_thw=image_grid_thw)
        return positions + next_pos

    def decode_positions(self, next_pos, device):
        return torch.full((3, 1, 1), next_pos, dtype=torch.long, device=device)

    def rope_position_ids(self, positions):
        return positions.permute(2, 0, 1)  # (3, N, S)


@dataclass(frozen=True)
class Qwen2Family(ModelFamily):
    """Qwen2-family language models with 1-D RoPE (OpenCUA-7B's language model)."""

    attention_classes: tuple[str, ...] = ("Qwen2Attention", "LlamaAttention", "MistralAttention", "Qwen3Attention")

    def language_model(self, model: nn.Module) -> nn.Module:
        if hasattr(model, "language_model"):  # OpenCUA's LLaVA-style wrapper: language_model is a *ForCausalLM
            model = model.language_model
        return model.model if hasattr(model, "model") else model

    def slice_rope(self, cos, sin, n):
        return cos[:, -n:], sin[:, -n:]

    def rotate(self, attn, q, cos, sin):
        apply = _module_function(attn, "apply_rotary_pos_emb")
        return apply(q, q, cos, sin)[0]

    def chunk_positions(self, model, input_ids, image_grid_thw, next_pos):
        length = input_ids.shape[-1]
        return torch.arange(next_pos, next_pos + length, device=input_ids.device).unsqueeze(0)

    def decode_positions(self, next_pos, device):
        return torch.full((1, 1), next_pos, dtype=torch.long, device=device)

    def rope_position_ids(self, positions):
        return positions[..., 0]  # (N, S)


FAMILIES: dict[str, ModelFamily] = {}
for _family in (Qwen2_5_VLFamily(), Qwen2Family()):
    for _name in _family.attention_classes:
        FAMILIES[_name] = _family


def family_of(model: nn.Module) -> ModelFamily:
    """The family serving ``model``'s attention modules, or ``UnsupportedModelError`` naming what was found."""
    found = sorted({type(m).__name__ for m in model.modules() if type(m).__name__.endswith("Attention")})
    for name in found:
        if name in FAMILIES:
            return FAMILIES[name]
    raise UnsupportedModelError(
        f"{type(model).__name__}: no supported attention module found (found {found or 'none'}); "
        f"guikv hooks serve {sorted(FAMILIES)}"
    )


def attention_modules(model: nn.Module, family: ModelFamily) -> list[nn.Module]:
    """The self-attention module of every decoder layer, in layer order."""
    layers = family.decoder_layers(model)
    modules = [layer.self_attn for layer in layers]
    for m in modules:
        if type(m).__name__ not in family.attention_classes:
            raise UnsupportedModelError(f"decoder layer attention {type(m).__name__} is not one of {family.attention_classes}")
    return modules
