"""``bench variants``: how the paper's choices and the reference code's choices differ on the tiny model.

For a conversation of several screenshots, prefill once per GUI-KV variant and compare the kept slots with the
paper defaults (overlap = |A and B| / |A|, per layer and KV head, averaged), and how spread out each saliency signal
is over the current screenshot (coefficient of variation of the token norms: the RMS-normed attention input is
nearly constant, so its saliency is nearly uniform).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

import guikv
from guikv.models import spec_of
from guikv.testing import synthetic_screenshot, tiny_processor, tiny_qwen2_5_vl

VARIANTS: dict[str, dict] = {
    "paper (default)": {},
    "reference saliency (attention input)": {"saliency_source": "attention_input"},
    "reference basis (first 32 tokens)": {"temporal_basis": "first_tokens"},
    "reference (both)": {"saliency_source": "attention_input", "temporal_basis": "first_tokens"},
    "pre-RoPE keys for the temporal term": {"temporal_keys": "pre_rope"},
    "no saliency (alpha 0)": {"alpha": 0.0},
    "no temporal term": {"temporal": False},
}


@dataclass(frozen=True)
class VariantRow:
    variant: str
    overlap_with_default: float
    screenshot_tokens_kept: float
    earlier_screenshot_tokens_kept: float


@dataclass(frozen=True)
class VariantsResult:
    budget: float
    rows: list[VariantRow]
    residual_norm_cv: float
    attention_input_norm_cv: float

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def _kept(model, inputs, budget: float, options: dict) -> list[torch.Tensor]:
    with torch.no_grad(), guikv.press("gui_kv", budget=budget, **options)(model):
        cache = model(**inputs, use_cache=True).past_key_values
    return [(layer.tokens, layer.frames) for layer in cache.ledger.layers]


def run_variants_bench(budget: float = 0.2, screenshots: int = 4, seed: int = 0) -> VariantsResult:
    processor = tiny_processor(max_pixels=28 * 28 * 256)
    model = tiny_qwen2_5_vl(tokenizer=processor.tokenizer, seed=seed)
    images = [synthetic_screenshot(224, 168, seed=s) for s in range(screenshots)]
    messages = [{"role": "user", "content": "Task: enable dark mode in the settings."}]
    for i in range(screenshots):
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"step {i}"}]})
        if i < screenshots - 1:
            messages.append({"role": "assistant", "content": f"Action: click(point='<point>{10 * i} 40</point>')"})
    inputs = processor.encode(processor.render(messages), images)
    default = _kept(model, inputs, budget, {})
    rows = []
    for name, options in VARIANTS.items():
        kept = _kept(model, inputs, budget, options)
        overlaps, current, earlier = [], [], []
        for (pos_a, _), (pos_b, frames_b) in zip(default, kept, strict=True):
            same = (pos_a.unsqueeze(-1) == pos_b.unsqueeze(-2)).any(-1).float().mean(-1)
            overlaps.append(same.mean().item())
            current.append((frames_b == screenshots - 1).sum(-1).float().mean().item())
            earlier.append(((frames_b >= 0) & (frames_b < screenshots - 1)).sum(-1).float().mean().item())
        rows.append(VariantRow(name, round(sum(overlaps) / len(overlaps), 4), round(sum(current) / len(current), 2),
                               round(sum(earlier) / len(earlier), 2)))
    return VariantsResult(budget, rows, *_norm_spread(model, inputs))


def _norm_spread(model, inputs) -> tuple[float, float]:
    """Coefficient of variation (std / mean) of the last screenshot's token norms, residual vs normed input."""
    spec = spec_of(model)
    image_id = spec.image_tokens.ids(model.config).image_pad
    ids = inputs["input_ids"][0]
    pads = torch.nonzero(ids == image_id).flatten()
    runs = torch.nonzero(torch.diff(pads) > 1).flatten()
    last = pads[int(runs[-1]) + 1 :] if runs.numel() else pads
    captured: dict[str, list[torch.Tensor]] = {"residual": [], "normed": []}
    layers = spec.rope.decoder_layers(model)

    def grab(name: str):
        def hook(module, args, kwargs):
            captured[name].append(kwargs.get("hidden_states", args[0] if args else None))

        return hook

    handles = [layer.register_forward_pre_hook(grab("residual"), with_kwargs=True) for layer in layers]
    handles += [layer.self_attn.register_forward_pre_hook(grab("normed"), with_kwargs=True) for layer in layers]
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        for h in handles:
            h.remove()

    def cv(tensors: list[torch.Tensor]) -> float:
        values = [t[0, last].float().norm(dim=-1) for t in tensors]
        return round(sum((v.std() / v.mean()).item() for v in values) / len(values), 4)

    return cv(captured["residual"]), cv(captured["normed"])
