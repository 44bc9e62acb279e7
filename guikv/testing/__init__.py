"""Tiny, offline stand-ins for UI-TARS-1.5 (Qwen2.5-VL, M-RoPE) and OpenCUA's language model (Qwen2, 1-D RoPE).

Real transformers classes with random weights and small shapes, a real byte-level BPE tokenizer trained on the spot
with ``tokenizers`` (carrying Qwen2.5-VL's special tokens and chat template) and the real ``Qwen2VLImageProcessor``.
Nothing is downloaded: tests, benchmarks and the CLI's ``--model tiny`` use these where multi-GB weights cannot exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2-VL / Qwen2.5-VL-Instruct's chat template (the one UI-TARS-1.5 is used with).
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
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
    """Shapes of the tiny text model; defaults keep GQA (2 query heads per key head) and M-RoPE sections."""

    hidden_size: int = 64
    num_layers: int = 3
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    vision_depth: int = 2
    vision_hidden: int = 32


def tiny_tokenizer():
    """A byte-level BPE trained offline on GUI-agent text, with Qwen2.5-VL's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    tok.add_special_tokens(list(QWEN_SPECIAL_TOKENS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = QWEN2_VL_CHAT_TEMPLATE
    return fast


def tiny_processor(min_pixels: int = 28 * 28 * 4, max_pixels: int = 28 * 28 * 64):
    """The real Qwen2.5-VL image processor and the tiny tokenizer; small pixel limits keep images at a few tokens."""
    from transformers import Qwen2VLImageProcessor

    from guikv.processor import VisionTextProcessor

    image_processor = Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
    return VisionTextProcessor(
        tokenizer=tiny_tokenizer(), image_processor=image_processor, chat_template=QWEN2_VL_CHAT_TEMPLATE
    )


def _special_ids(tokenizer) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}


def tiny_qwen2_5_vl(
    shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None
):
    """A random-weight ``Qwen2_5_VLForConditionalGeneration`` (float32, eval mode) matching ``tiny_tokenizer``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    tokenizer = tokenizer or tiny_tokenizer()
    ids = _special_ids(tokenizer)
    head_dim = shapes.hidden_size // shapes.num_heads
    half = head_dim // 2
    section = [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": shapes.hidden_size,
            "intermediate_size": shapes.intermediate_size,
            "num_hidden_layers": shapes.num_layers,
            "num_attention_heads": shapes.num_heads,
            "num_key_value_heads": shapes.num_kv_heads,
            "max_position_embeddings": 32768,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": section},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": shapes.vision_depth,
            "hidden_size": shapes.vision_hidden,
            "intermediate_size": shapes.vision_hidden * 2,
            "num_heads": 2,
            "out_hidden_size": shapes.hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [shapes.vision_depth - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    config._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    _spread_weights(model)
    return model


def tiny_qwen2(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None):
    """A random-weight 1-D-RoPE ``Qwen2ForCausalLM``: the language-model path OpenCUA-7B runs on."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tokenizer or tiny_tokenizer()
    ids = _special_ids(tokenizer)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=shapes.hidden_size,
        intermediate_size=shapes.intermediate_size,
        num_hidden_layers=shapes.num_layers,
        num_attention_heads=shapes.num_heads,
        num_key_value_heads=shapes.num_kv_heads,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
        attn_implementation=attn_implementation,
    )
    # Span detection on a text-only model reads these ids (OpenCUA expands its image placeholders itself).
    config.image_token_id = ids["<|image_pad|>"]
    config.vision_start_token_id = ids["<|vision_start|>"]
    config.vision_end_token_id = ids["<|vision_end|>"]
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).eval()
    _spread_weights(model)
    return model


def _spread_weights(model: torch.nn.Module) -> None:
    """Widen the random init so attention is peaked and greedy decoding is not a constant token (tests need both)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.dim() == 2 and ("proj" in name or "embed" in name or "lm_head" in name):
                param.normal_(0.0, 0.2)


def save_tiny_qwen2_5_vl(folder: str | Path, **kwargs) -> Path:
    """Write the tiny model and its processor as a local model folder, loadable by ``guikv.load_model``."""
    folder = Path(folder)
    processor = tiny_processor()
    model = tiny_qwen2_5_vl(tokenizer=processor.tokenizer, **kwargs)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_qwen2(folder: str | Path, **kwargs) -> Path:
    """Write the tiny 1-D RoPE model and its tokenizer as a local model folder."""
    folder = Path(folder)
    tokenizer = tiny_tokenizer()
    model = tiny_qwen2(tokenizer=tokenizer, **kwargs)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def synthetic_screenshot(width: int, height: int, seed: int = 0):
    """A deterministic RGB PIL image with blocks of colour (a stand-in for a GUI screenshot)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 235, dtype=np.uint8)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(4, max(5, width // 3))), int(rng.integers(4, max(5, height // 4)))
        pixels[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(pixels)
