"""Environment failures: a flat hierarchy whose messages say how to fix the machine or the call.

Problems the model causes (a click outside the screenshot, a key name that does not exist, an action a browser cannot
perform) are not errors: the environment reports them in ``Observation.info["error"]`` and the episode goes on.
"""

from __future__ import annotations


class EnvError(RuntimeError):
    """Base of every failure of an environment (missing browser or display, unreachable page, ...)."""


class BrowserNotFoundError(EnvError):
    """No Chromium could be found or launched."""


class DisplayNotFoundError(EnvError):
    """No X display to capture or drive."""


class UnreachableURLError(EnvError):
    """A page the environment was asked to open could not be loaded."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot open {url}: {reason}. Check that the server is running and the URL's scheme, host and port")
        self.url = url
        self.reason = reason


class OriginNotAllowedError(EnvError, ValueError):
    """A page the browser was asked to open is, or redirects to, an origin outside its ``allowed_origins``.

    Also a ``ValueError``: a start URL outside the allowlist is a bad configuration as much as a failed start.
    """

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class FailSafeError(EnvError):
    """pyautogui's fail-safe fired (the pointer reached a screen corner): a person wants the agent to stop.

    The loop turns it into a clean stop (``StopReason`` kind ``failsafe``) with the record still written.
    """
