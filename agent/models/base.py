"""What every model adapter provides: the prompt prefix, one user turn per screenshot, and text -> typed actions.

The agent keeps one append-only conversation per episode (its KV memory is persistent and only ever grows or gets
compressed, never re-rendered)::

    system_and_task_messages(task)                     # before the first screenshot
    observation_message(screenshot_0, 0)               # then, per step k:
    assistant_message(raw_response_0, 0)               #   the model's full response, exactly as generated
    observation_message(screenshot_1, 1)
    ...

Messages use the Qwen2.5-VL content format: ``{"role": ..., "content": str}`` or ``content`` a list of
``{"type": "image", "image": PIL.Image}`` / ``{"type": "text", "text": str}`` items.

A model's answer is hostile input. ``ModelAdapter.interpret`` (what the loop calls) turns ANY string into either a
``ParsedOutput`` whose actions pass ``check_actions`` (points on the screenshot, counts under their caps, finite
waits, valid Unicode text) or a ``ModelOutputError``; it never lets another exception out of a parser that was fed
nonsense (deep nesting makes ``ast.parse`` raise ``MemoryError`` or ``RecursionError``).

Caps, applied when an answer is parsed (documented in docs/agent.md):

* ``MAX_SCROLL_AMOUNT`` notches per scroll action: a larger count is clamped to it (``scroll(clicks=10**9)`` means
  "far"; 100 notches is several screens);
* ``MAX_REPEAT`` repetitions of a key press (``pyautogui.press(..., presses=N)``): more is a model error;
* ``MAX_WAIT_SECONDS`` per wait: a longer wait is clamped to it (environments cap it further);
* ``MAX_HOTKEY_KEYS`` keys pressed together, ``MAX_ACTIONS`` actions in one answer: more is a model error;
* coordinates: finite and at most ``agent.coords.MAX_COORDINATE`` in magnitude, then clamped onto the screenshot.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

from PIL import Image

from agent.coords import IMAGE_FACTOR, Convention, CoordinateMap, PixelLimits, finite_number, short
from agent.errors import ModelOutputError, ModelValueError
from environments.actions import Action, Hotkey, Scroll, Wait
from environments.keys import canonical_key

Message = dict[str, Any]

MAX_SCROLL_AMOUNT = 100
MAX_REPEAT = 100
MAX_WAIT_SECONDS = 60.0
MAX_HOTKEY_KEYS = 8
MAX_ACTIONS = 200


@dataclass(frozen=True)
class ParsedOutput:
    """One model response turned into actions.

    ``actions`` are in the order the model wrote them, points already in screenshot pixels. ``thought`` is the
    model's reasoning (UI-TARS ``Thought:``/``Action_Summary:``, else its ``<think>`` block; OpenCUA ``## Thought:``;
    Qwen3-VL the text before its tool calls); ``reflection`` is UI-TARS's ``Reflection:`` when present;
    ``action_summary`` is OpenCUA's one-sentence ``## Action:`` (Qwen3-VL's ``Action:``); ``raw`` is the untouched
    text.
    """

    thought: str
    reflection: str | None
    actions: tuple[Action, ...]
    raw: str
    action_summary: str | None = None


class ModelAdapter(ABC):
    """Prompting, history layout, output parsing and coordinate mapping of one model family.

    Subclasses are frozen dataclasses whose fields are the options (prompt variant, coordinate convention, pixel
    limits, ``max_new_tokens``); they hold no per-episode state.
    """

    name: ClassVar[str]
    image_factor: ClassVar[int] = IMAGE_FACTOR  # the processor's patch size x merge size (Qwen3-VL: 16 x 2)
    max_new_tokens: int
    min_pixels: int
    max_pixels: int

    def check_common_options(self) -> None:
        """Validate the options every adapter has (called from the subclasses' ``__post_init__``)."""
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {self.max_new_tokens}")
        PixelLimits(self.min_pixels, self.max_pixels, self.image_factor)

    @property
    def model_pixel_limits(self) -> PixelLimits:
        """Min/max pixels the image processor must use; coordinates are mapped with the same limits."""
        return PixelLimits(self.min_pixels, self.max_pixels, self.image_factor)

    @property
    @abstractmethod
    def coordinate_convention(self) -> Convention:
        """How the model writes points (see ``agent.coords.Convention``)."""

    @abstractmethod
    def system_and_task_messages(self, task: str) -> list[Message]:
        """The conversation before the first screenshot: system prompt and the task instruction."""

    @abstractmethod
    def observation_message(self, screenshot: Image.Image, step: int) -> Message:
        """The user turn that carries the screenshot of step ``step`` (0-based)."""

    @abstractmethod
    def parse(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        """Actions in pixels of a ``(width, height)`` screenshot; raises ``ModelOutputError`` on unusable text."""

    def interpret(self, text: str, screenshot_size: tuple[int, int]) -> ParsedOutput:
        """``parse`` plus the checks every answer must pass; raises ``ModelOutputError`` and nothing else for any
        text (the loop records it and asks again). Actions come back checked by ``check_actions``."""
        try:
            parsed = self.parse(text, screenshot_size)
            actions = check_actions(parsed.actions, screenshot_size)
        except ModelValueError as exc:
            raise ModelOutputError(text, str(exc)) from None
        except (RecursionError, MemoryError):
            raise ModelOutputError(text, "the answer is nested too deeply to read") from None
        if not actions:
            raise ModelOutputError(text, "the answer holds no action")
        return replace(parsed, actions=actions)

    def assistant_message(self, text: str, step: int) -> Message:
        """The assistant turn recording a response: the full raw text, so the cache of the generated tokens stays
        valid (rendering it reproduces exactly the tokens the model generated after the generation prompt)."""
        if not isinstance(text, str):
            raise TypeError(f"an assistant response must be a str, got {type(text).__name__}")
        return {"role": "assistant", "content": text}

    def coordinate_map(self, screenshot_size: tuple[int, int]) -> CoordinateMap:
        """Model space <-> pixels of a ``(width, height)`` screenshot, under this adapter's limits and convention."""
        return CoordinateMap.for_screenshot(screenshot_size, self.model_pixel_limits, self.coordinate_convention)

    def conversation(self, task: str, screenshots: Sequence[Image.Image], responses: Sequence[str]) -> list[Message]:
        """The whole append-only conversation: prefix, then per step its screenshot and (if answered) its response.

        ``len(responses)`` is ``len(screenshots)`` (every step answered) or one less (the last step awaits its answer).
        """
        if len(responses) not in (len(screenshots), len(screenshots) - 1):
            raise ValueError(
                f"{len(screenshots)} screenshot(s) need {len(screenshots)} or {len(screenshots) - 1} response(s), "
                f"got {len(responses)}"
            )
        messages = self.system_and_task_messages(task)
        for step, screenshot in enumerate(screenshots):
            messages.append(self.observation_message(screenshot, step))
            if step < len(responses):
                messages.append(self.assistant_message(responses[step], step))
        return messages


def image_item(screenshot: Image.Image) -> dict[str, Any]:
    """The content item of a screenshot; rejects anything but a non-empty PIL image (a caller bug)."""
    if not isinstance(screenshot, Image.Image):
        raise TypeError(f"a screenshot must be a PIL.Image.Image, got {type(screenshot).__name__}")
    if screenshot.width == 0 or screenshot.height == 0:
        raise ValueError(f"a screenshot cannot be empty, got size {screenshot.size}")
    return {"type": "image", "image": screenshot}


def check_step(step: int) -> None:
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative int (0-based), got {step!r}")


def check_task(task: str) -> None:
    if not isinstance(task, str) or not task.strip():
        raise ValueError(f"the task instruction must be a non-empty str, got {task!r}")


def normalize_key(key: str) -> str:
    """The environments' canonical name of a key the model wrote (``ctrl``, ``esc``, ``win``, ``left``...), lowercase.

    Unknown names pass through lowercased: the environment reports them to the model, they are not parse errors.
    """
    name = key if not key.strip() else key.strip().lower()
    try:
        return canonical_key(name)
    except ValueError:
        return name


# -- bounds on what a parsed answer may ask for ------------------------------------------------------------------------
def scroll_amount(value: Any, what: str = "scroll amount") -> int:
    """Notches of a scroll the model asked for as a signed count: finite, non-zero once truncated, its magnitude
    clamped to ``MAX_SCROLL_AMOUNT`` (the sign is the direction); ``ModelValueError`` otherwise."""
    number = finite_number(value, what)
    count = int(number)  # pyautogui truncates too
    if count == 0:
        raise ModelValueError(f"{what} must be a non-zero number of notches, got {short(value)}")
    return max(-MAX_SCROLL_AMOUNT, min(MAX_SCROLL_AMOUNT, count))


def wait_seconds(value: Any, what: str = "wait") -> float:
    """Seconds to wait: finite and >= 0, clamped to ``MAX_WAIT_SECONDS``; ``ModelValueError`` otherwise."""
    seconds = finite_number(value, what)
    if seconds < 0:
        raise ModelValueError(f"{what} needs a non-negative number of seconds, got {short(value)}")
    return min(seconds, MAX_WAIT_SECONDS)


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(text: str, what: str) -> str:
    """``text`` if it can be typed and written as UTF-8, with escaped surrogate pairs (``\\ud83d\\ude00``) joined
    into the character they encode; ``ModelValueError`` naming the first lone surrogate or control character (C0
    other than tab, newline and carriage return; DEL) otherwise."""
    control = CONTROL_CHARACTERS.search(text)
    if control is not None:  # typed into a terminal, \x03 or \x04 would act as Ctrl+C / Ctrl+D, past the safety gate
        char = control.group()
        raise ModelValueError(f"{what} holds the control character U+{ord(char):04X} at character {control.start()}; "
                              "text may hold tabs and newlines, no other control characters")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError as exc:
        first = exc.start
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")  # only pairs: one character each
    except UnicodeDecodeError:
        pass
    raise ModelValueError(
        f"{what} is not valid Unicode: it holds a lone surrogate near character {first} (an escape such as \\ud800 "
        "names half of a character)"
    )


def check_actions(actions: Sequence[Action], screenshot_size: tuple[int, int]) -> tuple[Action, ...]:
    """``actions`` if every value is usable on a ``(width, height)`` screenshot, else ``ModelValueError``.

    The last line of defence between any adapter and an environment or a run record: points are ints inside the
    screenshot, strings are valid Unicode (escaped surrogate pairs joined), floats finite, counts and waits under their
    caps.
    """
    if len(actions) > MAX_ACTIONS:
        raise ModelValueError(f"the answer holds {len(actions)} actions; at most {MAX_ACTIONS} are run from one answer")
    return tuple(_checked(action, screenshot_size) for action in actions)


def _checked(action: Action, screenshot_size: tuple[int, int]) -> Action:
    width, height = screenshot_size
    if not isinstance(action, Action):
        raise TypeError(f"an adapter returned {type(action).__name__}, not an environments.actions.Action")
    for point in action.points:
        if not (isinstance(point, tuple) and len(point) == 2 and all(_int(v) for v in point)
                and 0 <= point[0] < width and 0 <= point[1] < height):
            raise ModelValueError(f"{action.kind} point {short(point)} is not a pixel of the {width}x{height} screenshot")
    changes: dict[str, Any] = {}
    for f in fields(action):
        value = getattr(action, f.name)
        if isinstance(value, str):
            text = check_text(value, f"{action.kind} {f.name}")
            if text != value:
                changes[f.name] = text
        elif isinstance(value, float) and not math.isfinite(value):
            raise ModelValueError(f"{action.kind} {f.name} {short(value)} is not finite")
    if isinstance(action, Hotkey):
        if not 1 <= len(action.keys) <= MAX_HOTKEY_KEYS:
            raise ModelValueError(f"hotkey presses 1 to {MAX_HOTKEY_KEYS} keys together, got {len(action.keys)}")
        if not all(isinstance(key, str) for key in action.keys):
            raise ModelValueError(f"hotkey keys must be key names, got {short(action.keys)}")
        changes["keys"] = tuple(check_text(key, "hotkey key") for key in action.keys)
    if isinstance(action, Scroll) and not (_int(action.amount) and 1 <= action.amount <= MAX_SCROLL_AMOUNT):
        raise ModelValueError(f"scroll amount must be 1 to {MAX_SCROLL_AMOUNT} notches, got {short(action.amount)}")
    if isinstance(action, Wait) and not 0 <= finite_number(action.seconds, "wait") <= MAX_WAIT_SECONDS:
        raise ModelValueError(f"wait must be 0 to {MAX_WAIT_SECONDS:g} s, got {short(action.seconds)}")
    return replace(action, **changes) if changes else action


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
