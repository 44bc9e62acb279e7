"""One compressed KV cache for a whole agent task: each turn prefills only what is new on top of what was kept.

``mode="persistent"`` (ours): the chat-template text of the conversation is append-only, so each call feeds exactly
the new suffix (a new screenshot turn, a reply's end) into the same ``CompressedCache`` with explicit positions,
then the press prunes the whole cache back to its budget (GUI-KV's temporal term scores every earlier screenshot
still cached against the new one). With an absolute budget memory stays flat however long the task.

``mode="reference"`` (the GUI-KV paper's setting): every ``generate`` rebuilds the prompt from the conversation with
only the last ``max_screenshots`` screenshots, prefills it from scratch and compresses it once.

Positions (spec D.5): a chunk's position ids are the model's own rope index of the chunk plus ``next_pos`` (1 + the
largest position used so far); ``cache_position`` is the physical slot range (logical slots would let a chunk's
tokens see their own future once the cache is pruned). ``generate()`` of transformers infers both from the cache
length, which is wrong after pruning, hence the decode loop here.

Transactions: ``prefill()`` and ``generate()`` either complete or leave the session exactly as before the call, on any
exception (out of memory in layer 20 of a chunk's forward, a failure in the press, during decoding, Ctrl+C): every
layer's keys/values and ledger, the screenshot count, ``next_pos`` and the conversation are put back, so a retry
feeds the same chunk once. The pending turns stay pending, except a turn whose screenshot the image processor
cannot take: ``add()`` refuses it (``ImageRejected``), or, when only the processor finds out, the failing call
removes it and raises ``RejectedTurnError``; later turns are not blocked by it. The checkpoint is references
(``CacheSnapshot``), no tensor copies; holding them keeps the pre-call tensors alive until the call ends.

Serving (``guikv-agent serve``): ``generate`` streams text deltas to ``on_text`` (returning False cancels the turn,
rolled back like a failure), honours ``stop`` strings (the cache keeps the reply as returned) and samples at
``temperature`` > 0 (``top_p``, ``seed``); ``max_context`` refuses a chunk that would pass the context limit before
its forward (``ContextTooLongError``). The session records which cached tokens belong to which message, so
``forget(indices)`` can drop turns a client's sliding window left behind (``guikv.session_memory``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, TypeVar

import torch
from torch import nn

from guikv.append_only import append_only_problem
from guikv.cache import CacheSnapshot, CompressedCache
from guikv.cancellation import cancel_points
from guikv.decode_loop import DecodeLoop
from guikv.decoding import Sampling, check_stops
from guikv.message_spans import MessageSpan, chunk_segments
from guikv.models.registry import spec_of
from guikv.presses.base import Press
from guikv.presses.registry import make_press
from guikv.processor import ImageRejected, check_image_input
from guikv.session_errors import ContextTooLongError, SessionError
from guikv.session_memory import MessageMemory

Mode = Literal["persistent", "reference"]
T = TypeVar("T")


class RejectedTurnError(ValueError):
    """The image processor failed on a pending turn's screenshot; that turn was removed from the conversation.

    ``turns``: the removed messages (role + content), in order; ``indices``: where they were in ``messages``.
    """

    def __init__(self, indices: tuple[int, ...], turns: tuple[dict[str, Any], ...], reasons: tuple[str, ...]) -> None:
        self.indices, self.turns = indices, turns
        listed = "; ".join(f"turn {i} ({t['role']}): {r}" for i, t, r in zip(indices, turns, reasons, strict=True))
        super().__init__(
            f"the image processor cannot take the screenshot of {len(indices)} pending turn(s), removed from the "
            f"conversation (the session goes on without them): {listed}"
        )


@dataclass(frozen=True)
class _Checkpoint:
    """The session's state before a call (references and scalars; see ``CacheSnapshot``)."""

    cache: CompressedCache | None
    cache_state: CacheSnapshot | None
    messages: tuple[dict[str, Any], ...]
    next_pos: int
    fed_text: str
    fed_messages: int
    last_chunk_len: int
    last_compress_seconds: float
    spans: tuple[MessageSpan, ...] | None


