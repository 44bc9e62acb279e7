"""What a persistent session refuses, per family: non-append-only templates, image pads without pixels; DeepStack.

Qwen3-VL's DeepStack adds vision features to the first text layers for the image tokens of the forward carrying
their pixels; chunked prefill is exact because the session always sends a screenshot's pads with its pixels (the
exactness itself is tests/guikv/test_family_matrix.py::test_turn_by_turn_equals_one_prefill).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from guikv.append_only import append_only_problem
from guikv.models import MODEL_SPECS, spec_of
from guikv.session import MemorySession, SessionError
from guikv.testing.pad_only import pad_only
from tests.guikv.conftest import FAMILIES
from tests.guikv.helpers import as_messages, conversation, images_of

# A Qwen3-thinking-style template: earlier replies lose their <think> block; the generation prompt opens one.
THINKING_TEMPLATE = r"""
{%- for message in messages %}
  {%- if message.role == 'assistant' %}
    {%- set content = message.content %}
    {%- if '</think>' in content %}{%- set content = content.split('</think>')[-1].lstrip('\n') %}{%- endif %}
    {{- '<|im_start|>assistant\n' + content + '<|im_end|>\n' }}
  {%- else %}
    {{- '<|im_start|>' + message.role + '\n' }}
    {%- if message.content is string %}{{- message.content }}
    {%- else %}{%- for item in message.content %}
      {%- if item.type == 'image' or 'image' in item %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}
      {%- elif 'text' in item %}{{- item.text }}{%- endif %}
    {%- endfor %}{%- endif %}
    {{- '<|im_end|>\n' }}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n<think>\n' }}{%- endif %}
""".strip()

# A template whose earlier text depends on the whole conversation (a turn count in the system turn).
COUNTING_TEMPLATE = (
    "<|im_start|>system\n{{ messages | length }} turns<|im_end|>\n{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.content is string %}{{ m.content }}{% else %}{% for i in m.content %}{% if 'text' in i %}{{ i.text }}"
    "{% else %}<|vision_start|><|image_pad|><|vision_end|>{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_template_is_append_only(tiny_models, family):
    _, processor = tiny_models.get(family)
    assert append_only_problem(processor.render, MODEL_SPECS[family].turn_end) is None


@pytest.mark.parametrize(
    ("template", "message"),
    [(THINKING_TEMPLATE, "thinking templates strip <think>"), (COUNTING_TEMPLATE, "changes the text of the earlier turns")],
)
def test_non_append_only_template_is_refused_at_the_first_turn(tiny_models, template, message):
    model, processor = tiny_models.get("qwen3_vl")
    processor = dataclasses.replace(processor, chat_template=template)
    session = MemorySession(model, processor, "gui_kv", 0.5)
    turns = conversation(1)
    for role, content in turns:
        session.add(role, content)
    with pytest.raises(SessionError, match=rf"qwen3_vl chat template is not append-only: .*{message}.*mode='reference'"):
        session.generate(max_new_tokens=2)
    assert session.cache is None  # nothing was fed
    with pytest.raises(SessionError, match="not append-only"):
        session.prefill()

    reference = MemorySession(model, processor, "gui_kv", 0.5, mode="reference")
    for step in range(2):
        for role, content in conversation(step + 1)[-1:] if step else turns:
            reference.add(role, content)
        reply = reference.generate(max_new_tokens=3)
        assert len(reply.token_ids) <= 3 and reply.prefill_tokens > 0
    assert reference.messages[-1]["role"] == "assistant"


@pytest.mark.parametrize("family", [f for f in FAMILIES if MODEL_SPECS[f].pixels is not None])
def test_image_pads_without_pixels_are_refused(tiny_models, family):
    """A chunk holding a screenshot's pads but not its pixels would run without the image: refused, nothing fed."""
    model, processor = tiny_models.get(family)
    session = MemorySession(model, pad_only(processor), "full", None)
    for role, content in conversation(1):
        session.add(role, content)
    with pytest.raises(SessionError, match=r"holds \d+ image pad token\(s\) but no pixels"):
        session.generate(max_new_tokens=2)
    assert session.cache is None or session.cache.get_seq_length() == 0  # nothing was fed


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen3_vl_moe"])
def test_deepstack_features_travel_with_their_chunk(tiny_models, family):
    """Each screenshot chunk carries DeepStack features for exactly its pads; they change the result (so the
    turn-by-turn exactness test covers them); text chunks carry none."""
    model, processor = tiny_models.get(family)
    lm = spec_of(model).rope.language_model(model)
    k = len(model.config.vision_config.deepstack_visual_indexes)
    pad = model.config.image_token_id
    seen: list[tuple[int, int | None]] = []

    def grab(module, args, kwargs):
        embeds, masks = kwargs.get("deepstack_visual_embeds"), kwargs.get("visual_pos_masks")
        seen.append((0 if embeds is None else len(embeds), None if masks is None else int(masks.sum())))

    handle = lm.register_forward_pre_hook(grab, with_kwargs=True)
    turns = conversation(3)
    session = MemorySession(model, processor, "full", None)
    pads: list[int] = []
    try:
        for role, content in turns:
            session.add(role, content)
            before = session.cache.get_seq_length() if session.cache is not None else 0
            session.prefill()
            chunk = processor.encode(processor.render(as_messages(turns[: len(pads) + 1]), add_generation_prompt=False),
                                     images_of(turns[: len(pads) + 1]))["input_ids"][0, before:]
            pads.append(int((chunk == pad).sum()))
    finally:
        handle.remove()
    assert [(k, n) if n else (0, None) for n in pads] == seen and sum(pads) > 0

    prompt = processor.encode(processor.render(as_messages(turns), add_generation_prompt=False), images_of(turns))

    def drop(module, args, kwargs):
        kwargs["deepstack_visual_embeds"] = None
        return args, kwargs

    with torch.no_grad():
        with_deepstack = model(**prompt).logits[0, -1]
        handle = lm.register_forward_pre_hook(drop, with_kwargs=True)
        try:
            without = model(**prompt).logits[0, -1]
        finally:
            handle.remove()
    assert (with_deepstack - without).abs().max() > 1e-3
