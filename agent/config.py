"""What one agent run is: a frozen ``RunConfig`` the CLI maps its flags onto, stored as ``config.json`` in its folder.

Environment options stay a plain mapping passed to ``environments.make(env, **env_config)``, so a new environment needs
no change here; the environment's own config dataclass validates them when the environment is made. The compression
method's options and its budget are validated here (``check_memory``), the adapter's by ``ModelPolicy.adapter_for``:
all of it before a browser starts or weights load.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from guikv.budget import Budget
from guikv.loading import DEFAULT_MODEL
from guikv.presses.registry import PRESSES, make_press

MEMORY_MODES = ("persistent", "reference")
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RunConfig:
    """One run of the agent.

    task: the instruction given to the model.
    env / env_config: a registered environment name and the keyword arguments of its config (``start_url``,
        ``viewport``... for ``browser``; ``monitor``, ``scale``... for ``desktop``).
    model: a hub id or a local ``save_pretrained`` folder; ``adapter`` names the prompt/parse adapter (``None``: chosen
        from the model); ``adapter_options`` are its fields (prompt variant, language...).
    min_pixels / max_pixels: the image processor's limits (``None``: the adapter's defaults); the adapter maps
        coordinates with the same limits.
    kv / budget / kv_options: the compression method (a ``guikv.PRESSES`` name), its budget (fraction in (0, 1] or a
        token count) and its other fields; ``memory_mode`` ``persistent`` (one growing, compressed cache) or
        ``reference`` (re-prefill of the last ``max_screenshots`` screenshots every step).
    max_steps / max_seconds: limits, checked after each step (a step in progress is never cut).
    max_new_tokens: per model call (``None``: the adapter's default). retries: how many times the model is asked
        again after an unusable answer before the run stops.
    endpoint / endpoint_model / endpoint_timeout: answer from an OpenAI-compatible server at this base URL
        (``http://host:8000/v1``) instead of loading ``model`` here; the model name sent (``None``: ``model``) and the
        seconds one request may take. The window of screenshots sent per request is ``max_screenshots``; the memory
        fields do not apply (the server has its own).
    dry_run: show each action on the screenshot without executing it. yes: never ask for confirmation.
    out: the run folder (``None``: ``runs/<time>-<task>``).
    """

    task: str
    env: str = "browser"
    env_config: Mapping[str, Any] = field(default_factory=dict)
    model: str = DEFAULT_MODEL
    adapter: str | None = None
    adapter_options: Mapping[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    device: str = "cpu"
    dtype: str = "auto"
    min_pixels: int | None = None
    max_pixels: int | None = None
    kv: str = "gui_kv"
    budget: float | int = 0.1
    kv_options: Mapping[str, Any] = field(default_factory=dict)
    memory_mode: str = "persistent"
    max_screenshots: int = 5
    max_steps: int = 30
    max_seconds: float | None = None
    max_new_tokens: int | None = None
    retries: int = 1
    endpoint: str | None = None
    endpoint_model: str | None = None
    endpoint_timeout: float = 600.0
    dry_run: bool = False
    yes: bool = False
    out: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"task must be a non-empty instruction, got {self.task!r}")
        from environments.registry import registered

        if self.env not in registered():
            raise ValueError(f"unknown environment {self.env!r}; registered: {', '.join(registered())}")
        if self.kv not in PRESSES:
            raise ValueError(f"unknown KV compression method {self.kv!r}; available: {', '.join(PRESSES)}")
        object.__setattr__(self, "budget", Budget.parse(self.budget).value)
        if self.endpoint is not None:
            from agent.endpoint import check_endpoint_url

            object.__setattr__(self, "endpoint", check_endpoint_url(self.endpoint))
            if not (isinstance(self.endpoint_timeout, int | float) and 0 < self.endpoint_timeout < math.inf):
                raise ValueError(f"--endpoint-timeout must be a positive number of seconds, got {self.endpoint_timeout!r}")
        if self.memory_mode not in MEMORY_MODES:
            raise ValueError(f"memory_mode must be one of {MEMORY_MODES}, got {self.memory_mode!r}")
        for name in ("max_steps", "max_screenshots"):
            if not _positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.max_new_tokens is not None and not _positive_int(self.max_new_tokens):
            raise ValueError(f"max_new_tokens must be a positive int, got {self.max_new_tokens!r}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {self.retries!r}")
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, int | float) and math.isfinite(self.max_seconds) and self.max_seconds > 0
        ):
            raise ValueError(f"max_seconds must be a positive number of seconds, got {self.max_seconds!r}")
        for name in ("min_pixels", "max_pixels"):
            value = getattr(self, name)
            if value is not None and not _positive_int(value):
                raise ValueError(f"{name} must be a positive int (pixels, e.g. 28*28*256), got {value!r}")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) is above max_pixels ({self.max_pixels})")
        for name in ("env_config", "adapter_options", "kv_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"{name} must be a mapping of option names to values, got {value!r}")
            object.__setattr__(self, name, dict(value))
        check_memory(self.kv, self.budget, self.kv_options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Inverse of ``to_dict``; ``ValueError`` naming unknown fields."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a run config is a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown run config field(s) {unknown}; fields: {sorted(known)}")
        return cls(**data)

    def save(self, folder: str | Path) -> Path:
        """Write ``config.json`` into ``folder``."""
        path = Path(folder) / CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> RunConfig:
        """Read ``config.json`` from a run folder; ``ValueError`` naming the file when it is missing or broken."""
        path = Path(folder) / CONFIG_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path} does not exist; a run folder holds config.json and steps.jsonl") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None


def check_memory(kv: str, budget: float | int, kv_options: Mapping[str, Any]) -> None:
    """``ValueError`` unless the compression method takes these options and the budget leaves room beyond the window
    of recent tokens the method always keeps; checked when a run is configured, before any weights load.

    The budget rule is the one ``guikv.MemorySession`` applies when a task starts (it is repeated here so that a bad
    budget is a configuration error, not a crash after the browser started and the weights loaded).
    """
    try:
        press = make_press(kv, budget=budget, **kv_options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"kv_options: {exc}") from None
    if not press.budget.is_fraction and press.name != "full" and press.budget.value <= press.window_size:
        raise ValueError(
            f"a budget of {press.budget.value} tokens is not larger than the window of {press.window_size} recent "
            f"tokens that {kv} always keeps; raise the budget or lower the method's window_size"
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
