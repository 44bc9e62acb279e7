"""Tiny Qwen3-VL, dense and MoE: interleaved M-RoPE merged inside ``rotary_emb``, per-head q/k norms, DeepStack.

Shapes follow research-10.md B.7: ``mrope_section`` sums to head_dim / 2 with 3 * max(h, w) <= head_dim / 2, the vision
tower's ``out_hidden_size`` equals the text width, ``num_position_embeddings`` is a perfect square, and
``deepstack_visual_indexes`` are vision blocks whose features are added to the first text layers' residual stream.
The image processor is the real ``Qwen2VLImageProcessor`` with the checkpoints' geometry (patch 16, merge 2, mean/std
0.5) and small pixel limits; the tokenizer carries Qwen3-VL's special and added tokens and a chat template of the
Instruct checkpoints' shape (system turn only when given, a ``# Tools`` block when tools are passed, no default
system prompt, generation prompt ``<|im_start|>assistant\\n``).
"""

from __future__ import annotations

from pathlib import Path

from guikv.testing import QWEN_SPECIAL_TOKENS
from guikv.testing.common import TinyShapes, build, mrope_section, token_ids, train_tokenizer

# Non-special added tokens of Qwen3-VL's vocabulary (decode keeps them): tool calls and reasoning.
QWEN3_ADDED_TOKENS = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")

# The Qwen3-VL-Instruct chat template's structure, written for these tests (research-10.md B.6).
QWEN3_VL_CHAT_TEMPLATE = r"""
{%- set image_count = namespace(value=0) %}{%- set video_count = namespace(value=0) %}
{%- if messages[0].role == 'system' %}
  {%- if messages[0].content is string %}{%- set system_text = messages[0].content %}
  {%- else %}{%- set system_text = messages[0].content | selectattr('text', 'defined') | map(attribute='text') | join('') %}
  {%- endif %}
{%- endif %}
{%- if tools %}
  {{- '<|im_start|>system\n' }}{%- if system_text is defined %}{{- system_text + '\n\n' }}{%- endif %}
  {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" }}
  {{- "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
  {%- for tool in tools %}{{- '\n' }}{{- tool | tojson }}{%- endfor %}
  {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within " }}
  {{- "<tool_call></tool_call> XML tags:\n<tool_call>\n" }}
  {{- "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- elif system_text is defined %}
  {{- '<|im_start|>system\n' + system_text + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
  {%- if message.role == 'user' or message.role == 'tool' %}
    {%- if message.role == 'user' %}{{- '<|im_start|>user\n' }}
    {%- else %}
      {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}
      {{- '\n<tool_response>\n' }}
    {%- endif %}
    {%- if message.content is string %}{{- message.content }}
    {%- else %}
      {%- for content in message.content %}
        {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
          {%- set image_count.value = image_count.value + 1 %}
          {%- if add_vision_id %}{{- 'Picture ' ~ image_count.value ~ ': ' }}{%- endif %}
          {{- '<|vision_start|><|image_pad|><|vision_end|>' }}
        {%- elif content.type == 'video' or 'video' in content %}
          {%- set video_count.value = video_count.value + 1 %}
          {%- if add_vision_id %}{{- 'Video ' ~ video_count.value ~ ': ' }}{%- endif %}
          {{- '<|vision_start|><|video_pad|><|vision_end|>' }}
        {%- elif 'text' in content %}{{- content.text }}
        {%- endif %}
      {%- endfor %}
    {%- endif %}
    {%- if message.role == 'user' %}{{- '<|im_end|>\n' }}
    {%- else %}
      {{- '\n</tool_response>' }}
      {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\n' }}{%- endif %}
    {%- endif %}
  {%- elif message.role == 'assistant' %}
    {{- '<|im_start|>assistant\n' }}
    {%- if message.content is string %}{{- message.content }}
    {%- else %}{%- for item in message.content %}{%- if 'text' in item %}{{- item.text }}{%- endif %}{%- endfor %}
    {%- endif %}
    {%- if message.tool_calls %}
      {%- for tool_call in message.tool_calls %}
        {%- if (loop.first and message.content) or not loop.first %}{{- '\n' }}{%- endif %}
        {%- if tool_call.function %}{%- set tool_call = tool_call.function %}{%- endif %}
        {{- '<tool_call>\n{"name": "' + tool_call.name + '", "arguments": ' }}
        {%- if tool_call.arguments is string %}{{- tool_call.arguments }}
        {%- else %}{{- tool_call.arguments | tojson }}{%- endif %}
        {{- '}\n</tool_call>' }}
      {%- endfor %}
    {%- endif %}
    {{- '<|im_end|>\n' }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
""".strip()


