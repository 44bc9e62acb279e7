"""What every tiny test model shares: text-model shapes, a BPE tokenizer trained offline, a wider random init."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

CORPUS = [
    "You are a GUI agent. You are given a task and your action history, with screenshots. "
    "You need to perform the next action to complete the task.",
    "Thought: I should click the search box and type the query. Action: click(point='<point>100 200</point>')",
    "Action: type(content='hello world\\n') hotkey(key='ctrl c') scroll(point='<point>5 5</point>', direction='down')",
    "finished(content='successful') drag(start_point='<point>1 2</point>', end_point='<point>3 4</point>') wait()",
    "## Output Format ## Action Space ## Note ## User Instruction Please generate the next move.",
    "pyautogui.click(x=1443, y=343) computer.terminate(status='success') 0123456789 abcdefghijklmnopqrstuvwxyz",
]


@dataclass(frozen=True)
class TinyShapes:
    """Shapes of a tiny text model; defaults keep GQA (2 query heads per key head) and M-RoPE sections."""

    hidden_size: int = 64
    num_layers: int = 3
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_depth: int = 2
    vision_hidden: int = 32
    head_dim: int | None = None  # None: hidden_size // num_heads (Qwen3-VL MoE checkpoints set it apart)
    num_experts: int = 4  # MoE families only
    experts_per_token: int = 2
    moe_intermediate_size: int = 32

    def dims_per_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads


def train_tokenizer(special_tokens: Sequence[str], chat_template: str, *, eos_token: str, pad_token: str,
                    added_tokens: Sequence[str] = ()):
    """A byte-level BPE trained offline on GUI-agent text, then ``special_tokens`` (ids in the given order, as in the
    real vocabulary) and ``added_tokens`` (non-special: kept by ``decode(skip_special_tokens=True)``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_special_tokens(list(special_tokens))
    if added_tokens:
        tok.add_tokens(list(added_tokens))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos_token, pad_token=pad_token, clean_up_tokenization_spaces=False
    )
    fast.chat_template = chat_template
    return fast


def token_ids(tokenizer, tokens: Sequence[str]) -> dict[str, int]:
    """Ids of ``tokens``; a ``KeyError`` naming any the tokenizer lacks (a tiny config must not point at unk)."""
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}
    missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise KeyError(f"tokenizer lacks {missing}")
    return ids


def mrope_section(half: int, *, interleaved: bool) -> list[int]:
    """M-RoPE (temporal, height, width) frequency sections summing to ``half`` (head_dim / 2 of the rotated dims).

    Qwen2.5-VL splits [16, 24, 24] of 64 (t gets the rest); Qwen3-VL interleaves [24, 20, 20] of 64, which needs
    3 * max(h, w) <= half or transformers silently truncates the interleave.
    """
    if interleaved:
        side = half * 20 // 64 or 1
        return [half - 2 * side, side, side]
    side = half * 3 // 8
    return [half - 2 * side, side, side]


def spread_weights(model: torch.nn.Module) -> None:
    """Widen the random init so attention is peaked and greedy decoding is not a constant token (tests need both)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.dim() == 2 and ("proj" in name or "embed" in name or "lm_head" in name):
                param.normal_(0.0, 0.2)


def build(model_class, config, seed: int) -> torch.nn.Module:
    """``model_class(config)`` with seeded, widened random weights, in eval mode (float32)."""
    torch.manual_seed(seed)
    model = model_class(config).eval()
    spread_weights(model)
    return model
