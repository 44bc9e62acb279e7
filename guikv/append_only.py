"""Whether a chat template renders a conversation append-only, the property a persistent session relies on.

A persistent session caches the rendered text of the conversation and later feeds only what a new rendering adds. That
is exact only if (1) rendering more turns never changes the text of earlier ones, and (2) what the session cached after
a reply (the generation prompt, the reply, the turn-end token) is what the template renders for that reply later.
Thinking templates break both: earlier replies lose their ``<think>`` block, and the generation prompt opens a
``<think>`` the history never shows. The probe (research-10.md F.2) renders a 1-turn and a 2-turn conversation whose
reply carries a reasoning block and checks both prefixes, without knowing any template's text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

PROBE_REPLY = "<think>\nThe search box is at the top.\n</think>\n\nAction: click(point='<point>10 20</point>')"
_FIRST = {"role": "user", "content": "Task: open the settings."}
_SECOND = {"role": "user", "content": "Next step."}

Render = Callable[..., str]  # (messages, *, add_generation_prompt) -> text


def append_only_problem(render: Render, turn_end: str, system: Sequence[dict[str, Any]] = ()) -> str | None:
    """``None`` when ``render`` (a processor's ``render``) is append-only, else what breaks, for an error message.

    ``system``: the conversation's system turn, if any (templates may render differently with one).
    """
    base = [*system, _FIRST]
    prompt = render(base, add_generation_prompt=True)
    replied = render([*base, {"role": "assistant", "content": PROBE_REPLY}], add_generation_prompt=False)
    two_turns = render([*base, {"role": "assistant", "content": PROBE_REPLY}, _SECOND], add_generation_prompt=False)
    if not two_turns.startswith(replied):
        return "rendering a later user turn changes the text of the earlier turns"
    cached = prompt + PROBE_REPLY + turn_end
    if not two_turns.startswith(cached):
        shown = _difference(two_turns, cached)
        return (f"a reply is rendered differently in the history than it was generated (generation prompt + reply + "
                f"{turn_end!r} is not a prefix of the next rendering: {shown}); thinking templates strip <think> from "
                "earlier replies")
    return None


def _difference(text: str, prefix: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(text, prefix, strict=False)) if a != b), min(len(text), len(prefix)))
    return f"rendered {text[at:at + 30]!r} where the cache holds {prefix[at:at + 30]!r}"