def tiny_qwen3_vl_tokenizer():
    """A byte-level BPE with Qwen3-VL's special tokens, its added tool/reasoning tokens and its chat template."""
    return train_tokenizer(QWEN_SPECIAL_TOKENS, QWEN3_VL_CHAT_TEMPLATE, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                           added_tokens=QWEN3_ADDED_TOKENS)


def tiny_qwen3_vl_processor(min_pixels: int = 32 * 32 * 4, max_pixels: int = 32 * 32 * 64):
    """The real ``Qwen2VLImageProcessor`` at Qwen3-VL's geometry (factor 32) and the tiny Qwen3-VL tokenizer."""
    from transformers import Qwen2VLImageProcessor

    from guikv.processor import VisionTextProcessor

    image_processor = Qwen2VLImageProcessor(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                            image_std=[0.5] * 3, min_pixels=min_pixels, max_pixels=max_pixels)
    tokenizer = tiny_qwen3_vl_tokenizer()
    return VisionTextProcessor(tokenizer=tokenizer, image_processor=image_processor, chat_template=tokenizer.chat_template)


def _config(shapes: TinyShapes, tokenizer, *, moe: bool):
    from transformers import Qwen3VLConfig, Qwen3VLMoeConfig

    ids = token_ids(tokenizer, QWEN_SPECIAL_TOKENS)
    head_dim = shapes.dims_per_head()
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": shapes.hidden_size,
        "intermediate_size": shapes.intermediate_size,
        "num_hidden_layers": shapes.num_layers,
        "num_attention_heads": shapes.num_heads,
        "num_key_value_heads": shapes.num_kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_interleaved": True,
                            "mrope_section": mrope_section(head_dim // 2, interleaved=True)},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }
    if moe:
        text.update(num_experts=shapes.num_experts, num_experts_per_tok=shapes.experts_per_token,
                    moe_intermediate_size=shapes.moe_intermediate_size, decoder_sparse_step=1, mlp_only_layers=[])
    vision = {
        "depth": shapes.vision_depth,
        "hidden_size": shapes.vision_hidden,
        "intermediate_size": shapes.vision_hidden * 2,
        "num_heads": 2,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": shapes.hidden_size,
        "num_position_embeddings": 64,
        # DeepStack: features of the first vision blocks are added to the residual stream after text layers 0..k-1.
        "deepstack_visual_indexes": list(range(min(3, shapes.vision_depth))),
    }
    config_class = Qwen3VLMoeConfig if moe else Qwen3VLConfig
    return config_class(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def tiny_qwen3_vl(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa", tokenizer=None):
    """A random-weight ``Qwen3VLForConditionalGeneration`` (float32, eval mode) matching ``tiny_qwen3_vl_tokenizer``."""
    from transformers import Qwen3VLForConditionalGeneration

    config = _config(shapes, tokenizer or tiny_qwen3_vl_tokenizer(), moe=False)
    config._attn_implementation = attn_implementation
    return build(Qwen3VLForConditionalGeneration, config, seed)


def tiny_qwen3_vl_moe(shapes: TinyShapes = TinyShapes(), *, seed: int = 0, attn_implementation: str = "sdpa",
                      tokenizer=None):
    """A random-weight ``Qwen3VLMoeForConditionalGeneration``: the dense one with sparse-MoE MLPs in every layer."""
    from transformers import Qwen3VLMoeForConditionalGeneration

    config = _config(shapes, tokenizer or tiny_qwen3_vl_tokenizer(), moe=True)
    config._attn_implementation = attn_implementation
    return build(Qwen3VLMoeForConditionalGeneration, config, seed)


def save_tiny_qwen3_vl(folder: str | Path, **kwargs) -> Path:
    """Write the tiny dense Qwen3-VL and its processor as a local model folder (``model_type`` ``qwen3_vl``)."""
    return _save(folder, tiny_qwen3_vl, **kwargs)


def save_tiny_qwen3_vl_moe(folder: str | Path, **kwargs) -> Path:
    """Write the tiny Qwen3-VL MoE and its processor as a local model folder (``model_type`` ``qwen3_vl_moe``)."""
    return _save(folder, tiny_qwen3_vl_moe, **kwargs)


def _save(folder: str | Path, builder, **kwargs) -> Path:
    folder = Path(folder)
    processor = tiny_qwen3_vl_processor()
    builder(tokenizer=processor.tokenizer, **kwargs).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
