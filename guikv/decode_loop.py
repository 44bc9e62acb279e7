"""The decode loop of ``MemorySession``: one token at a time with explicit positions (``transformers.generate``
infers them from the cache length, wrong once it is pruned), stop tokens and strings, streaming, sampling.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from guikv.cancellation import check_cancelled
from guikv.decoding import Sampling, TextStream
from guikv.forget import drop_recent


class DecodeLoop:
    """Mixed into ``MemorySession``; uses its ``model``, ``cache``, ``press``, ``rope``, ``next_pos``, ``eos_ids``,
    ``_cancelled``."""

    def _decode(
        self, logits: torch.Tensor, max_new_tokens: int, ignore_eos: bool = False, sampling: Sampling = Sampling(),
        stops: tuple[str, ...] = (), on_text: Callable[[str], object] | None = None,
    ) -> tuple[list[int], bool, str, int]:
        """(reply tokens, stopped, reply text, tokens fed into the cache) of one decode."""
        tokens: list[int] = []
        device = self.model.device
        stream = TextStream(self._decode_text, stops, on_text)
        generator = sampling.generator()
        stopped, stop_at, fed = False, None, 0
        with self.press(self.model):
            for _ in range(max_new_tokens):
                check_cancelled(self._cancelled)
                token = sampling.pick(logits, generator)
                stop = token in self.eos_ids and not ignore_eos
                # Every token goes into the cache so the next turn's text continues the template; a stop token goes
                # in as the template's turn end (what a rendering of the conversation holds after the reply).
                slot = self.cache.get_seq_length()
                out = self.model(
                    input_ids=torch.tensor([[self.turn_end_id if stop else token]], device=device),
                    position_ids=self.rope.decode_positions(self.next_pos, device),
                    cache_position=torch.tensor([slot], device=device),
                    past_key_values=self.cache,
                    use_cache=True,
                )
                self.next_pos += 1
                fed += 1
                if stop:
                    stopped = True
                    break
                tokens.append(token)
                if stops or on_text is not None:
                    stop_at = stream.push(tokens)
                    if stop_at is not None:
                        stopped = True
                        break
                logits = out.logits[0, -1]
        if stop_at is not None:
            text = stream.text[:stop_at]
            tokens, fed = self._cut_reply(tokens, text)
        else:
            text = self._decode_text(tokens)
        stream.finish(text)
        return tokens, stopped, text, fed

    def _decode_text(self, tokens: list[int]) -> str:
        return self.processor.tokenizer.decode(tokens, skip_special_tokens=True)

    def _cut_reply(self, tokens: list[int], text: str) -> tuple[list[int], int]:
        """Cut the cache back to the reply ``text`` (ended by a stop string) plus the turn end; (kept tokens, tokens fed).

        The decoded tokens whose text passes ``text`` leave the newest slots (decoding never prunes, so they are the
        last slot of every layer and head); the characters of ``text`` they held and the turn end are fed as a chunk.
        """
        keep = len(tokens)
        while keep and not text.startswith(self._decode_text(tokens[:keep])):
            keep -= 1
        drop_recent(self.cache, len(tokens) - keep)
        self.next_pos -= len(tokens) - keep
        tail = self.processor.encode(text[len(self._decode_text(tokens[:keep])) :] + self.spec.turn_end, [])
        self._forward_chunk(tail)
        return tokens[:keep], keep + int(tail["input_ids"].shape[1])
