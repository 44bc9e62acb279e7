"""Where the agent acts: a Chromium page (``BrowserEnv``) or an X11 desktop (``DesktopEnv``), one ``Env`` interface.

``make(name, **config)`` builds a registered environment; ``check_env`` checks one against the interface.
Actions live in ``environments.actions``.
"""

from environments.base import Env, Observation
from environments.browser import BrowserConfig, BrowserEnv
from environments.checker import check_env
from environments.desktop import DesktopConfig, DesktopEnv
from environments.errors import (
    BrowserNotFoundError,
    DisplayNotFoundError,
    EnvError,
    OriginNotAllowedError,
    UnreachableURLError,
)
from environments.registry import make, register, registered

__all__ = [
    "BrowserConfig",
    "BrowserEnv",
    "BrowserNotFoundError",
    "DesktopConfig",
    "DesktopEnv",
    "DisplayNotFoundError",
    "Env",
    "EnvError",
    "Observation",
    "OriginNotAllowedError",
    "UnreachableURLError",
    "check_env",
    "make",
    "register",
    "registered",
]
