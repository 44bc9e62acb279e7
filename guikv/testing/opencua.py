"""A tiny OpenCUA checkpoint folder in the real layout, and the tiny model it loads to (random weights, offline).

``save_tiny_opencua(folder)`` writes what an ``xlangai/OpenCUA-7B`` download holds, at toy sizes: ``config.json``
(``model_type`` "opencua", ``vision_config`` / ``text_config`` in transformers 4.x's flat style, ``auto_map`` to the
remote code it does not need), safetensors with the checkpoint's parameter names (one file, or shards + index), a
tiny ``tiktoken.model`` (256 byte ranks + merges learned here on GUI-agent text), ``tokenizer_config.json`` with the
special tokens at the real offsets from the first special id and a chat template of Kimi-VL's shape,
``preprocessor_config.json`` and ``generation_config.json``. ``tiny_opencua()`` loads such a folder through the
project's loader and returns ``(model, processor)``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import tempfile
from collections import Counter
from pathlib import Path

import torch

from guikv.testing.common import CORPUS, TinyShapes, spread_weights

# Offsets from the first special id (the real checkpoint: 151643), as the checkpoint / Kimi-VL lay them out
# (guikv.models.opencua docstring). Unnamed ids in the range get <|reserved_token_{id}|> by the tokenizer's rule.
SPECIAL_OFFSETS: dict[str, int] = {
    "[BOS]": 0,
    "[EOS]": 1,
    "<|im_end|>": 2,
    "<|im_user|>": 3,
    "<|im_assistant|>": 4,
    "<|reserved_token_0|>": 5,
    "<|start_header_id|>": 6,
    "<|end_header_id|>": 7,
    "[EOT]": 9,
    "<|im_system|>": 10,
    "<|im_middle|>": 17,
    "<|media_begin|>": 18,
    "<|media_content|>": 19,
    "<|media_end|>": 20,
    "<|media_placeholder|>": 21,
    "[PAD]": 254,
    "[UNK]": 255,
}
EXTRA_SPECIAL = [
    "<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|start_header_id|>", "<|end_header_id|>", "[EOT]",
    "<|im_system|>", "<|im_middle|>", "<|media_begin|>", "<|media_content|>", "<|media_end|>", "<|media_placeholder|>",
]

# Kimi-VL's template shape with OpenCUA's media tokens: turns are <|im_X|>role<|im_middle|>content<|im_end|>, no
# newlines between them, a default system turn when none is given, one placeholder per image.
OPENCUA_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and messages[0]['role'] != 'system' -%}"
    "{{- '<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>' -}}"
    "{%- endif -%}"
    "{%- if message['role'] == 'system' -%}{{- '<|im_system|>' -}}"
    "{%- elif message['role'] == 'user' -%}{{- '<|im_user|>' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- '<|im_assistant|>' -}}{%- endif -%}"
    "{{- message['role'] -}}{{- '<|im_middle|>' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for content in message['content'] -%}"
    "{%- if content['type'] == 'image' or 'image' in content or 'image_url' in content -%}"
    "{{- '<|media_begin|>image<|media_content|><|media_placeholder|><|media_end|>' -}}"
    "{%- elif 'text' in content -%}{{- content['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_assistant|>assistant<|im_middle|>' -}}{%- endif -%}"
)

_OPENCUA_TEXT = [
    "You are a GUI agent. You are given a task and a screenshot of the screen. "
    "You need to perform a series of pyautogui actions to complete the task.",
    "## Thought: I need to open the settings menu.\n## Action: Click the gear icon.\n## Code:\n```python\n"
    "pyautogui.click(x=1443, y=343)\n```",
    "pyautogui.write(message='hello world') pyautogui.hotkey(['ctrl', 'c']) pyautogui.scroll(-5) "
    "computer.wait() computer.terminate(status='success') image assistant user system",
]

AUTO_MAP = {
    "AutoConfig": "configuration_opencua.OpenCUAConfig",
    "AutoModel": "modeling_opencua.OpenCUAForConditionalGeneration",
    "AutoModelForCausalLM": "modeling_opencua.OpenCUAForConditionalGeneration",
}
PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "image_processor_type": "Qwen2VLImageProcessor",
}
LAYOUTS = ("opencua", "qwen2_5_vl")  # parameter-name layouts the writer can use (vLLM accepts both)


def tiny_bpe_ranks(texts: list[str] | None = None, merges: int = 160) -> dict[bytes, int]:
    """Byte-level BPE ranks: the 256 bytes, then ``merges`` pair merges learned greedily (ties broken by bytes)."""
    texts = texts if texts is not None else [*CORPUS, *_OPENCUA_TEXT]
    words: Counter[tuple[bytes, ...]] = Counter()
    for text in texts:
        for word in re.findall(r" ?[A-Za-z]+| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]+|\s+", text):
            words[tuple(bytes([b]) for b in word.encode())] += 1
    ranks = {bytes([b]): b for b in range(256)}
    for _ in range(merges):
        pairs: Counter[tuple[bytes, bytes]] = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda item: (item[1], item[0]))
        ranks[a + b] = len(ranks)
        merged: Counter[tuple[bytes, ...]] = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return ranks


def write_tiktoken_file(path: str | Path, ranks: dict[bytes, int]) -> Path:
    path = Path(path)
    lines = [f"{base64.b64encode(token).decode()} {rank}" for token, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    path.write_text("\n".join(lines) + "\n")
    return path


def special_ids(num_base: int) -> dict[str, int]:
    return {name: num_base + offset for name, offset in SPECIAL_OFFSETS.items()}


def tokenizer_config(num_base: int, chat_template: str = OPENCUA_CHAT_TEMPLATE) -> dict:
    """``tokenizer_config.json`` as the checkpoint ships it (a TikTokenV3 entry, named special tokens, template)."""
    decoder = {
        str(i): {"content": name, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for name, i in sorted(special_ids(num_base).items(), key=lambda kv: kv[1])
    }
    return {
        "added_tokens_decoder": decoder,
        "additional_special_tokens": EXTRA_SPECIAL,
        "auto_map": {"AutoTokenizer": ["tokenization_opencua.TikTokenV3", None]},
        "bos_token": "[BOS]",
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": "[EOS]",
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "[PAD]",
        "tokenizer_class": "TikTokenV3",
        "unk_token": "[UNK]",
    }


def config_json(num_base: int, shapes: TinyShapes = TinyShapes()) -> dict:
    """``config.json`` in the checkpoint's (transformers 4.x, flat sub-config) style, at toy sizes."""
    ids = special_ids(num_base)
    text_config = {
        "architectures": ["Qwen2ForCausalLM"],
        "attention_dropout": 0.0,
        "bos_token_id": ids["[BOS]"],
        "eos_token_id": ids["[EOS]"],
        "hidden_act": "silu",
        "hidden_size": shapes.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": shapes.intermediate_size,
        "max_position_embeddings": 128000,
        "max_window_layers": shapes.num_layers,
        "model_type": "qwen2",
        "num_attention_heads": shapes.num_heads,
        "num_hidden_layers": shapes.num_layers,
        "num_key_value_heads": shapes.num_kv_heads,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": num_base + 258,
    }
    vision_config = {
        "depth": shapes.vision_depth,
        "fullatt_block_indexes": [shapes.vision_depth - 1],
        "hidden_act": "silu",
        "hidden_size": shapes.vision_hidden,
        "in_channels": 3,
        "in_chans": 3,
        "intermediate_size": shapes.vision_hidden * 2,
        "model_type": "qwen2_5_vl",
        "num_heads": 2,
        "out_hidden_size": shapes.hidden_size,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "spatial_patch_size": 14,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
        "window_size": 112,
    }
    return {
        "architectures": ["OpenCUAForConditionalGeneration"],
        "auto_map": AUTO_MAP,
        "ignore_index": -100,
        "max_position_embeddings": 128000,
        "media_placeholder_token_id": ids["<|media_placeholder|>"],
        "model_type": "opencua",
        "pad_token_id": 0,
        "text_config": text_config,
        "torch_dtype": "float32",
        "transformers_version": "4.53.0",
        "vision_config": vision_config,
    }


