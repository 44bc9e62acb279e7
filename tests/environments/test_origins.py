"""The origin allowlist's rules (``environments.origins``) and their configuration, hostile URLs included; the filter
itself is tested against real Chromium in ``test_browser_allowlist``."""

from __future__ import annotations

from typing import Any

import pytest

from environments.browser import BrowserConfig
from environments.errors import EnvError, OriginNotAllowedError
from environments.origins import OriginPolicy, allowed_origin, origin, profile_preferences

POLICY = OriginPolicy(("http://allowed.test:8000", "https://secure.test"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://allowed.test:8000/a?b#c", True),
        ("HTTP://ALLOWED.test:8000/", True),
        ("http://allowed.test:8001/", False),  # another port is another origin
        ("http://allowed.test/", False),
        ("https://allowed.test:8000/", False),  # another scheme too
        ("http://allowed.test.evil.test:8000/", False),
        ("http://allowed.test:8000@evil.test/", False),  # user info is not the host
        ("http://evil.test/?next=http://allowed.test:8000/", False),
        ("https://secure.test:443/", True),  # the default port is the same origin
        ("ws://allowed.test:8000/socket", True),  # an allowed site's own WebSockets
        ("wss://secure.test/socket", True),
        ("ws://secure.test/socket", False),
        ("ws://evil.test/socket", False),
        ("blob:http://allowed.test:8000/0f1e", True),  # blob: and filesystem: are judged by the origin inside
        ("blob:http://evil.test/0f1e", False),
        ("filesystem:http://evil.test/temporary/x", False),
        ("about:blank", True),  # content the browser or the page itself made
        ("about:srcdoc", True),
        ("data:text/html,<h1>hi</h1>", True),
        ("chrome-error://chromewebdata/", True),
        ("", True),  # a frame that has loaded nothing yet
        ("file:///etc/passwd", False),
        ("chrome://settings/", False),
        ("view-source:http://allowed.test:8000/", False),
        ("mailto:someone@allowed.test", False),
        ("http://allowed.test:99999/", False),  # an invalid port matches nothing
        ("http://[::1]:8000/", False),
    ],
)
def test_policy_allows_exactly_the_listed_origins(url: str, allowed: bool) -> None:
    assert POLICY.allows(url) is allowed


def test_file_urls_need_file_in_the_list() -> None:
    assert OriginPolicy(("file://",)).allows("file:///tmp/page.html")


def test_connect_sources_list_each_origin_and_its_websockets() -> None:
    assert POLICY.connect_sources().split() == [
        "http://allowed.test:8000", "ws://allowed.test:8000", "https://secure.test", "wss://secure.test", "blob:", "data:"
    ]


@pytest.mark.parametrize("entry", ["http://a.test/path", "http://a.test/?q=1", "http://a.test/#f", "a.test", "http://*.a.test", "https://"])
def test_allowed_origin_rejects_what_is_not_an_origin(entry: str) -> None:
    with pytest.raises(ValueError, match="origins like"):
        allowed_origin(entry)


def test_origin_normalises_urls() -> None:
    assert origin("HTTPS://Example.COM:443/x") == "https://example.com"
    assert allowed_origin("http://A.test:8000/") == "http://a.test:8000"


def test_profile_preferences_turn_prediction_off_and_webrtc_udp_off_in_strict_mode() -> None:
    assert profile_preferences(False) == {"net": {"network_prediction_options": 2}}
    assert profile_preferences(True)["webrtc"]["ip_handling_policy"] == "disable_non_proxied_udp"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strict_origins": True}, "set allowed_origins too"),
        ({"allowed_origins": ()}, "allowed_origins is empty"),
        ({"allowed_origins": ("http://a.test",), "strict_origins": "yes"}, "strict_origins must be true or false"),
        ({"allowed_origins": ("http://b.test",)}, "not in allowed_origins"),
    ],
)
def test_config_rejects_bad_allowlists(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BrowserConfig("http://a.test/", **kwargs)


def test_a_start_url_out_of_the_list_is_an_env_error_and_a_value_error() -> None:
    with pytest.raises(OriginNotAllowedError) as caught:
        BrowserConfig("http://a.test/", allowed_origins=("http://b.test",))
    assert isinstance(caught.value, EnvError) and isinstance(caught.value, ValueError)
    assert caught.value.url == "http://a.test/"
    config = BrowserConfig("http://a.test/", allowed_origins=("http://a.test", "HTTP://A.test:80"), strict_origins=True)
    assert config.allowed_origins == ("http://a.test",) and config.policy == OriginPolicy(("http://a.test",))
