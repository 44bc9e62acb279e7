"""OpenCUA (xlangai/OpenCUA-7B, -32B): the spec, and the project's own model, tokenizer and loader.

What OpenCUA is, and where each fact comes from ([P] the model's own repository or checkpoint file, [V] vLLM's
implementation, [S] a third-party copy or audit of the checkpoint, [D] derived here):
- Architecture: Qwen2.5-VL's vision tower (merger included) + ``Qwen2ForCausalLM`` with 1-D RoPE instead of M-RoPE,
  and Kimi-VL's tokenizer and chat template [P: xlang-ai/OpenCUA@1d70f20 model/README.md "M-RoPE has been replaced
  with 1D RoPE", "Using the same Tokenizer and ChatTemplate as Kimi-VL"; the same note covers OpenCUA-32B (Qwen2.5-VL-
  32B based), so one spec serves both]. vLLM serves it with ``Qwen2_5_VisionTransformer`` + a registered
  ``Qwen2ForCausalLM`` [V: vllm/model_executor/models/opencua.py].
- ``config.json``: ``model_type`` "opencua", ``architectures`` ["OpenCUAForConditionalGeneration"], ``auto_map`` to
  ``configuration_opencua.OpenCUAConfig`` / ``modeling_opencua.OpenCUAForConditionalGeneration``; fields
  ``vision_config`` (Qwen2.5-VL-7B ViT: depth 32, hidden 1280, 16 heads, out_hidden_size 3584, patch 14, merge 2,
  window 112, fullatt [7, 15, 23, 31]), ``text_config`` (Qwen2), ``media_placeholder_token_id`` (default 151664),
  ``pad_token_id`` 0 [P: configuration_opencua.py of xlangai/OpenCUA-7B; vision values S: a config extracted from a
  local OpenCUA-7B]; ``max_position_embeddings`` 128000 [S]. Not read verbatim: the text sub-config's values and
  ``tie_word_embeddings`` (open: whatever the folder says is used).
- Parameter names: ``vision_tower.*``, ``language_model.model.*``, ``language_model.lm_head.weight`` (the remote
  module's attributes); vLLM's ``hf_to_vllm_mapper`` also accepts ``model.visual.*`` / ``model.language_model.*`` /
  ``lm_head.*`` and ``visual.*`` / ``model.*`` [V]. The index (28 shards) was not read verbatim: ``weights.py``
  accepts every one of those layouts and names any other tensor.
- Tokenizer: ``tiktoken.model`` + ``tokenizer_config.json`` (``auto_map`` AutoTokenizer ->
  ``tokenization_opencua.TikTokenV3`` [S]); Kimi's ``TikTokenTokenizer`` rules (see ``tokenization.py``). Ids seen in
  the checkpoint's tokenizer_config [S: a verbatim copy]: 151643 [BOS], 151644 [EOS], 151645 <|im_end|>, 151646
  <|im_user|>, 151647 <|im_assistant|>, 151648 <|reserved_token_0|>, 151649 <|start_header_id|>, 151650
  <|end_header_id|>; 151664 <|media_placeholder|> [P: config default]. Beyond those, Kimi-VL's layout shifted by
  151643 - 163584 [D]: 151652 [EOT], 151653 <|im_system|>, 151660 <|im_middle|>, 151661 <|media_begin|>, 151662
  <|media_content|>, 151663 <|media_end|>. (research-10.md A.3 put <|im_middle|> at 151658 and [PAD]/[UNK] at
  151895/151896; Kimi-VL's own file puts <|im_middle|> at base + 17, i.e. 151660. Unverified either way, so the
  runtime reads every id from ``added_tokens_decoder`` and this list is only the tiny test checkpoint's layout.)
- Chat template: Kimi-VL's shape, ``<|im_user|>user<|im_middle|>...<|im_end|>``, generation prompt
  ``<|im_assistant|>assistant<|im_middle|>``, no newlines between turns, an image as
  ``<|media_begin|>image<|media_content|><|media_placeholder|><|media_end|>`` [S: an audit of revision a2efb7d lists
  these tokens in the template]. Not read verbatim (whether it injects a default system turn is open): the runtime
  uses the folder's template string as is, and the persistent session checks it renders append-only.
- Generation: ``generation_config.json`` = {"max_length": 32768, "eos_token_id": 151644} ([EOS]) [S]; turns end with
  <|im_end|> in the template, so both stop a reply (``stop_tokens``), plus whatever generation_config lists.
- Images: one placeholder per image in the template, expanded to ``t*h*w / merge**2`` copies (the remote model and
  vLLM's processor both do) [P: model/inference/huggingface_inference.py; V]; here the processor expands it, before
  the language model. ``preprocessor_config.json``: Qwen2VLImageProcessor, min_pixels 3136, max_pixels 12845056,
  patch 14, merge 2, temporal patch 2, CLIP mean/std [S: two copies agree; P: README's smart_resize(factor=28,
  min_pixels=3136, max_pixels=12845056)].
Where sources disagree (vLLM's own OpenCUAConfig adds ``image_token_id`` 151664 and a ``vision_start_token_id``
151647, which is <|im_assistant|> in the checkpoint's tokenizer), the checkpoint's files win.
"""

from __future__ import annotations

from guikv.models.spec import ImageTokenLayout, ModelSpec, PixelSpec
from guikv.rope import Rope1D


def load(source: str, **options):
    from guikv.models.opencua.loading import load as load_opencua

    return load_opencua(source, **options)


SPEC = ModelSpec(
    name="opencua",
    model_types=("opencua",),
    architectures=("OpenCUAForConditionalGeneration",),
    rope=Rope1D(attention_classes=("Qwen2Attention",)),
    load=load,
    image_tokens=ImageTokenLayout(
        pad="<|media_placeholder|>",
        start="<|media_begin|>",
        end="<|media_end|>",
        pad_config_keys=("media_placeholder_token_id",),
        start_config_keys=("media_begin_token_id",),
        end_config_keys=("media_end_token_id",),
    ),
    pixels=PixelSpec(patch_size=14, merge_size=2, min_pixels=3136, max_pixels=12845056),
    turn_end="<|im_end|>",
    stop_tokens=("<|im_end|>", "[EOS]"),
    default_adapter="opencua",
    name_hints=("opencua",),
    checkpoints=("xlangai/OpenCUA-7B", "xlangai/OpenCUA-32B"),
    notes="Project-owned forward and tokenizer (no remote code); 1-D RoPE; placeholders expanded by the processor.",
)

__all__ = ["SPEC"]
