"""GUI-KV's spatial saliency: how far each screenshot token's hidden state norm stands out within its screenshot."""

from __future__ import annotations

import torch


def spatial_saliency(norms: torch.Tensor, temperature: float) -> torch.Tensor:
    """Softmax over a screenshot's tokens of their standardised norms divided by ``temperature``.

    norms: (B, N) L2 norms of the current screenshot's tokens. Returns (B, N), each row summing to 1. The reference
    divides by the temperature (3.5 flattens); a single-token screenshot (std undefined) gets weight 1.
    """
    norms = norms.float()
    if norms.shape[-1] < 2:
        return torch.ones_like(norms)
    mean = norms.mean(dim=-1, keepdim=True)
    std = norms.std(dim=-1, keepdim=True)  # unbiased, as the reference
    z = (norms - mean) / (std + 1e-8)
    return torch.softmax(z / temperature, dim=-1)
