"""The OpenAI chat-completions wire format: the request model, response and SSE chunk bodies, error objects.

Requests are validated with pydantic (what FastAPI is built on); unknown fields are ignored as OpenAI-compatible
servers do, but parameters that would change the answer and are not implemented (``n`` > 1, tools) are refused
with a 400 instead of being silently dropped.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiError(Exception):
    """An error the client gets as ``{"error": {"message", "type", "param", "code"}}`` with HTTP ``status``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = type or {404: "not_found_error", 429: "rate_limit_error", 503: "server_error",
                             500: "server_error"}.get(status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class ImageURL(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    detail: str | None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` this server reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    n: int | None = None
    user: str | None = Field(None, max_length=256)
    tools: list[Any] | None = None

    def reply_limit(self, default: int, ceiling: int) -> int:
        """``max_completion_tokens`` (or the older ``max_tokens``), ``default`` when neither; 400 over ``ceiling``."""
        asked = self.max_completion_tokens or self.max_tokens or default
        if asked > ceiling:
            raise ApiError(400, f"max_tokens of {asked} is over this server's limit of {ceiling} tokens per reply",
                           param="max_tokens", code="max_tokens_too_large")
        return asked

    def check_supported(self) -> None:
        if self.n not in (None, 1):
            raise ApiError(400, f"n={self.n}: this server returns one choice per request", param="n")
        if self.tools:
            raise ApiError(400, "tools are not supported by this server (the model replies in text)", param="tools")


def completion_body(completion_id: str, model: str, text: str, finish_reason: str, usage: dict[str, Any],
                    extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": usage,
        "guikv": extra,
    }


def chunk_body(completion_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
               usage: dict[str, Any] | None = None, with_choice: bool = True) -> dict[str, Any]:
    """One ``chat.completion.chunk`` (the usage-only last chunk has no choices, as OpenAI sends it)."""
    body: dict[str, Any] = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": model, "choices": []}
    if with_choice:
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    if usage is not None:
        body["usage"] = usage
    return body


def usage_body(prompt_tokens: int, cached_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }
