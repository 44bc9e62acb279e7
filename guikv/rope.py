"""RoPE schemes: how the compression hooks re-project, rotate, un-rotate and position one model family's tokens.

The hooks never patch an attention forward; to score a layer they rebuild the last window's queries from the
attention input and rotate them exactly as the model does, and GUI-KV's temporal term un-rotates cached keys. A scheme
also computes a chunk's position ids continuing from ``next_pos`` (1 + the largest position used so far), so a
persistent session can prefill turn by turn. Each family's ``ModelSpec.rope`` names its scheme; ``attention_modules``
checks that the decoder layers really hold the attention classes the scheme was written for.

Shapes: queries/keys (B, H, L, D); ledger positions (N, S, R), R = 1 (1-D) or 3 (temporal, height, width rows).

| scheme             | families                        | cos/sin at the attention | rotation                           |
|--------------------|---------------------------------|--------------------------|------------------------------------|
| ``Rope1D``         | Qwen2 / Llama LMs (OpenCUA)     | (B, L, D)                | rotate-half, all dims              |
| ``MRope``          | Qwen2-VL, Qwen2.5-VL            | (3, B, L, D) per axis    | sections merged at rotation time   |
| ``InterleavedMRope`` | Qwen3-VL dense and MoE        | (B, L, D), merged        | rotate-half after per-head q_norm  |
| ``GlmMRope``       | GLM-4.1V                        | (B, L, rotary_dim)       | interleaved pairs, partial rotary  |
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


class UnsupportedModelError(TypeError):
    """A model the hooks cannot serve (unknown family, or decoder layers of an unexpected type)."""


@dataclass(frozen=True)
class RopeScheme(ABC):
    """Base of the RoPE schemes; ``attention_classes`` are the attention module class names it was written for."""

    attention_classes: tuple[str, ...] = ()
    position_rows: ClassVar[int] = 1  # rows of a position id: 1 (1-D) or 3 (M-RoPE)

    @abstractmethod
    def language_model(self, model: nn.Module) -> nn.Module:
        """The module holding ``.layers`` (decoder layers) and ``.rotary_emb``."""

    def decoder_layers(self, model: nn.Module) -> list[nn.Module]:
        return list(self.language_model(model).layers)

    @abstractmethod
    def rotate(self, attn: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Apply the model's RoPE to ``x`` (B, H, L, D) with the rotary embedding's ``cos``/``sin`` for those L tokens."""

    @abstractmethod
    def slice_rope(self, cos: torch.Tensor, sin: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the last ``n`` sequence positions of the hook's ``position_embeddings``."""

    @abstractmethod
    def chunk_positions(self, model: nn.Module, input_ids: torch.Tensor, image_grid_thw, next_pos: int) -> torch.Tensor:
        """Position ids of a chunk (B, L) whose first token comes right after logical position ``next_pos - 1``."""

    def decode_positions(self, next_pos: int, device: torch.device) -> torch.Tensor:
        """Position ids of one decoded token at logical position ``next_pos``: (1, 1) or (3, 1, 1)."""
        shape = (1, 1) if self.position_rows == 1 else (self.position_rows, 1, 1)
        return torch.full(shape, next_pos, dtype=torch.long, device=device)

    def rope_position_ids(self, positions: torch.Tensor) -> torch.Tensor:
        """Ledger positions (N, S, R) as the rotary embedding's ``position_ids``: (N, S) or (3, N, S)."""
        return positions[..., 0] if self.position_rows == 1 else positions.permute(2, 0, 1)

    def unrotate(self, model: nn.Module, attn: nn.Module, keys: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Pre-RoPE keys from cached post-RoPE ``keys`` (B, H_kv, S, D) and their ledger ``positions`` (B, H_kv, S, R).

        RoPE turns each rotated pair of dims by an angle; turning by the negative angle (``sin`` negated) is its exact
        inverse, whatever the pair layout or the share of rotated dims. Each head has its own slots after pruning, so
        heads are folded into the batch.
        """
        b, h, s, d = keys.shape
        flat = keys.reshape(b * h, 1, s, d)
        position_ids = self.rope_position_ids(positions.reshape(b * h, s, -1).long())
        cos, sin = self.language_model(model).rotary_emb(flat, position_ids)
        return self.rotate(attn, flat, cos, -sin).reshape(b, h, s, d)

    def window_queries(self, attn: nn.Module, hidden_states: torch.Tensor, cos, sin, n: int) -> torch.Tensor:
        """Re-project and rotate the last ``n`` queries of a chunk: (B, H, n, D), as the attention forward does.

        Qwen3-VL (and Qwen3) normalise each query head (``q_norm``) before rotating; other families have no such norm.
        """
        bsz = hidden_states.shape[0]
        h = hidden_states[:, -n:]
        q = attn.q_proj(h).view(bsz, n, -1, attn.head_dim)
        if hasattr(attn, "q_norm"):
            q = attn.q_norm(q)
        cos_w, sin_w = self.slice_rope(cos, sin, n)
        return self.rotate(attn, q.transpose(1, 2), cos_w, sin_w)


def _module_function(attn: nn.Module, name: str):
    """A function of the module that defines ``attn``'s class: the rotation the attention forward itself calls."""
    return getattr(sys.modules[type(attn).__module__], name)


@dataclass(frozen=True)
class Rope1D(RopeScheme):
    """1-D RoPE (Qwen2 / Llama language models, OpenCUA-7B's): positions are the token order."""

    def language_model(self, model: nn.Module) -> nn.Module:
        if hasattr(model, "language_model"):  # OpenCUA's LLaVA-style wrapper: language_model is a *ForCausalLM
            model = model.language_model
        return model.model if hasattr(model, "model") else model

    def slice_rope(self, cos, sin, n):
        return cos[:, -n:], sin[:, -n:]

    def rotate(self, attn, x, cos, sin):
        return _module_function(attn, "apply_rotary_pos_emb")(x, x, cos, sin)[0]

    def chunk_positions(self, model, input_ids, image_grid_thw, next_pos):
        length = input_ids.shape[-1]
        return torch.arange(next_pos, next_pos + length, device=input_ids.device).unsqueeze(0)


@dataclass(frozen=True)
class _ThreeAxisRope(RopeScheme):
    """Shared by the M-RoPE schemes: 3 position rows from the model's own ``get_rope_index`` of the chunk."""

    position_rows: ClassVar[int] = 3

    @staticmethod
    def _vision_language_model(model: nn.Module) -> nn.Module:
        return model.model if hasattr(model, "model") else model

    def language_model(self, model: nn.Module) -> nn.Module:
        inner = self._vision_language_model(model)
        return inner.language_model if hasattr(inner, "language_model") else inner

    def chunk_positions(self, model, input_ids, image_grid_thw, next_pos):
        # Keywords only: Qwen2.5-VL has ``second_per_grid_ts`` as its 4th positional parameter, Qwen2-VL / Qwen3-VL /
        # GLM-4.1V do not. The chunk's own rope index shifted by next_pos equals the full sequence's (spec D.5).
        index = self._vision_language_model(model).get_rope_index
        positions, _ = index(input_ids=input_ids, image_grid_thw=image_grid_thw)
        return positions + next_pos


@dataclass(frozen=True)
class MRope(_ThreeAxisRope):
    """Qwen2-VL / Qwen2.5-VL sectioned M-RoPE: cos/sin reach the attention as (3, B, L, D), one per axis, and are
    merged by ``mrope_section`` inside ``apply_multimodal_rotary_pos_emb``."""

    def slice_rope(self, cos, sin, n):
        return cos[:, :, -n:], sin[:, :, -n:]

    def rotate(self, attn, x, cos, sin):
        apply = _module_function(attn, "apply_multimodal_rotary_pos_emb")
        return apply(x, x, cos, sin, attn.config.rope_parameters["mrope_section"])[0]


@dataclass(frozen=True)
class InterleavedMRope(_ThreeAxisRope):
    """Qwen3-VL (dense and MoE) interleaved M-RoPE: ``rotary_emb`` merges the axes itself (THWTHW... frequency layout),
    so cos/sin are (B, L, D) and the rotation is the plain 1-D rotate-half formula; queries and keys are RMS-normed per
    head (``q_norm`` / ``k_norm``) before rotation, so cached keys un-rotate to ``k_norm``'s output."""

    def slice_rope(self, cos, sin, n):
        return cos[:, -n:], sin[:, -n:]

    def rotate(self, attn, x, cos, sin):
        return _module_function(attn, "apply_rotary_pos_emb")(x, x, cos, sin)[0]


@dataclass(frozen=True)
class GlmMRope(_ThreeAxisRope):
    """GLM-4.1V M-RoPE: ``rotary_emb`` merges the axes by chunks inside itself and covers only the first
    ``head_dim * partial_rotary_factor`` dims, so cos/sin are (B, L, rotary_dim); the attention rotates interleaved
    pairs (dims 2i, 2i+1) of those dims and passes the rest through. The decoder layers get ``position_ids=None``."""

    def slice_rope(self, cos, sin, n):
        return cos[:, -n:], sin[:, -n:]

    def rotate(self, attn, x, cos, sin):
        return _module_function(attn, "apply_rotary_pos_emb")(x, x, cos, sin)[0]


def attention_modules(model: nn.Module, rope: RopeScheme) -> list[nn.Module]:
    """The self-attention module of every decoder layer, in layer order; ``UnsupportedModelError`` for a layer whose
    attention is not one of the classes the scheme was written for (the rotation would be wrong)."""
    try:
        layers = rope.decoder_layers(model)
    except AttributeError as exc:
        raise UnsupportedModelError(
            f"{type(model).__name__}: no decoder layers where {type(rope).__name__} looks for them ({exc})"
        ) from None
    modules = []
    for idx, layer in enumerate(layers):
        attn = getattr(layer, "self_attn", None)
        if type(attn).__name__ not in rope.attention_classes:
            raise UnsupportedModelError(
                f"{type(model).__name__}: decoder layer {idx} attention is {type(attn).__name__}, not one of "
                f"{rope.attention_classes} that {type(rope).__name__} rotates for"
            )
        modules.append(attn)
    return modules