@dataclass(frozen=True)
class Reply:
    text: str
    token_ids: tuple[int, ...]
    prefill_tokens: int
    prefill_seconds: float
    decode_seconds: float
    stopped_by_eos: bool
    compress_seconds: float = 0.0  # part of prefill_seconds spent scoring and pruning the cache
    finish_reason: str = "length"  # "stop": a stop token or stop string ended it; "length": max_new_tokens did


@dataclass(frozen=True)
class SessionState:
    tokens_per_layer: list[int]
    bytes: int
    logical_tokens: int  # tokens ever fed (what the cache has seen)
    screenshots: dict[int, float]  # screenshot index -> tokens still cached (mean over layers and heads)
    screenshot_sizes: dict[int, int]  # screenshot index -> tokens it had when prefilled
    live_tokens: int = 0  # of logical_tokens, those of messages not forgotten: what a fraction budget applies to

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["screenshots"] = {str(k): round(v, 2) for k, v in self.screenshots.items()}
        data["screenshot_sizes"] = {str(k): v for k, v in self.screenshot_sizes.items()}
        return data


class MemorySession(MessageMemory, DecodeLoop):
    """A conversation with a vision-language model whose KV cache is compressed by ``method`` at ``budget``.

    ``add(role, content)`` appends a turn (content: a str or a list of {"type": "image", "image": PIL} /
    {"type": "text", "text": str}); ``generate()`` replies greedily and appends the reply; ``state()`` reports the
    cache; ``prefill()`` feeds pending turns without replying.
    """

    def __init__(
        self,
        model: nn.Module,
        processor: Any,
        method: str | Press = "gui_kv",
        budget: float | int | None = 0.1,
        *,
        mode: Mode = "persistent",
        max_screenshots: int = 5,
        method_kwargs: dict[str, Any] | None = None,
        max_context: int | None = None,
    ) -> None:
        if mode not in ("persistent", "reference"):
            raise ValueError(f"mode must be 'persistent' or 'reference', got {mode!r}")
        if max_screenshots < 1:
            raise ValueError(f"max_screenshots must be >= 1, got {max_screenshots}")
        options = dict(method_kwargs or {})
        if budget is not None and not isinstance(method, Press):
            options.setdefault("budget", budget)
        self.press = make_press(method, **options)
        if not self.press.budget.is_fraction and self.press.name != "full" and self.press.budget.value <= self.press.window_size:
            raise ValueError(
                f"budget of {self.press.budget.value} tokens is not larger than the window of {self.press.window_size} "
                "tokens that is always kept; raise the budget or lower window_size"
            )
        self.model = model
        self.processor = processor
        self.mode = mode
        self.max_screenshots = max_screenshots
        self.spec = spec_of(model)  # the model's family: RoPE scheme, turn-end and stop tokens
        self.rope = self.spec.rope
        self.messages: list[dict[str, Any]] = []
        self.cache: CompressedCache | None = None
        self.next_pos = 0
        self._fed_text = ""  # rendered conversation text already inside the cache (persistent mode)
        self._fed_messages = 0  # messages already encoded (persistent: inside the cache; reference: last prompt's)
        self._closed = False
        self._last_chunk_len = 0
        self._last_compress_seconds = 0.0
        self._spans: list[MessageSpan] | None = [] if mode == "persistent" else None  # one per fed message
        self._reply_start: tuple[int, int] | None = None  # (token, char) where the reply's message begins
        self._reserve = 0  # positions a chunk must leave free for the reply
        self._cancelled: Callable[[], bool] | None = None  # during generate: asked at every layer and token
        limit = getattr(model.config.get_text_config(), "max_position_embeddings", None) or 2**31
        if max_context is not None and max_context < 1:
            raise ValueError(f"max_context must be a positive number of positions, got {max_context}")
        self.context_limit = int(min(limit, max_context or limit))
        tokenizer = processor.tokenizer
        unk = tokenizer.unk_token_id
        eos = {tokenizer.convert_tokens_to_ids(t) for t in self.spec.stop_tokens}
        config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos.update(config_eos if isinstance(config_eos, list) else [config_eos])
        self.eos_ids = {int(e) for e in eos if e is not None and e != unk}
        self.turn_end_id = tokenizer.convert_tokens_to_ids(self.spec.turn_end)
        if self.turn_end_id is None or self.turn_end_id == unk:
            raise ValueError(f"the tokenizer has no {self.spec.turn_end!r} token, which ends a {self.spec.name} chat turn")
        self.vision_ids = self.spec.image_tokens.ids(model.config, tokenizer) if self.spec.image_tokens else None

    # -- conversation --------------------------------------------------------------------------------------------
    def add(self, role: str, content: str | list[dict[str, Any]]) -> None:
        self._check_open()
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"role must be 'system', 'user' or 'assistant', got {role!r}")
        if role == "assistant" and self.mode == "persistent" and not any(m["role"] == "user" for m in self.messages):
            # (a re-prefilled reference prompt may open with history text whose screenshots left its window)
            raise SessionError("an assistant turn needs a user turn before it")
        if role == "system" and self.messages:
            raise SessionError("a system turn can only come first")
        if isinstance(content, list):
            images = [item["image"] for item in content if isinstance(item, dict) and item.get("image") is not None]
            check = getattr(self.processor, "check_image", check_image_input)
            for index, image in enumerate(images):
                try:
                    check(image)
                except ImageRejected as error:
                    raise ImageRejected(f"screenshot {index} of this {role} turn was not added: {error}") from error
        self.messages.append({"role": role, "content": content})

    @torch.no_grad()
    def prefill(self) -> torch.Tensor:
        """Feed the turns not yet in the cache (persistent mode); returns the next-token logits (V,)."""
        self._check_open()
        if self.mode != "persistent":
            raise SessionError("prefill() feeds a persistent cache; reference mode prefills inside generate()")
        return self._atomically(lambda: self._feed(add_generation_prompt=False)[0])

    @torch.no_grad()
    def generate(
        self,
        max_new_tokens: int = 256,
        *,
        ignore_eos: bool = False,
        stop: str | list[str] | tuple[str, ...] | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        on_text: Callable[[str], object] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Reply:
        """Reply to the conversation so far (greedy at ``temperature`` 0); appended to it as the assistant turn.

        ``ignore_eos`` decodes exactly ``max_new_tokens`` tokens (benchmarks time fixed-length replies). ``stop``: up
        to 4 strings; the reply ends before the first one (the cache then holds the reply as returned, plus the
        turn end). ``on_text(delta)`` streams the reply: the deltas concatenate to ``Reply.text``; returning False
        cancels the turn (``GenerationCancelled``), which is rolled back like any failure. ``cancelled()`` is asked
        before every decoder layer of the prefill and before every decoded token; True cancels the same way
        (``guikv.cancellation``: a client gone during a long prefill stops it within a layer).
        """
        self._check_open()
        if not self.messages or self.messages[-1]["role"] != "user":
            raise SessionError("generate() needs the conversation to end with a user turn")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        sampling = Sampling(temperature, top_p, seed)
        stops = check_stops(stop)
        self._cancelled = cancelled
        try:
            return self._atomically(lambda: self._generate(max_new_tokens, ignore_eos, sampling, stops, on_text))
        finally:
            self._cancelled = None

    def drop_pending(self) -> int:
        """Remove the turns added but not yet fed (a caller giving up on a turn); returns how many."""
        pending = len(self.messages) - self._fed_messages
        del self.messages[self._fed_messages :]
        return pending

    def state(self) -> SessionState:
        cache = self.cache
        if cache is None:
            return SessionState([], 0, 0, {}, {})
        return SessionState(
            tokens_per_layer=cache.layer_lengths(),
            bytes=cache.nbytes(),
            logical_tokens=cache.ledger.logical_length,
            screenshots=cache.surviving_frame_tokens(),
            screenshot_sizes=dict(cache.ledger.frame_sizes),
            live_tokens=cache.ledger.live_length,
        )

    def close(self) -> None:
        self.cache = None
        self._closed = True

    def __enter__(self) -> MemorySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise SessionError("this session was closed; start a new MemorySession")

    def _checkpoint(self) -> _Checkpoint:
        cache = self.cache
        return _Checkpoint(
            cache=cache,
            cache_state=cache.snapshot() if cache is not None else None,
            messages=tuple(self.messages),
            next_pos=self.next_pos,
            fed_text=self._fed_text,
            fed_messages=self._fed_messages,
            last_chunk_len=self._last_chunk_len,
            last_compress_seconds=self._last_compress_seconds,
            spans=tuple(self._spans) if self._spans is not None else None,
        )

    def _restore(self, checkpoint: _Checkpoint) -> None:
        self.cache = checkpoint.cache
        if checkpoint.cache is not None and checkpoint.cache_state is not None:
            checkpoint.cache.restore(checkpoint.cache_state)
        self.messages[:] = checkpoint.messages
        self.next_pos = checkpoint.next_pos
        self._fed_text = checkpoint.fed_text
        self._fed_messages = checkpoint.fed_messages
        self._last_chunk_len = checkpoint.last_chunk_len
        self._last_compress_seconds = checkpoint.last_compress_seconds
        self._spans = list(checkpoint.spans) if checkpoint.spans is not None else None

    def _atomically(self, work: Callable[[], T]) -> T:
        """``work()``, or on any exception the session as before it (minus a turn the processor rejected), re-raised."""
        checkpoint = self._checkpoint()
        try:
            return work()
        except RejectedTurnError as error:
            self._restore(checkpoint)
            for index in sorted(error.indices, reverse=True):
                del self.messages[index]
            raise
        except BaseException:
            self._restore(checkpoint)
            raise

    def _encode(self, text: str, images: list) -> dict[str, torch.Tensor]:
        """``processor.encode``; when it fails on a screenshot of a pending turn, ``RejectedTurnError`` naming it."""
        try:
            return self.processor.encode(text, images)
        except MemoryError:
            raise  # out of memory says nothing about the turn: keep it pending for a retry
        except Exception as error:
            rejected = self._unprocessable_pending_turns()
            if not rejected:
                raise
            indices, reasons = zip(*rejected, strict=True)
            raise RejectedTurnError(indices, tuple(self.messages[i] for i in indices), reasons) from error

    def _unprocessable_pending_turns(self) -> list[tuple[int, str]]:
        """(index, reason) of each pending turn with a screenshot the processor fails on when it is encoded alone."""
        found = []
        for index in range(self._fed_messages, len(self.messages)):
            message = self.messages[index]
            images = _images([message])
            if not images:
                continue
            try:
                self.processor.encode(self.processor.render([message], add_generation_prompt=False), images)
            except MemoryError:
                continue
            except Exception as error:
                found.append((index, f"{type(error).__name__}: {error}"))
        return found

    def _generate(
        self, max_new_tokens: int, ignore_eos: bool, sampling: Sampling, stops: tuple[str, ...],
        on_text: Callable[[str], object] | None,
    ) -> Reply:
        started = time.perf_counter()
        self._reserve = max_new_tokens
        try:
            if self.mode == "persistent":
                logits, n_prefill = self._feed(add_generation_prompt=True)
            else:
                logits, n_prefill = self._prefill_reference()
        finally:
            self._reserve = 0
        prefill_seconds = time.perf_counter() - started
        started = time.perf_counter()
        tokens, stopped, text, fed = self._decode(logits, max_new_tokens, ignore_eos, sampling, stops, on_text)
        decode_seconds = time.perf_counter() - started
        self.messages.append({"role": "assistant", "content": text})
        if self.mode == "persistent":
            self._fed_text += text + (self.spec.turn_end if stopped else "")
            if self._spans is not None and self._reply_start is not None:
                token0, char0, count0 = self._reply_start
                self._spans.append(MessageSpan((token0, self.cache.ledger.logical_length), (char0, len(self._fed_text)),
                                               count0 + fed))
            self._reply_start = None
        self._fed_messages = len(self.messages)
        return Reply(text, tuple(tokens), n_prefill, prefill_seconds, decode_seconds, stopped, self._last_compress_seconds,
                     "stop" if stopped else "length")

    def _feed(self, add_generation_prompt: bool) -> tuple[torch.Tensor, int]:
        text = self.processor.render(self.messages, add_generation_prompt=add_generation_prompt)
        if not text.startswith(self._fed_text):
            raise SessionError(
                "the chat template did not render the conversation append-only (the text already cached is not a "
                "prefix of the new rendering); a persistent session needs an append-only layout"
            )
        chunk_text = text[len(self._fed_text) :]
        images = _images(self.messages[self._fed_messages :])
        if not chunk_text:
            raise SessionError("nothing new to feed")
        if self.cache is None:
            self._check_append_only()
        encoded = self._encode(chunk_text, images)
        if self.cache is None:
            self.cache = CompressedCache(config=self.model.config)
        segments = None
        if self.can_forget:
            segments = chunk_segments(self.processor, self.messages, self._fed_messages, self._fed_text, text,
                                      encoded["input_ids"])
        token0, char0 = self.cache.ledger.logical_length, len(self._fed_text)
        logits = self._forward_chunk(encoded)
        if segments is None:
            self._spans = None
        else:
            self._record_spans(segments, token0, char0)
        self._fed_text = text
        self._fed_messages = len(self.messages)
        return logits, self._last_chunk_len

    def _check_append_only(self) -> None:
        system = [m for m in self.messages[:1] if m["role"] == "system"]
        problem = append_only_problem(self.processor.render, self.spec.turn_end, system)
        if problem is not None:
            raise SessionError(
                f"the {self.spec.name} chat template is not append-only: {problem}. A persistent session cannot reuse "
                "its cache across turns with it; use mode='reference' (re-prefills each turn)"
            )

    def _prefill_reference(self) -> tuple[torch.Tensor, int]:
        messages = _keep_last_screenshots(self.messages, self.max_screenshots)
        text = self.processor.render(messages, add_generation_prompt=True)
        encoded = self._encode(text, _images(messages))
        self.cache = CompressedCache(config=self.model.config)
        self.next_pos = 0
        logits = self._forward_chunk(encoded)
        return logits, self._last_chunk_len

    def _forward_chunk(self, encoded: dict[str, torch.Tensor]) -> torch.Tensor:
        device = self.model.device
        ids = encoded["input_ids"].to(device)
        grid = encoded.get("image_grid_thw")
        if "pixel_values" not in encoded and self.spec.pixels is not None and self.vision_ids is not None:
            # A chunk's image pads get their features (and Qwen3-VL's DeepStack additions) only from that chunk's
            # pixels; without them the model would attend to placeholder embeddings as if they were the screenshot.
            n_pads = int((ids == self.vision_ids.image_pad).sum())
            if n_pads:
                raise SessionError(
                    f"a chunk holds {n_pads} image pad token(s) but no pixels for them; every screenshot's pads and "
                    "pixels must be encoded together (is the processor's image token the model's?)"
                )
        positions = self.rope.chunk_positions(self.model, ids, grid.to(device) if grid is not None else None, self.next_pos)
        needed = int(positions.max()) + 1 + self._reserve
        if needed > self.context_limit:
            raise ContextTooLongError(
                f"the conversation needs {needed} positions ({int(positions.max()) + 1} for the prompt, {self._reserve} "
                f"reserved for the reply), over the context limit of {self.context_limit}"
            )
        start = self.cache.get_seq_length()
        kwargs: dict[str, Any] = {}
        if "pixel_values" in encoded:
            kwargs["pixel_values"] = encoded["pixel_values"].to(device, self.model.dtype)
            kwargs["image_grid_thw"] = grid.to(device)
        with self.press(self.model) as compressor, cancel_points(self.model, self.rope, self._cancelled):
            out = self.model(
                input_ids=ids,
                position_ids=positions,
                cache_position=torch.arange(start, start + ids.shape[1], device=device),
                past_key_values=self.cache,
                use_cache=True,
                logits_to_keep=1,
                **kwargs,
            )
        self.next_pos = int(positions.max()) + 1
        self._last_chunk_len = ids.shape[1]
        self._last_compress_seconds = compressor.seconds
        return out.logits[0, -1]

def _images(messages: list[dict[str, Any]]) -> list:
    return [
        item["image"]
        for m in messages
        if isinstance(m["content"], list)
        for item in m["content"]
        if isinstance(item, dict) and item.get("image") is not None
    ]


def _keep_last_screenshots(messages: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The conversation with only the newest ``n`` screenshots (older image items dropped, their text kept)."""
    total = len(_images(messages))
    drop = max(0, total - n)
    kept: list[dict[str, Any]] = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list) and drop:
            new_content = []
            for item in content:
                if isinstance(item, dict) and item.get("image") is not None and drop:
                    drop -= 1
                    continue
                new_content.append(item)
            content = new_content
        kept.append({"role": m["role"], "content": content})
    return kept
