"""Cancelling a turn part-way through its prefill: a server whose client went away should not spend seconds (on a
CPU, a new session's five screenshots) prefilling for nobody.

``cancel_points(model, rope, cancelled)`` asks ``cancelled()`` before every decoder layer runs and raises
``GenerationCancelled`` once it says True; the session's transaction then rolls the cache back, as for any failure
inside a forward (layer k of n done or not). The decode loop asks the same question before every token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn

from guikv.decoding import GenerationCancelled
from guikv.rope import RopeScheme


def check_cancelled(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise GenerationCancelled("the turn was cancelled")


@contextmanager
def cancel_points(model: nn.Module, rope: RopeScheme, cancelled: Callable[[], bool] | None) -> Iterator[None]:
    """While open, every decoder layer of ``model`` first calls ``check_cancelled(cancelled)``; nothing if None."""
    if cancelled is None:
        yield
        return

    def check(module: nn.Module, args: tuple) -> None:
        check_cancelled(cancelled)

    handles = [layer.register_forward_pre_hook(check) for layer in rope.decoder_layers(model)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
