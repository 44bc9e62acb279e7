"""One contract over every registered model adapter (issue 10, acceptance 4).

For each adapter in ``ADAPTERS``: the prompt renders through a real chat template and processor; the history is
append-only; every verb of its action space parses from its real output format into the expected typed actions;
malformed, truncated and randomly corrupted outputs are ``ModelOutputError`` (never another exception); a point
marked on a screenshot, seen through the real resize and written back in the model's convention, parses to the same
pixel. The per-adapter tables are in ``tests/agent/adapter_examples.py``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

from agent.errors import ModelOutputError
from agent.models import ADAPTERS, make_adapter
from guikv.testing import synthetic_screenshot, tiny_processor
from tests.agent.adapter_examples import EXAMPLES

NAMES = sorted(ADAPTERS)
TASK = "Open the settings and turn on dark mode"
CUTS = range(1, 9)

@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_every_registered_adapter_has_an_example_table():
    assert set(EXAMPLES) == set(ADAPTERS), "register the adapter's examples in tests/agent/adapter_examples.py"


def _verb_cases():
    return [
        pytest.param(name, text, expected, id=f"{name}-{verb}")
        for name in NAMES
        for verb, text, expected in EXAMPLES[name].outputs
    ]


def _malformed_cases():
    return [pytest.param(name, text, id=f"{name}-{i}") for name in NAMES for i, text in enumerate(EXAMPLES[name].malformed)]


@pytest.mark.parametrize("name", NAMES)
def test_every_verb_of_the_action_space_has_an_example(name):
    covered = {verb for verb, _, _ in EXAMPLES[name].outputs}
    assert set(EXAMPLES[name].verbs) <= covered, f"verbs without an example: {sorted(set(EXAMPLES[name].verbs) - covered)}"
    assert len(EXAMPLES[name].verbs) >= 10


@pytest.mark.parametrize(("name", "text", "expected"), _verb_cases())
def test_each_verb_parses_from_its_real_format(name, text, expected):
    parsed = make_adapter(name).parse(text, EXAMPLES[name].screenshot_size)
    assert parsed.actions == expected
    assert parsed.raw == text
    assert all(isinstance(action.to_dict()["type"], str) for action in parsed.actions)


@pytest.mark.parametrize(("name", "text"), _malformed_cases())
def test_malformed_outputs_are_model_errors(name, text):
    with pytest.raises(ModelOutputError) as info:
        make_adapter(name).parse(text, EXAMPLES[name].screenshot_size)
    assert info.value.raw_text == text and info.value.reason


HOSTILE_NUMBERS = {
    "nan": ("NaN", "1"),
    "infinity": ("Infinity", "1"),
    "overflow": ("1e999", "1"),
    "negative_overflow": ("1", "-1e999"),
    "400_digits": ("9" * 400, "1"),
}


def _hostile_cases():
    cases = []
    for name in NAMES:
        for kind, (x, y) in HOSTILE_NUMBERS.items():
            cases.append(pytest.param(name, EXAMPLES[name].click(x, y), id=f"{name}-click-{kind}"))
        cases.append(pytest.param(name, EXAMPLES[name].type_text("a\ud800b"), id=f"{name}-type-lone-surrogate"))
    return cases


@pytest.mark.parametrize(("name", "text"), _hostile_cases())
def test_hostile_numbers_and_text_are_model_errors(name, text):
    """Non-finite or absurd numbers and text that is not valid UTF-8 are the model's fault, never a crash."""
    with pytest.raises(ModelOutputError):
        make_adapter(name).parse(text, EXAMPLES[name].screenshot_size)


@pytest.mark.parametrize(("name", "text", "expected"), _verb_cases())
def test_truncated_outputs_are_model_errors(name, text, expected):
    adapter, size = make_adapter(name), EXAMPLES[name].screenshot_size
    body = text.rstrip()
    for cut in CUTS:
        with pytest.raises(ModelOutputError):
            adapter.parse(body[:-cut], size)


@pytest.mark.parametrize("name", NAMES)
def test_corrupted_outputs_parse_or_are_model_errors(name):
    """Random edits of real outputs (the hostile version of every format): never a crash, never a bad action."""
    adapter, size = make_adapter(name), EXAMPLES[name].screenshot_size
    rng = random.Random(name)
    alphabet = "()[]{}<>'\"\\,:=.-+0123456789eE \n\tNaInfinity\ud800é_/#`"
    width, height = size
    for _ in range(400):
        text = list(rng.choice(EXAMPLES[name].outputs)[1])
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(text) + 1)
            edit = rng.random()
            if edit < 0.4 and index < len(text):
                del text[index]
            elif edit < 0.8:
                text.insert(index, rng.choice(alphabet))
            elif index < len(text):
                text[index] = rng.choice(alphabet)
        corrupted = "".join(text)
        try:
            parsed = adapter.parse(corrupted, size)
        except ModelOutputError:
            continue
        for action in parsed.actions:
            for x, y in action.points:
                assert 0 <= x < width and 0 <= y < height, (corrupted, action)


