"""Conversation matching and canonicalisation on their own (no model): what counts as an extension, a slid window,
or a miss, and which images are the same."""

from __future__ import annotations

import base64
import io

import pytest

from agent.serve.canonical import CanonicalMessage, DigestCache, EncodedImage, ImageLimits, Part, canonicalise
from agent.serve.matching import best_match, match
from agent.serve.protocol import ApiError, ChatMessage
from guikv.testing import synthetic_screenshot


def text(role: str, value: str) -> CanonicalMessage:
    return CanonicalMessage(role, (Part("text", value),))


def image(name: str) -> CanonicalMessage:
    return CanonicalMessage("user", (Part("image", name),))


TASK = text("user", "task")
# task, then 6 steps of (screenshot i, reply i)
CACHED = [TASK] + [m for i in range(6) for m in (image(f"s{i}"), text("assistant", f"r{i}"))]


def test_an_extension():
    found = match(CACHED, [*CACHED, image("s6")])
    assert (found.kind, found.new_from, found.forget) == ("extend", len(CACHED), ())


@pytest.mark.parametrize("keep_replies", [True, False])
def test_a_slid_window(keep_replies):
    dropped = [1] if keep_replies else [1, 2]
    request = [m for i, m in enumerate(CACHED) if i not in dropped] + [image("s6")]
    found = match(CACHED, request)
    assert (found.kind, found.forget, found.new_from) == ("slide", tuple(dropped), len(request) - 1)
    two = [m for i, m in enumerate(CACHED) if i not in (1, 3)] + [image("s6")]  # two screenshots left at once
    assert match(CACHED, two).forget == (1, 3)


@pytest.mark.parametrize("request_", [
    pytest.param([m for i, m in enumerate(CACHED) if i != 3] + [image("s6")], id="a newer screenshot dropped"),
    pytest.param([*CACHED[1:], image("s6")], id="the task dropped"),
    pytest.param([*CACHED[:-1], text("assistant", "edited"), image("s6")], id="the last reply edited"),
    pytest.param([m for i, m in enumerate(CACHED) if i not in (1, 4)] + [image("s6")], id="a reply after a kept shot"),
    pytest.param(CACHED, id="no new turn"),
    pytest.param([text("user", "other task"), image("s6")], id="another conversation"),
])
def test_misses(request_):
    assert match(CACHED, request_).kind == "miss"


def test_best_match_prefers_an_extension_then_the_longest():
    short, slid = CACHED[:3], [m for i, m in enumerate(CACHED) if i != 1]
    key, found = best_match([("short", short), ("full", CACHED), ("x", [text("user", "x")])], [*CACHED, image("s6")])
    assert (key, found.kind) == ("full", "extend")
    key, found = best_match([("full", CACHED)], [*slid, image("s6")])
    assert (key, found.kind) == ("full", "slide")


def _url(image_, fmt: str = "PNG", **save) -> str:
    buffer = io.BytesIO()
    image_.save(buffer, format=fmt, **save)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def _messages(*urls: str) -> list[ChatMessage]:
    return [ChatMessage.model_validate({"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "text", "text": " here"},
        *({"type": "image_url", "image_url": {"url": u}} for u in urls)]})]


def test_images_are_identified_by_their_pixels_and_text_parts_join():
    shot = synthetic_screenshot(60, 40, seed=1)
    a = canonicalise(_messages(_url(shot, compress_level=1)), ImageLimits())
    b = canonicalise(_messages(_url(shot, compress_level=9)), ImageLimits())  # same pixels, other bytes
    c = canonicalise(_messages(_url(synthetic_screenshot(60, 40, seed=2))), ImageLimits())
    assert a.canonical == b.canonical != c.canonical
    assert a.canonical[0].parts[0] == Part("text", "look here")
    plain = canonicalise([ChatMessage.model_validate({"role": "user", "content": "look here"})], ImageLimits())
    listed = canonicalise([ChatMessage.model_validate({"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "text", "text": " here"}]})], ImageLimits())
    assert plain == listed and plain.turns == (("user", "look here"),)


def test_a_resent_screenshot_is_not_decoded_again():
    """A sliding-window client resends its screenshots: with a digest cache the bytes seen before keep their digest
    and stay encoded until their turn is fed; the conversation and the fed pixels are the same as without it."""
    old, new = synthetic_screenshot(60, 40, seed=1), synthetic_screenshot(60, 40, seed=2)
    first_url, new_url = _url(old), _url(new)
    digests = DigestCache(capacity=8)
    first = canonicalise(_messages(first_url), ImageLimits(), digests)
    assert len(digests) == 1 and not isinstance(first.turns[0][1][1]["image"], EncodedImage)
    again = canonicalise(_messages(first_url, new_url), ImageLimits(), digests)
    plain = canonicalise(_messages(first_url, new_url), ImageLimits())
    images = [item["image"] for item in again.turns[0][1] if "image" in item]
    assert isinstance(images[0], EncodedImage) and not isinstance(images[1], EncodedImage)  # only the new one decoded
    assert again.canonical == plain.canonical and len(digests) == 2
    fed = [item["image"] for item in again.turns_from(0)[0][1] if "image" in item]
    assert [im.tobytes() for im in fed] == [old.convert("RGB").tobytes(), new.convert("RGB").tobytes()]
    canonicalise(_messages(_url(synthetic_screenshot(60, 40, seed=3))), ImageLimits(), DigestCache(capacity=0))
    tiny = DigestCache(capacity=1)  # least recently used out: the first image is decoded again
    canonicalise(_messages(first_url), ImageLimits(), tiny)
    canonicalise(_messages(new_url), ImageLimits(), tiny)
    third = canonicalise(_messages(first_url), ImageLimits(), tiny)
    assert len(tiny) == 1 and not isinstance(third.turns[0][1][1]["image"], EncodedImage)
    with pytest.raises(ValueError):
        DigestCache(capacity=-1)


def test_a_decompression_bomb_is_refused_from_its_header():
    """A PNG that claims 20000x20000 pixels is refused (413) before its pixels are decoded."""
    from PIL import Image

    bomb = Image.new("1", (20000, 20000))  # 1 bit per pixel: a small file for 400 M pixels
    with pytest.raises(ApiError) as caught:
        canonicalise(_messages(_url(bomb)), ImageLimits(max_image_bytes=2**30))
    assert caught.value.status == 413
