"""Transactions of the memory session: a call that fails anywhere leaves the session exactly as before it.

Failures are injected into the real tiny models with forward hooks (what an out-of-memory error in layer k, a bug in
a press, or Ctrl+C during decoding looks like from the session's side). "Exactly as before" is checked on the
session's state, every layer's keys/values and ledger tensors, the positions and the conversation; "the same next
answer" by comparing greedy tokens and every decode step's logits with a session that never failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch

from guikv.models.registry import spec_of
from guikv.presses.vl_cache import VLCachePress
from guikv.rope import attention_modules
from guikv.session import MemorySession
from tests.guikv.helpers import conversation

LAYER = 1  # the tiny models have 3 layers: layer 0 has taken the chunk when layer 1 fails, layer 2 has not


class Injected(RuntimeError):
    """The failure the tests inject (stands in for torch.OutOfMemoryError, a CUDA error, a bug in a press)."""


def _setup(request, which):
    processor = request.getfixturevalue("processor")
    if which == "vl":
        return request.getfixturevalue("vl_model"), processor
    return request.getfixturevalue("tiny_models").get("qwen2")  # the 1-D RoPE model, with pads as image tokens


def frozen(session: MemorySession) -> dict[str, Any]:
    """Everything a transaction must restore, deep-copied (tensors cloned) so later changes cannot alias it."""
    cache = session.cache
    layers, ledgers = [], []
    if cache is not None:
        layers = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers if layer.is_initialized]
        ledgers = [
            tuple(t.clone() for t in (lg.tokens, lg.frames, lg.positions)) for lg in cache.ledger.layers if lg.frames is not None
        ]
    return {
        "cache": cache,
        "state": session.state(),
        "layers": layers,
        "ledgers": ledgers,
        "ledger": None if cache is None else (
            cache.ledger.logical_length, cache.ledger.forgotten, cache.ledger.num_frames, dict(cache.ledger.frame_sizes)
        ),
        "next_pos": session.next_pos,
        "fed_text": session._fed_text,
        "fed_messages": session._fed_messages,
        "messages": [(m["role"], id(m["content"])) for m in session.messages],
    }


def assert_same(before: dict[str, Any], after: dict[str, Any], *, same_session: bool = True) -> None:
    if same_session:
        assert after["cache"] is before["cache"]
        assert after["messages"] == before["messages"]
    assert after["state"] == before["state"]
    assert len(after["layers"]) == len(before["layers"]) and len(after["ledgers"]) == len(before["ledgers"])
    for (k0, v0), (k1, v1) in zip(before["layers"], after["layers"], strict=True):
        assert torch.equal(k0, k1) and torch.equal(v0, v1)
    for old, new in zip(before["ledgers"], after["ledgers"], strict=True):
        assert all(torch.equal(a, b) for a, b in zip(old, new, strict=True))
    for key in ("ledger", "next_pos", "fed_text", "fed_messages"):
        assert after[key] == before[key], key


@dataclass
class Failure:
    """Where to fail: ``site`` in attention (layer k), mlp (layer k, after its compression), lm_head, decode."""

    site: str
    error: type[BaseException] = Injected
    decode_step: int = 2
    calls: int = 0

    def install(self, model) -> list[Any]:
        rope = spec_of(model).rope
        attentions, decoder = attention_modules(model, rope), rope.decoder_layers(model)
        if self.site == "attention":  # after layer k's attention appended the chunk, before its compression hook
            return [attentions[LAYER].register_forward_hook(self._on_chunk)]
        if self.site == "mlp":
            return [decoder[LAYER].mlp.register_forward_pre_hook(self._on_chunk_pre)]
        if self.site == "lm_head":  # its first call in a generate is the prefill chunk's (logits_to_keep=1)
            return [model.lm_head.register_forward_pre_hook(lambda module, args: self._raise())]
        if self.site == "decode":
            return [attentions[LAYER].register_forward_hook(self._on_decode)]
        raise AssertionError(self.site)

    def _raise(self) -> None:
        self.calls += 1
        raise self.error(f"injected at {self.site} of layer {LAYER}")

    def _on_chunk(self, module, args, output) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        if hidden.shape[1] > 1:
            self._raise()

    def _on_chunk_pre(self, module, args) -> None:
        if args[0].shape[1] > 1:
            self._raise()

    def _on_decode(self, module, args, output) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        if hidden.shape[1] == 1:
            self.decode_step -= 1
            if self.decode_step == 0:
                self._raise()


def _logits_recorder(model, into: list[torch.Tensor]):
    return model.register_forward_hook(lambda module, args, output: into.append(output.logits[0, -1].clone()))


def _build(model, processor, method, mode) -> tuple[MemorySession, list[tuple[str, Any]]]:
    """A session holding a compressed history (a generate already ran) and the user turn the next call answers."""
    turns = [turn for turn in conversation(3) if turn[0] == "user"]
    session = MemorySession(model, processor, method, 0.3, mode=mode, max_screenshots=2)
    session.add(*turns[0])
    for turn in turns[1:-1]:
        session.add(*turn)
        session.generate(max_new_tokens=3)  # the cache exists, was pruned and holds decoded tokens
    return session, turns[-1:]


def _answer(session: MemorySession, model) -> tuple[tuple[int, ...], list[torch.Tensor]]:
    logits: list[torch.Tensor] = []
    handle = _logits_recorder(model, logits)
    try:
        reply = session.generate(max_new_tokens=6, ignore_eos=True)
    finally:
        handle.remove()
    return reply.token_ids, logits


def _assert_same_answer(failed: MemorySession, clean: MemorySession, model) -> None:
    tokens_failed, logits_failed = _answer(failed, model)
    tokens_clean, logits_clean = _answer(clean, model)
    assert tokens_failed == tokens_clean
    assert len(logits_failed) == len(logits_clean) == 7  # the prefill chunk, then one forward per decoded token
    assert all(torch.equal(a, b) for a, b in zip(logits_failed, logits_clean, strict=True))
    assert_same(frozen(clean), frozen(failed), same_session=False)  # and the same state afterwards
    assert [(m["role"], m["content"] if isinstance(m["content"], str) else None) for m in failed.messages] == [
        (m["role"], m["content"] if isinstance(m["content"], str) else None) for m in clean.messages
    ]


@pytest.mark.parametrize("mode", ["persistent", "reference"])
@pytest.mark.parametrize("method", ["snap_kv", "pyramid_kv", "vl_cache"])
@pytest.mark.parametrize(
    ("site", "error"),
    [("attention", Injected), ("mlp", MemoryError), ("lm_head", Injected), ("decode", Injected), ("decode", KeyboardInterrupt)],
    ids=["attention-k", "mlp-k-memoryerror", "lm_head", "decode", "decode-ctrl-c"],
)
def test_failed_generate_leaves_the_session_as_before(vl_model, processor, mode, method, site, error):
    failed, pending = _build(vl_model, processor, method, mode)
    clean, _ = _build(vl_model, processor, method, mode)
    for role, content in pending:
        failed.add(role, content)
        clean.add(role, content)
    before = frozen(failed)
    if mode == "persistent":
        lengths = before["state"].tokens_per_layer
        assert before["state"].logical_tokens > max(lengths)  # the history really was compressed
        if method != "snap_kv":
            assert len(set(lengths)) > 1  # per-layer budgets: layers hold different lengths
    failure = Failure(site, error)
    handles = failure.install(vl_model)
    try:
        with pytest.raises(error, match="injected"):
            failed.generate(max_new_tokens=6, ignore_eos=True)
    finally:
        for handle in handles:
            handle.remove()
    assert failure.calls == 1
    assert_same(before, frozen(failed))
    assert failed.messages[-1]["role"] == "user"  # the pending turn stays pending: the retry answers it
    _assert_same_answer(failed, clean, vl_model)


@pytest.mark.parametrize("which", ["vl", "text"])
@pytest.mark.parametrize("method", ["gui_kv", "pyramid_kv"])
def test_failed_prefill_leaves_the_session_as_before(request, which, method):
    """prefill() is a transaction too; the 1-D RoPE model (OpenCUA's language model) as well as M-RoPE."""
    model, processor = _setup(request, which)
    sessions = []
    for _ in range(2):
        session = MemorySession(model, processor, method, 0.3)
        for role, content in conversation(3)[:-1]:
            session.add(role, content)
        session.prefill()
        session.add(*conversation(3)[-1])
        sessions.append(session)
    failed, clean = sessions
    before = frozen(failed)
    failure = Failure("attention")
    handles = failure.install(model)
    try:
        with pytest.raises(Injected):
            failed.prefill()
    finally:
        for handle in handles:
            handle.remove()
    assert_same(before, frozen(failed))
    logits_failed, logits_clean = failed.prefill(), clean.prefill()
    assert torch.equal(logits_failed, logits_clean)
    _assert_same_answer_after_prefill(failed, clean, model)


def _assert_same_answer_after_prefill(failed: MemorySession, clean: MemorySession, model) -> None:
    for session in (failed, clean):
        session.add("user", "and now?")
    _assert_same_answer(failed, clean, model)


def test_first_call_failing_leaves_no_cache(vl_model, processor):
    session = MemorySession(vl_model, processor, "gui_kv", 0.3)
    for role, content in conversation(2):
        session.add(role, content)
    failure = Failure("attention")
    handles = failure.install(vl_model)
    try:
        with pytest.raises(Injected):
            session.generate(max_new_tokens=2)
    finally:
        for handle in handles:
            handle.remove()
    assert session.cache is None and session.next_pos == 0 and session._fed_text == "" and session._fed_messages == 0
    assert session.state().screenshot_sizes == {}
    clean = MemorySession(vl_model, processor, "gui_kv", 0.3)
    for role, content in conversation(2):
        clean.add(role, content)
    _assert_same_answer(session, clean, vl_model)
    assert session.state().screenshot_sizes == {0: 12, 1: 12}  # each screenshot counted once


@dataclass(frozen=True)
class _AllocationFails(VLCachePress):
    """VL-Cache with a bug: one capacity short, so the deferred pruning fails after pruning every earlier layer."""

    name: ClassVar[str] = "vl_cache"

    def allocate(self, statistics, views):
        return super().allocate(statistics, views)[:-1]


def test_failure_inside_deferred_pruning_is_rolled_back(vl_model, processor):
    """VL-Cache prunes every layer after the forward; a failure half-way through that leaves nothing half-pruned."""
    failed = MemorySession(vl_model, processor, "vl_cache", 0.3)
    for role, content in conversation(3)[:-1]:
        failed.add(role, content)
    failed.prefill()
    failed.add(*conversation(3)[-1])
    before = frozen(failed)
    good_press = failed.press
    failed.press = _AllocationFails(budget=good_press.budget)
    with pytest.raises(ValueError, match="zip"):
        failed.generate(max_new_tokens=2)
    assert_same(before, frozen(failed))
    failed.press = good_press
    clean = MemorySession(vl_model, processor, "vl_cache", 0.3)
    for role, content in conversation(3)[:-1]:
        clean.add(role, content)
    clean.prefill()
    clean.add(*conversation(3)[-1])
    _assert_same_answer(failed, clean, vl_model)


# --- screenshots the image processor cannot take --------------------------------------------------------------------


def _screen(width: int, height: int, seed: int = 0):
    from guikv.testing import synthetic_screenshot

    return synthetic_screenshot(width, height, seed)


def _truncated_png(tmp_path):
    from PIL import Image

    path = tmp_path / "cut.png"
    _screen(112, 84).save(path)
    path.write_bytes(path.read_bytes()[:200])
    return Image.open(path)  # the header reads; decoding fails


@pytest.mark.parametrize(
    ("case", "make", "reason"),
    [
        ("aspect 201:1", lambda tmp: _screen(201, 1), "aspect ratio"),
        ("aspect 1:300", lambda tmp: _screen(1, 300), "aspect ratio"),
        ("zero height", lambda tmp: __import__("PIL.Image").Image.new("RGB", (10, 0)), "zero size"),
        ("numpy array", lambda tmp: __import__("numpy").zeros((84, 112, 3), dtype="uint8"), "PIL.Image.Image"),
        ("mode La", lambda tmp: __import__("PIL.Image").Image.new("La", (112, 84)), "cannot be read as RGB"),
        ("truncated file", _truncated_png, "cannot be read as RGB"),
    ],
)
@pytest.mark.parametrize("mode", ["persistent", "reference"])
def test_add_rejects_a_screenshot_and_later_turns_go_on(vl_model, processor, tmp_path, mode, case, make, reason):
    from guikv.processor import ImageRejected

    session = MemorySession(vl_model, processor, "gui_kv", 0.5, mode=mode)
    clean = MemorySession(vl_model, processor, "gui_kv", 0.5, mode=mode)
    for s in (session, clean):
        s.add("user", [{"type": "image", "image": _screen(112, 84, 1)}, {"type": "text", "text": "first"}])
        s.generate(max_new_tokens=2)
    before = frozen(session)
    bad = [{"type": "text", "text": "look"}, {"type": "image", "image": make(tmp_path)}]
    with pytest.raises(ImageRejected, match=reason) as caught:
        session.add("user", bad)
    assert isinstance(caught.value, ValueError) and "screenshot 0 of this user turn was not added" in str(caught.value)
    assert_same(before, frozen(session))
    good = [{"type": "image", "image": _screen(84, 112, 2)}, {"type": "text", "text": "second"}]
    session.add("user", good)
    clean.add("user", good)
    _assert_same_answer(session, clean, vl_model)


@dataclass
class _StricterImageProcessor:
    """The real Qwen2-VL image processor plus a rule ``check_image`` does not know: it refuses 99-pixel-wide images.

    Stands in for whatever an image processor may reject that the session cannot foresee (another checkpoint's
    processor, a transformers release with new limits).
    """

    inner: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, images, **kwargs):
        for image in images:
            if image.size[0] == 99:
                raise ValueError("this image processor does not take 99-pixel-wide images")
        return self.inner(images=images, **kwargs)


