"""OpenAI messages -> a canonical conversation: what the cache matching compares, and what the session is fed.

Text parts of a message are joined (the chat template renders a list of text parts as their concatenation, so a
string and a list of text parts are the same message); images are decoded from ``data:`` URLs (base64 PNG or JPEG)
within ``ImageLimits`` and identified by a hash of their decoded pixels, so the same screenshot re-encoded by another
client library still matches. Remote ``http(s)`` URLs are refused unless ``allow_remote`` (the server would
otherwise fetch whatever a client names). ``developer`` is OpenAI's newer name for ``system``.

A client with a sliding window resends its last N screenshots at every request, and decoding a 1280x800 PNG costs
about 20 ms on a CPU core (more than a GPU takes to prefill it), so a :class:`DigestCache` remembers the pixel digest
of bytes already decoded: an image seen before is identified by the SHA-256 of its bytes and kept encoded; it is
decoded only if its turn has to be fed again (``Conversation.turns_from``: a new or evicted session).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import threading
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PIL import Image

from agent.serve.protocol import ApiError, ChatMessage, ImagePart

FORMATS = ("PNG", "JPEG")


@dataclass(frozen=True)
class ImageLimits:
    max_images: int = 16  # per request
    max_image_bytes: int = 8 * 2**20  # encoded, per image
    max_pixels: int = 4096 * 4096  # width * height, per image (checked from the header, before decoding)
    allow_remote: bool = False
    remote_timeout_s: float = 10.0


@dataclass(frozen=True)
class Part:
    kind: str  # "text" or "image"
    value: str  # the text, or the image's pixel hash


@dataclass(frozen=True)
class CanonicalMessage:
    role: str
    parts: tuple[Part, ...]

    @property
    def has_image(self) -> bool:
        return any(p.kind == "image" for p in self.parts)


class DigestCache:
    """Pixel digests by the SHA-256 of the encoded bytes they were decoded from; the least recently used go first.
    Thread-safe (requests are canonicalised on worker threads)."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 0:
            raise ValueError(f"a digest cache holds a non-negative number of images, got {capacity}")
        self.capacity = capacity
        self._digests: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            digest = self._digests.get(key)
            if digest is not None:
                self._digests.move_to_end(key)
            return digest

    def put(self, key: str, digest: str) -> None:
        with self._lock:
            self._digests[key] = digest
            self._digests.move_to_end(key)
            while len(self._digests) > self.capacity:
                self._digests.popitem(last=False)

    def __len__(self) -> int:
        return len(self._digests)


@dataclass(frozen=True, eq=False)
class EncodedImage:
    """An image whose bytes decoded within the limits before (its digest is known); decoded when it is fed."""

    data: bytes
    limits: ImageLimits
    where: str

    def decode(self) -> Image.Image:
        return _decode(self.data, self.limits, self.where)[0]


@dataclass(frozen=True)
class Conversation:
    """``canonical`` for matching; ``turns`` (role, content) as ``MemorySession.add`` takes them, same order, except
    that an image may still be an :class:`EncodedImage`: feed ``turns_from(i)``, which decodes those."""

    canonical: tuple[CanonicalMessage, ...]
    turns: tuple[tuple[str, Any], ...]

    def turns_from(self, start: int) -> list[tuple[str, Any]]:
        """The turns from ``start`` on, every image a decoded ``PIL.Image``."""
        decoded = []
        for role, content in self.turns[start:]:
            if isinstance(content, list):
                content = [{**item, "image": item["image"].decode()} if isinstance(item.get("image"), EncodedImage)
                           else item for item in content]
            decoded.append((role, content))
        return decoded