@pytest.mark.parametrize("name", NAMES)
def test_prompt_renders(name, processor):
    adapter = make_adapter(name)
    shot = synthetic_screenshot(64, 48)
    messages = [*adapter.system_and_task_messages(TASK), adapter.observation_message(shot, 0)]
    text = processor.render(messages, add_generation_prompt=True)
    assert TASK in text
    assert text.count("<|image_pad|>") == 1
    assert text.endswith("<|im_start|>assistant\n")
    system = messages[0]
    assert system["role"] == "system" and f"<|im_start|>system\n{system['content']}<|im_end|>\n" in text
    encoded = processor.encode(text, [shot])
    assert encoded["input_ids"].shape[0] == 1 and "pixel_values" in encoded
    with pytest.raises(ValueError):
        adapter.system_and_task_messages("   ")


@pytest.mark.parametrize("name", NAMES)
def test_history_is_append_only(name, processor):
    adapter, responses = make_adapter(name), EXAMPLES[name].responses

    def conversation(k: int, answered: int):
        shots = [synthetic_screenshot(64 + 8 * i, 48, seed=i) for i in range(k)]
        return adapter.conversation(TASK, shots, responses[:answered]), shots

    for k in range(len(responses)):
        done, _ = conversation(k, k)
        asked, _ = conversation(k + 1, k)
        answered, shots = conversation(k + 1, k + 1)
        done_text = processor.render(done, add_generation_prompt=False)
        asked_text = processor.render(asked, add_generation_prompt=True)
        answered_text = processor.render(answered, add_generation_prompt=False)
        assert answered_text.startswith(done_text)
        assert asked_text + responses[k] + "<|im_end|>\n" == answered_text
        ids_done = processor.encode(done_text, shots[:k])["input_ids"][0].tolist()
        ids_answered = processor.encode(answered_text, shots)["input_ids"][0].tolist()
        assert ids_answered[: len(ids_done)] == ids_done


def _marked(size: tuple[int, int], point: tuple[int, int]) -> Image.Image:
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    x, y = point
    pixels[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3] = (255, 0, 0)
    return Image.fromarray(pixels)


def _centroid(image: Image.Image) -> tuple[float, float]:
    red = np.asarray(image, dtype=np.float64)[..., 0]
    ys, xs = np.nonzero(red > 0)
    weights = red[ys, xs]
    return float((xs * weights).sum() / weights.sum()), float((ys * weights).sum() / weights.sum())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080), (1080, 2400), (2560, 1600), (500, 420)])
def test_points_round_trip_through_the_resize(name, size):
    """The model sees the screenshot smart-resized (under the adapter's limits and factor); a point it reads there and
    writes in its convention lands back on the same screenshot pixel (within the resize's half-pixel and the
    convention's rounding)."""
    adapter = make_adapter(name)
    cmap = adapter.coordinate_map(size)
    model_w, model_h = cmap.model_size
    assert model_w % adapter.image_factor == 0 and model_h % adapter.image_factor == 0
    extent_w, extent_h = cmap.model_extent
    tolerance = 1.0 + 0.5 * max(size[0] / model_w, size[1] / model_h) + 0.5 * max(size[0] / extent_w, size[1] / extent_h)
    rng = random.Random(f"{name}{size}")
    for _ in range(6):
        point = (rng.randrange(3, size[0] - 3), rng.randrange(3, size[1] - 3))
        seen = _marked(size, point).resize((model_w, model_h), Image.Resampling.BICUBIC)
        cx, cy = _centroid(seen)  # the pixel (index) of the resized image where the model sees the mark
        model_x, model_y = cx / model_w * extent_w, cy / model_h * extent_h
        (action,) = adapter.parse(EXAMPLES[name].click(str(round(model_x)), str(round(model_y))), size).actions
        assert abs(action.point[0] - point[0]) <= tolerance and abs(action.point[1] - point[1]) <= tolerance, (
            point, action.point, (cx, cy),
        )
        # and the inverse map is exact before rounding
        assert cmap.to_screenshot(*cmap.to_model(*point)) == point