@pytest.mark.parametrize("mode", ["persistent", "reference"])
def test_a_turn_only_the_processor_rejects_is_removed_and_the_session_goes_on(vl_model, processor, mode):
    from dataclasses import replace

    from guikv.session import RejectedTurnError

    strict = replace(processor, image_processor=_StricterImageProcessor(processor.image_processor))
    session = MemorySession(vl_model, strict, "gui_kv", 0.5, mode=mode)
    clean = MemorySession(vl_model, strict, "gui_kv", 0.5, mode=mode)
    for s in (session, clean):
        s.add("user", [{"type": "image", "image": _screen(112, 84, 1)}, {"type": "text", "text": "first"}])
        s.generate(max_new_tokens=2)
    before = frozen(session)
    bad = {"role": "user", "content": [{"type": "image", "image": _screen(99, 84)}, {"type": "text", "text": "look"}]}
    session.add(bad["role"], bad["content"])  # passes every check add() knows
    with pytest.raises(RejectedTurnError, match="99-pixel-wide") as caught:
        session.generate(max_new_tokens=2)
    assert caught.value.indices == (2,) and caught.value.turns[0]["content"] is bad["content"]
    assert "removed from the conversation" in str(caught.value)
    assert_same(before, frozen(session))  # the bad turn is gone, everything else as before the call
    good = [{"type": "image", "image": _screen(84, 112, 2)}, {"type": "text", "text": "second"}]
    session.add("user", good)
    clean.add("user", good)
    _assert_same_answer(session, clean, vl_model)