def checkpoint_name(name: str, layout: str) -> str:
    """A module parameter name as a checkpoint of ``layout`` spells it."""
    if layout == "opencua":
        return name
    if layout == "qwen2_5_vl":  # transformers 5's Qwen2.5-VL layout
        for old, new in (("vision_tower.", "model.visual."), ("language_model.model.", "model.language_model."),
                         ("language_model.lm_head.", "lm_head.")):
            if name.startswith(old):
                return new + name[len(old) :]
    raise ValueError(f"unknown layout {layout!r} for {name!r}; expected one of {LAYOUTS}")


def write_tiny_files(
    folder: str | Path, *, shapes: TinyShapes = TinyShapes(), chat_template: str = OPENCUA_CHAT_TEMPLATE
) -> dict:
    """Everything of a tiny checkpoint but the weights; returns the ``config.json`` written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ranks = tiny_bpe_ranks()
    num_base = len(ranks)
    write_tiktoken_file(folder / "tiktoken.model", ranks)
    config = config_json(num_base, shapes)
    _write_json(folder / "config.json", config)
    _write_json(folder / "tokenizer_config.json", tokenizer_config(num_base, chat_template))
    _write_json(folder / "preprocessor_config.json", PREPROCESSOR)
    _write_json(folder / "generation_config.json", {"max_length": 32768, "eos_token_id": special_ids(num_base)["[EOS]"]})
    return config


def random_model(config: dict, *, seed: int = 0, attn_implementation: str = "sdpa"):
    """The model of a ``config.json`` dict with random (widened) float32 weights; the same seed gives the same weights."""
    from guikv.models.opencua.configuration import OpenCUAConfig
    from guikv.models.opencua.modeling import OpenCUAForConditionalGeneration

    raw = {k: v for k, v in config.items() if k != "auto_map"}
    torch.manual_seed(seed)
    model = OpenCUAForConditionalGeneration._from_config(
        OpenCUAConfig(**raw), dtype=torch.float32, attn_implementation=attn_implementation
    )
    spread_weights(model)
    return model.eval()


def save_tiny_opencua(
    folder: str | Path,
    *,
    shapes: TinyShapes = TinyShapes(),
    seed: int = 0,
    shards: int = 1,
    layout: str = "opencua",
    chat_template: str = OPENCUA_CHAT_TEMPLATE,
) -> Path:
    """Write a tiny OpenCUA checkpoint folder (see the module docstring); ``shards > 1`` writes an index."""
    from safetensors.torch import save_file

    folder = Path(folder)
    model = random_model(write_tiny_files(folder, shapes=shapes, chat_template=chat_template), seed=seed)
    tensors = {checkpoint_name(k, layout): v.detach().contiguous() for k, v in model.state_dict().items()}
    names = sorted(tensors)
    if shards <= 1:
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return folder
    per_shard = -(-len(names) // shards)
    weight_map: dict[str, str] = {}
    for k in range(shards):
        part = names[k * per_shard : (k + 1) * per_shard]
        file = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in part}, str(folder / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, file))
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    _write_json(folder / "model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": weight_map})
    return folder


def tiny_opencua_processor(*, min_pixels: int | None = None, max_pixels: int | None = None):
    """The processor ``guikv.load_model`` gives for ``save_tiny_opencua`` (tiktoken tokenizer, real image processor)."""
    from guikv.models.opencua.loading import image_processor, opencua_processor
    from guikv.models.opencua.tokenization import OpenCUATokenizer

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_tiny_files(folder)
        tokenizer = OpenCUATokenizer.from_folder(folder)
        return opencua_processor(tokenizer, image_processor(folder, min_pixels=min_pixels, max_pixels=max_pixels))


def tiny_opencua_model(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa",
                       tokenizer=None):
    """The model ``guikv.load_model`` gives for ``save_tiny_opencua`` (same seed), built in memory (no weights
    written), so large shapes (a 7B-wide layer) stay cheap. ``tokenizer``: one from ``tiny_opencua_processor``."""
    from transformers import GenerationConfig

    from guikv.models.opencua.loading import attach_tokenizer_ids
    from guikv.models.opencua.tokenization import OpenCUATokenizer

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        config = write_tiny_files(folder, shapes=shapes)
        tokenizer = tokenizer or OpenCUATokenizer.from_folder(folder)
        generation = GenerationConfig.from_pretrained(folder)
    model = random_model(config, seed=seed, attn_implementation=attn_implementation)
    model.generation_config = generation
    attach_tokenizer_ids(model.config, tokenizer)
    return model


def tiny_opencua(*, shapes: TinyShapes = TinyShapes(), seed: int = 0, attn_implementation: str = "sdpa"):
    """``(model, processor)`` of a tiny OpenCUA, as ``guikv.load_model`` gives them for ``save_tiny_opencua``."""
    processor = tiny_opencua_processor()
    model = tiny_opencua_model(shapes, seed=seed, attn_implementation=attn_implementation, tokenizer=processor.tokenizer)
    return model, processor


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
