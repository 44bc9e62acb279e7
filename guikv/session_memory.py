"""The part of ``MemorySession`` that knows which cached tokens belong to which message, and forgets messages.

Boundaries are recorded as chunks are fed (``guikv.message_spans``); ``forget`` drops whole messages' slots from every
layer (``guikv.forget`` says how heads holding unequal numbers of them stay rectangular) and checks that the
template renders the remaining messages as the cached text with the dropped pieces cut out.
"""

from __future__ import annotations

import torch

from guikv.forget import drop_tokens
from guikv.message_spans import MessageSpan
from guikv.session_errors import SessionError


class MessageMemory:
    """Mixed into ``MemorySession``; uses its ``_spans``, ``_fed_text``, ``_fed_messages``, ``messages``, ``cache``."""

    @property
    def conversation_tokens(self) -> int:
        """Tokens of the fed conversation as it is now (forgotten messages excluded), before compression."""
        if self._spans is None:
            return self.cache.ledger.logical_length if self.cache is not None else 0
        return sum(span.count for span in self._spans)

    @property
    def can_forget(self) -> bool:
        """Whether message boundaries inside the cache are known (persistent mode, exact segmentation so far)."""
        return self.mode == "persistent" and self._spans is not None and len(self._spans) == self._fed_messages

    def forget(self, indices: list[int] | tuple[int, ...]) -> int:
        """Drop the fed messages ``indices`` from the conversation and their slots from every layer of the cache.

        How heads that hold unequal numbers of those slots stay rectangular: ``guikv.forget``. The first message
        cannot be dropped (it carries the template's system prompt). The fed text becomes the rendering of the
        remaining messages, checked to equal the old text with the dropped messages' pieces cut out, else
        ``SessionError`` and nothing changes. Returns the slots dropped per head of layer 0.
        """
        self._check_open()
        drop = sorted(set(indices))
        if not self.can_forget:
            raise SessionError("this session does not know its message boundaries (reference mode or inexact segmentation)")
        if not drop:
            return 0
        if drop[0] < 1 or drop[-1] >= self._fed_messages:
            raise ValueError(f"can forget fed messages 1..{self._fed_messages - 1}, got {drop}")
        return self._atomically(lambda: self._forget(drop))

    def _record_spans(self, segments: list[tuple[int, int]], token: int, char: int) -> None:
        """Extend the last fed message by the chunk's head piece, add each pending message, note the reply's start."""
        (head_chars, head_tokens), *pieces, (gen_chars, gen_tokens) = segments
        spans = self._spans
        if spans:
            last = spans[-1]
            spans[-1] = MessageSpan((last.tokens[0], last.tokens[1] + head_tokens), (last.chars[0], last.chars[1] + head_chars),
                                    last.count + head_tokens)
        token, char = token + head_tokens, char + head_chars
        for n_chars, n_tokens in pieces:
            spans.append(MessageSpan((token, token + n_tokens), (char, char + n_chars), n_tokens))
            token, char = token + n_tokens, char + n_chars
        self._reply_start = (token, char, gen_tokens) if gen_chars else None

    def _forget(self, drop: list[int]) -> int:
        spans, dropped = self._spans, set(drop)
        kept_fed = [i for i in range(self._fed_messages) if i not in dropped]
        new_text = "".join(self._fed_text[spans[i].chars[0] : spans[i].chars[1]] for i in kept_fed)
        new_messages = [m for i, m in enumerate(self.messages) if i not in dropped]
        old_rendering = self.processor.render(self.messages[: self._fed_messages], add_generation_prompt=False)
        rendering = self.processor.render(new_messages[: len(kept_fed)], add_generation_prompt=False)
        contiguous = spans[0].chars[0] == 0 and spans[-1].chars[1] == len(self._fed_text)
        if not contiguous or rendering != new_text + old_rendering[len(self._fed_text) :]:
            raise SessionError(
                "the chat template does not render the remaining messages as the cached text with the forgotten "
                "messages cut out; re-prefill the conversation instead"
            )
        table = torch.zeros(self.cache.ledger.logical_length, dtype=torch.bool)
        for i in drop:
            table[spans[i].tokens[0] : spans[i].tokens[1]] = True
        first_user = next((i for i in kept_fed if self.messages[i]["role"] == "user"), 0)
        removed = drop_tokens(self.cache, table, protected=spans[first_user].tokens[1])
        new_spans, char = [], 0
        for i in kept_fed:
            span = spans[i]
            width = span.chars[1] - span.chars[0]
            new_spans.append(MessageSpan(span.tokens, (char, char + width), span.count))
            char += width
        self.messages[:] = new_messages
        self._fed_text, self._fed_messages, self._spans = new_text, len(kept_fed), new_spans
        return removed