def test_a_processor_failure_on_no_particular_turn_keeps_the_turn_pending(vl_model, processor):
    """When no pending screenshot fails on its own (the batch failed for another reason), nothing is removed."""
    session = MemorySession(vl_model, processor, "gui_kv", 0.5)
    session.add("user", [{"type": "image", "image": _screen(112, 84)}, {"type": "text", "text": "first"}])
    before = frozen(session)
    calls = []

    def flaky(text, images=None, _encode=processor.encode):
        calls.append(len(images or []))
        if len(calls) == 1:
            raise ValueError("a transient failure of the batch")
        return _encode(text, images)

    session.processor = type(processor)(**vars(processor))
    session.processor.encode = flaky
    with pytest.raises(ValueError, match="transient"):
        session.generate(max_new_tokens=2)
    assert calls == [1, 1]  # the batch, then the turn alone (which succeeded)
    assert_same(before, frozen(session))
    session.generate(max_new_tokens=2)
    assert [m["role"] for m in session.messages] == ["user", "assistant"]


@pytest.mark.parametrize("size", [(1, 1), (28, 1), (1, 28), (300, 3), (3, 300), (200, 1)])
@pytest.mark.parametrize("mode", ["persistent", "reference"])
def test_tiny_and_thin_screenshots_are_read_as_their_true_shape(vl_model, processor, mode, size):
    """1x1, 28x1 and 300x3 used to fail or be read channels-first; each now gets the token grid of its true shape.

    The M-RoPE positions of a screenshot's tokens span its grid: rows along the height, columns along the width.
    """
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    width, height = size
    limits = processor.image_processor
    h, w = smart_resize(height, width, factor=28, min_pixels=limits.min_pixels, max_pixels=limits.max_pixels)
    session = MemorySession(vl_model, processor, "full", None, mode=mode)
    session.add("user", [{"type": "image", "image": _screen(width, height)}, {"type": "text", "text": "what is this?"}])
    session.generate(max_new_tokens=2)
    assert session.state().screenshot_sizes == {0: (h // 28) * (w // 28)}
    ledger = session.cache.ledger.layers[0]
    image_positions = ledger.positions[0, 0][ledger.frames[0, 0] == 0].long()  # (n, 3): time, row, column
    rows = image_positions[:, 1].max() - image_positions[:, 1].min() + 1
    columns = image_positions[:, 2].max() - image_positions[:, 2].min() + 1
    assert (int(rows), int(columns)) == (h // 28, w // 28)


def test_errors_are_exported():
    import guikv
    from guikv.processor import ImageRejected
    from guikv.session import RejectedTurnError, SessionError

    assert (guikv.ImageRejected, guikv.RejectedTurnError, guikv.SessionError) == (ImageRejected, RejectedTurnError, SessionError)
    assert issubclass(ImageRejected, ValueError) and issubclass(RejectedTurnError, ValueError)
