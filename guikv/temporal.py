"""GUI-KV's temporal redundancy: earlier screenshots' keys explained by the current screenshot's key subspace.

Everything is batched over (batch, key/value head): one batched QR or SVD, one projection of all cached keys, one
rank computation; earlier screenshots are pooled together as in the reference, so there is no loop over frames.
"""

from __future__ import annotations

from typing import Literal

import torch

BasisKind = Literal["principal", "first_tokens"]


def subspace_basis(current_keys: torch.Tensor, rank: int, kind: BasisKind = "principal") -> torch.Tensor:
    """Orthonormal basis (B, H_kv, D, r) of the current screenshot's keys (B, H_kv, N, D).

    ``principal``: the top-r right singular vectors, the best rank-r subspace of the whole screenshot (the paper's
    reading). ``first_tokens``: the reference's unpivoted QR of the keys, whose first r columns span the first r
    tokens in raster order (the top-left strip of the screenshot); QR of those r keys alone spans the same space.
    """
    keys = current_keys.float()
    n, d = keys.shape[-2], keys.shape[-1]
    r = max(1, min(rank, n, d))
    if kind == "first_tokens":
        q, _ = torch.linalg.qr(keys[..., :r, :].transpose(-1, -2), mode="reduced")
        return q
    if kind == "principal":
        _, _, vh = torch.linalg.svd(keys, full_matrices=False)
        return vh[..., :r, :].transpose(-1, -2)
    raise ValueError(f"unknown temporal basis {kind!r}; expected 'principal' or 'first_tokens'")


def projection_residuals(keys: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``||k - U U^T k||`` for every key: (B, H_kv, S, D) keys, (B, H_kv, D, r) orthonormal basis -> (B, H_kv, S).

    Computed as ``sqrt(||k||^2 - ||U^T k||^2)`` (Pythagoras): one (S x D x r) product instead of two.
    """
    k = keys.float()
    inside = torch.matmul(k, basis).square().sum(dim=-1)
    return (k.square().sum(dim=-1) - inside).clamp_min(0.0).sqrt()


def most_redundant(residuals: torch.Tensor, candidates: torch.Tensor, fraction: float | torch.Tensor) -> torch.Tensor:
    """Boolean (B, H_kv, S): per head, the ``floor(fraction * #candidates)`` candidates with the smallest residuals.

    ``candidates`` (B, H_kv, S) marks earlier-screenshot slots; ``fraction`` is the reference's ``1 - budget``.
    """
    counts = candidates.sum(dim=-1, keepdim=True)
    n_zero = torch.floor(counts.double() * fraction).long()  # (B, H_kv, 1), may differ per head
    most = int(n_zero.max())
    out = torch.zeros_like(candidates)
    if most == 0:
        return out
    ranked = residuals.masked_fill(~candidates, float("inf"))
    smallest = ranked.topk(most, dim=-1, largest=False, sorted=True).indices
    within = torch.arange(most, device=residuals.device) < n_zero
    return out.scatter_(-1, smallest, within)