def canonicalise(messages: list[ChatMessage], limits: ImageLimits, digests: DigestCache | None = None) -> Conversation:
    """The canonical conversation of a request; ``ApiError`` (400/413) naming the message and part at fault.

    With ``digests``, images whose bytes were decoded before are not decoded again (their turns hold an
    :class:`EncodedImage`); every other image is decoded and checked here, and its digest remembered."""
    n_images = sum(isinstance(p, ImagePart) for m in messages if isinstance(m.content, list) for p in m.content)
    if n_images > limits.max_images:
        raise ApiError(413, f"the request has {n_images} images; this server takes at most {limits.max_images}",
                       param="messages", code="too_many_images")
    canonical, turns = [], []
    for index, message in enumerate(messages):
        role = "system" if message.role == "developer" else message.role
        if role == "system" and index != 0:
            raise ApiError(400, f"messages[{index}]: a system message can only come first", param=f"messages[{index}]")
        parts: list[Part] = []
        content: list[dict[str, Any]] = []
        items = [] if message.content is None else (
            [message.content] if isinstance(message.content, str) else message.content)
        for k, item in enumerate(items):
            if isinstance(item, str) or item.type == "text":
                text = item if isinstance(item, str) else item.text
                if not text:
                    continue
                if parts and parts[-1].kind == "text":
                    parts[-1] = Part("text", parts[-1].value + text)
                    content[-1] = {"type": "text", "text": parts[-1].value}
                else:
                    parts.append(Part("text", text))
                    content.append({"type": "text", "text": text})
                continue
            if role != "user":
                raise ApiError(400, f"messages[{index}].content[{k}]: only user messages can hold images",
                               param=f"messages[{index}].content[{k}]")
            image, digest = _load_image(item.image_url.url, limits, f"messages[{index}].content[{k}]", digests)
            parts.append(Part("image", digest))
            content.append({"type": "image", "image": image})
        canonical.append(CanonicalMessage(role, tuple(parts)))
        if role == "user" and any(p.kind == "image" for p in parts):
            turns.append((role, content))
        else:
            turns.append((role, "".join(p.value for p in parts)))
    if canonical[-1].role != "user":
        raise ApiError(400, f"the last message must be a user message (got {canonical[-1].role}); the server replies to it",
                       param="messages")
    return Conversation(tuple(canonical), tuple(turns))


def _load_image(url: str, limits: ImageLimits, where: str, digests: DigestCache | None) -> tuple[Any, str]:
    if url.startswith(("http://", "https://")):
        if not limits.allow_remote:
            raise ApiError(400, f"{where}: remote image URLs are refused by this server (start it with "
                                "--allow-remote-images to fetch them); send the image inline as a data: URL",
                           param=where, code="remote_image_refused")
        data = _fetch(url, limits, where)
    elif url.startswith("data:"):
        header, _, payload = url.partition(",")
        if ";base64" not in header:
            raise ApiError(400, f"{where}: a data: image URL must be base64 (data:image/png;base64,...)", param=where)
        if len(payload) * 3 // 4 > limits.max_image_bytes:
            raise ApiError(413, f"{where}: the image is over {limits.max_image_bytes} bytes", param=where,
                           code="image_too_large")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiError(400, f"{where}: the image's base64 does not decode: {error}", param=where,
                           code="invalid_image") from None
    else:
        raise ApiError(400, f"{where}: an image URL must be a data: URL (or http(s) where allowed), got "
                            f"{url[:40]!r}", param=where, code="invalid_image")
    if digests is None:
        return _decode(data, limits, where)
    key = hashlib.sha256(data).hexdigest()
    digest = digests.get(key)
    if digest is not None:
        return EncodedImage(data, limits, where), digest
    image, digest = _decode(data, limits, where)
    digests.put(key, digest)
    return image, digest


def _fetch(url: str, limits: ImageLimits, where: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=limits.remote_timeout_s) as response:  # only with --allow-remote-images
            data = response.read(limits.max_image_bytes + 1)
    except OSError as error:
        raise ApiError(400, f"{where}: could not fetch the image: {error}", param=where, code="invalid_image") from None
    if len(data) > limits.max_image_bytes:
        raise ApiError(413, f"{where}: the image is over {limits.max_image_bytes} bytes", param=where,
                       code="image_too_large")
    return data


def _decode(data: bytes, limits: ImageLimits, where: str) -> tuple[Image.Image, str]:
    try:
        image = Image.open(io.BytesIO(data))
        fmt = image.format
        width, height = image.size
    except Image.DecompressionBombError as error:
        raise ApiError(413, f"{where}: {error}", param=where, code="image_too_large") from None
    except (OSError, ValueError) as error:
        raise ApiError(400, f"{where}: the image cannot be decoded ({error})", param=where, code="invalid_image") from None
    if fmt not in FORMATS:
        raise ApiError(400, f"{where}: images must be PNG or JPEG, got {fmt}", param=where, code="invalid_image")
    if width * height > limits.max_pixels:
        raise ApiError(413, f"{where}: a {width}x{height} image is over {limits.max_pixels} pixels", param=where,
                       code="image_too_large")
    try:
        image = image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as error:
        raise ApiError(400, f"{where}: the image cannot be decoded ({error})", param=where, code="invalid_image") from None
    digest = hashlib.sha256(f"{width}x{height}:".encode() + image.tobytes()).hexdigest()
    return image, digest
