"""Environments by name: ``make("browser", start_url=...)``, ``make("desktop", scale=0.5)``.

A factory takes the configuration as keyword arguments and returns an ``Env``; the built-in ones pass them to the
environment's config dataclass, so a wrong or missing field is a ``ValueError`` listing the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from environments.base import Env
from environments.browser import BrowserConfig, BrowserEnv
from environments.desktop import DesktopConfig, DesktopEnv

_FACTORIES: dict[str, Callable[..., Env]] = {}


def register(name: str, factory: Callable[..., Env]) -> None:
    """Make ``factory(**config)`` available as ``make(name, **config)``; ``ValueError`` if ``name`` is taken."""
    if name in _FACTORIES:
        raise ValueError(f"an environment named {name!r} is already registered")
    _FACTORIES[name] = factory


def registered() -> tuple[str, ...]:
    """Names of the registered environments, sorted."""
    return tuple(sorted(_FACTORIES))


def make(name: str, *, should_stop: Callable[[], bool] | None = None, **config: Any) -> Env:
    """A new environment ``name`` built with ``config``; ``ValueError`` listing the registered names if unknown.

    ``should_stop`` becomes the environment's ``Env.should_stop`` (polled inside long actions).
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown environment {name!r}; registered: {', '.join(registered())}")
    env = factory(**config)
    env.should_stop = should_stop
    return env


def _config(config_type: type, config: dict[str, Any]) -> Any:
    """``config_type(**config)``, with a ``ValueError`` naming unknown and missing fields instead of a ``TypeError``."""
    known = {f.name for f in fields(config_type)}
    required = {f.name for f in fields(config_type) if f.default is MISSING and f.default_factory is MISSING}
    unknown, missing = sorted(set(config) - known), sorted(required - set(config))
    if unknown or missing:
        raise ValueError(
            f"{config_type.__name__}: unknown field(s) {unknown}, missing field(s) {missing}; fields: {sorted(known)}"
        )
    return config_type(**config)


register("browser", lambda **config: BrowserEnv(_config(BrowserConfig, config)))
register("desktop", lambda **config: DesktopEnv(_config(DesktopConfig, config)))
