"""Which cached tokens and which characters of the fed text belong to which message (what ``forget`` needs).

A chunk fed to a persistent session is the rendering's new suffix. It is cut where the rendering of each message
prefix ends, so each piece is one message's text: the head of the chunk finishes the last fed message (a turn end the
reply did not write), then one piece per pending message, then the generation prompt (the start of the reply's
message). Each piece is tokenised alone and the pieces' ids must concatenate to the whole chunk's ids (true where
pieces meet at special tokens, as chat templates do), else the boundaries are unknown and ``None`` is returned: the
session then cannot forget messages (the server re-prefills instead). Image placeholders count as their expansion.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class MessageSpan:
    """One message inside a persistent cache."""

    tokens: tuple[int, int]  # [start, end) token indices in the uncompressed conversation (the ledger's ``tokens``)
    chars: tuple[int, int]  # [start, end) in the session's fed text
    count: int  # tokens of the message fed into the cache (decoded tokens cut by a stop string excluded)


def chunk_segments(
    processor: Any, messages: list[dict[str, Any]], fed_messages: int, fed_text: str, text: str, ids: torch.Tensor
) -> list[tuple[int, int]] | None:
    """(characters, tokens) of each piece of the chunk ``text[len(fed_text):]`` whose ids are ``ids`` (1, L).

    Pieces: [head finishing message ``fed_messages - 1``, each pending message, generation prompt]; None when a cut
    is not exact (see the module docstring).
    """
    image_token = getattr(processor, "image_token", None)
    tokenizer = getattr(processor, "tokenizer", None)
    if image_token is None or tokenizer is None:
        return None
    cuts = [len(fed_text)]
    for end in range(max(fed_messages, 1), len(messages) + 1):
        rendered = processor.render(messages[:end], add_generation_prompt=False)
        if not text.startswith(rendered) or len(rendered) < cuts[-1]:
            return None
        cuts.append(len(rendered))  # (end == fed_messages: where the head piece finishing that message ends)
    if fed_messages == 0:
        cuts.insert(1, 0)  # no fed message to finish: an empty head piece
    cuts.append(len(text))
    pieces = [text[a:b] for a, b in itertools.pairwise(cuts)]

    def tokenize(s: str) -> list[int]:
        return list(tokenizer(s, add_special_tokens=False)["input_ids"]) if s else []

    piece_ids = [tokenize(p) for p in pieces]
    if [t for p in piece_ids for t in p] != tokenize(text[len(fed_text) :]):
        return None
    pad_id = tokenizer.convert_tokens_to_ids(image_token)
    row = ids[0]
    edges = torch.diff((row == pad_id).int(), prepend=row.new_zeros(1, dtype=torch.int), append=row.new_zeros(1, dtype=torch.int))
    runs = ((edges == -1).nonzero().flatten() - (edges == 1).nonzero().flatten()).tolist()
    segments, image = [], 0
    for piece, p_ids in zip(pieces, piece_ids, strict=True):
        n_images = piece.count(image_token)
        if image + n_images > len(runs):
            return None
        segments.append((len(piece), len(p_ids) + sum(n - 1 for n in runs[image : image + n_images])))
        image += n_images
    if image != len(runs) or sum(n for _, n in segments) != row.numel():
        return None
    return segments
