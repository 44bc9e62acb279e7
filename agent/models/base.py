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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from PIL import Image

from agent.coords import IMAGE_FACTOR, Convention, CoordinateMap, PixelLimits
from environments.actions import Action
from environments.keys import canonical_key

Message = dict[str, Any]


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
