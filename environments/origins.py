"""The browser's origin allowlist: which URLs it may load, and the one filter every request goes through.

How the filter sees every hop. Playwright's ``route`` is called only for the first request of a redirect chain: later
hops go to the network unseen (as designed, microsoft/playwright#3993 and #34994), and a ``route.fulfill`` with a 3xx is
followed by the browser unrouted too. The Chrome DevTools Protocol's ``Fetch`` domain, enabled on the *browser* target,
pauses every request of every page, popup, frame and worker of the browser before it reaches the network, and pauses
each redirect hop again as a new request (with ``redirectedRequestId`` set) before it is sent. So ``OriginFilter`` opens a
browser-level CDP session, enables ``Fetch`` at the request stage and answers each paused request: continue it when its
URL's origin is allowed, fail it otherwise. A 307 that would re-send a POST body elsewhere is failed before it is sent.

What one mode or the other covers (``docs/agent.md`` says the same for users):

- Always (``strict=False``): navigations, i.e. ``Document`` requests: top-level pages, iframes (``<iframe>``,
  ``<object>``), popups and new tabs, form posts, every redirect hop of each. A blocked top-level navigation is
  aborted (the tab keeps its page); a new tab whose first navigation is blocked is closed before it loads anything.
  Sub-resources are not filtered: a page on an allowed origin can still load images, scripts, ``fetch``, beacons and
  WebSockets from anywhere, and show what they bring.
- Strict (``strict=True``): every request the ``Fetch`` domain sees (images, scripts, styles, fonts, media, ``fetch``
  and XHR, beacons and pings, EventSource, ``<link rel=prefetch>``, workers' scripts and their requests). WebSockets
  never pass through ``Fetch``: the browser enforces a ``Content-Security-Policy: connect-src <allowed origins>`` that
  the filter adds to every document and worker script (``CSP_RESOURCE_TYPES``), which covers pages, frames and workers;
  ``BrowserEnv`` also routes page WebSockets (``BrowserContext.route_web_socket``) to record them. Adding the header
  means fulfilling those responses from the filter (``Fetch.continueResponse`` header overrides do not reach Chromium's
  CSP parser), so strict mode holds each document and worker script in memory once.
- Not covered by the filter: Chromium's own background traffic (``LAUNCH_ARGS`` in ``browser`` switch most of it off),
  DNS lookups and connections opened ahead of requests (``<link rel=dns-prefetch|preconnect>``), WebRTC and WebTransport
  (strict mode turns WebRTC's non-proxied UDP off through the profile, see ``profile_preferences``). Speculation rules
  prefetches bypass ``Fetch`` entirely and a navigation can then be served from them, so the profile turns Chromium's
  network prediction off (``net.network_prediction_options``) in both modes.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, CDPSession
from playwright.sync_api import Error as PlaywrightError

# Schemes whose URLs name a network origin the filter must check.
NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})
# Schemes of content made by the browser or the page itself, never fetched from another origin.
LOCAL_SCHEMES = frozenset({"about", "data", "javascript", "chrome-error"})
# Resource types whose responses carry the strict mode's CSP (documents, and "Other": worker and shared-worker scripts).
CSP_RESOURCE_TYPES = ("Document", "Other")
# Response headers that describe the wire body; the filter re-sends the decoded body, so it drops them.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# Where the strict mode's policy sends its violation reports: a name that never resolves, answered by the filter itself.
CSP_REPORT_URL = "http://csp-report.guikv.invalid/"
MAX_URL_CHARS = 2000  # a blocked URL is recorded cut to this length (a page can make URLs of megabytes)
MAX_BLOCKED = 50  # entries kept per observation; the rest are only counted


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lowercased, default ports dropped (``file:`` URLs give ``file://``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number: no origin can match it
        return f"{scheme}://{host}:invalid"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default_port else "")


def allowed_origin(entry: str) -> str:
    """``entry`` normalised with ``origin``; ``ValueError`` unless it is an origin (no path, query or fragment)."""
    parts = urlsplit(entry)
    if (
        not parts.scheme
        or (not parts.hostname and parts.scheme != "file")
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "*" in entry
    ):
        raise ValueError(f"allowed_origins entries are origins like 'https://example.com:8443', got {entry!r}")
    return origin(entry)


@dataclass(frozen=True)
class OriginPolicy:
    """Which URLs the browser may load or show: those whose origin is in ``origins`` (normalised by ``origin``)."""

    origins: tuple[str, ...]

    def allows(self, url: str) -> bool:
        """Whether ``url`` may be requested or shown.

        Network URLs need their origin in the list (``ws:``/``wss:`` are checked against the list as they are and with
        ``http:``/``https:``, so an allowed site may open its own WebSockets); ``blob:`` and ``filesystem:`` URLs are
        judged by the origin they embed; browser-made content (``about:``, ``data:``, error pages, and the empty URL of a
        frame that has loaded nothing yet) is allowed; ``file:`` needs ``file://`` in the list; any other scheme is
        refused.
        """
        if url == "":
            return True
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("blob", "filesystem"):
            return self.allows(url.split(":", 1)[1])
        if scheme in LOCAL_SCHEMES:
            return True
        if scheme == "file":
            return "file://" in self.origins
        if scheme not in NETWORK_SCHEMES:
            return False
        found = origin(url)
        if scheme in ("ws", "wss"):
            return found in self.origins or "http" + found[2:] in self.origins
        return found in self.origins

    def connect_sources(self) -> str:
        """The CSP ``connect-src`` source list that admits exactly the allowed origins (and their WebSockets)."""
        sources = []
        for allowed in self.origins:
            sources.append(allowed)
            if allowed.startswith("http"):
                sources.append("ws" + allowed[4:])
        return " ".join([*sources, "blob:", "data:"])


def profile_preferences(strict: bool) -> dict[str, Any]:
    """Chromium profile preferences (``Default/Preferences``) for a filtered browser.

    ``network_prediction_options`` 2 ("never") turns speculation-rules prefetch and prerender off: they are fetched
    outside DevTools interception and a navigation can then be served from them. Strict mode also confines WebRTC to
    proxied traffic (there is no proxy, so its UDP is off).
    """
    preferences: dict[str, Any] = {"net": {"network_prediction_options": 2}}
    if strict:
        preferences["webrtc"] = {"ip_handling_policy": "disable_non_proxied_udp", "multiple_routes_enabled": False,
                                 "nonproxied_udp_enabled": False}
    return preferences


class OriginFilter:
    """Refuses, before it reaches the network, every request of a browser to an origin outside ``policy``.

    ``strict=False`` filters navigations (``Document`` requests); ``strict=True`` every request, and adds the
    ``connect-src`` policy to documents and worker scripts (see the module docstring). What was refused is kept as
    ``{"url", "kind", "method"[, "redirected_from"]}`` entries (``kind``: ``page`` for a tab's navigation, ``popup``
    for a new tab's first one (the tab is closed), ``frame`` for an iframe's, else the request's resource type such as
    ``image``, ``script``, ``xhr``, ``fetch``, ``ping``) until ``take_blocked`` hands them over.

    Playwright's sync API runs the handler whenever the thread waits on Playwright; until then a paused request stays
    paused, so nothing passes while the agent is thinking.
    """

    def __init__(self, browser: Browser, policy: OriginPolicy, *, strict: bool = False) -> None:
        self.policy = policy
        self.strict = strict
        self.main_tab: str | None = None
        """Target id of the tab the environment opened: a refused navigation there never closes it (a refused start
        page is reported by the caller)."""
        self._blocked: list[dict[str, Any]] = []
        self._omitted = 0
        self._errors: list[BaseException] = []
        self._documents: OrderedDict[str, str] = OrderedDict()  # request id -> URL of recent navigations (for hops)
        self._csp = f"connect-src {policy.connect_sources()}; report-uri {CSP_REPORT_URL}"
        self._session: CDPSession | None = browser.new_browser_cdp_session()
        self._session.on("Fetch.requestPaused", self._on_paused)
        request = {"urlPattern": "*", "requestStage": "Request"}
        patterns = [request] if strict else [{**request, "resourceType": "Document"}]
        if strict:
            patterns += [{"urlPattern": "*", "resourceType": kind, "requestStage": "Response"} for kind in CSP_RESOURCE_TYPES]
        self._session.send("Fetch.enable", {"patterns": patterns})

    def record(self, url: str, kind: str, details: dict[str, Any] | None = None) -> None:
        """Add a refusal (also one made elsewhere: a WebSocket, a page found on a refused origin) to the blocked list."""
        if len(self._blocked) >= MAX_BLOCKED:
            self._omitted += 1
            return
        entry = {"url": url[:MAX_URL_CHARS], "kind": kind}
        entry.update({key: value[:MAX_URL_CHARS] if isinstance(value, str) else value for key, value in (details or {}).items()})
        self._blocked.append(entry)

    def take_blocked(self) -> tuple[list[dict[str, Any]], int]:
        """The entries recorded since the last call and how many more were only counted; raises a handler's bug."""
        if self._errors:
            error = self._errors[0]
            self._errors.clear()
            raise RuntimeError(f"the origin filter failed on a request (it was refused): {error!r}") from error
        blocked, omitted = self._blocked, self._omitted
        self._blocked, self._omitted = [], 0
        return blocked, omitted

    def sync(self) -> None:
        """Answer every request already paused: one round trip to the browser (CDP messages arrive in order)."""
        if self._session is not None:
            with contextlib.suppress(PlaywrightError):
                self._session.send("Browser.getVersion")

    def close(self) -> None:
        """Stop filtering (``Fetch.disable``) and detach; idempotent. Paused requests are let go by the browser."""
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(PlaywrightError):
                session.send("Fetch.disable")
                session.detach()

    # -- the handler -------------------------------------------------------------------------------------------------
    def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if self._session is None:
            return None
        try:
            return self._session.send(method, params)
        except PlaywrightError:  # the request was cancelled meanwhile (its page navigated or closed) or the browser left
            return None

    def _on_paused(self, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        try:
            if "responseStatusCode" in event or "responseErrorReason" in event:
                self._add_policy(event)
                return
            url = event["request"]["url"]
            if url == CSP_REPORT_URL:
                self._send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
                self._record_report(event["request"].get("postData", ""))
                return
            if self.policy.allows(url):
                if event.get("resourceType") == "Document":
                    self._remember(request_id, url)
                self._send("Fetch.continueRequest", {"requestId": request_id})
                return
            document = event.get("resourceType") == "Document"
            # ERR_ABORTED keeps the page or frame as it was; a sub-resource fails as an ad blocker's would.
            reason = "Aborted" if document else "BlockedByClient"
            self._send("Fetch.failRequest", {"requestId": request_id, "errorReason": reason})
            self._record_paused(event, url, document)
        except Exception as exc:  # a bug of ours: refuse the request rather than leave it paused or let it through
            self._errors.append(exc)
            self._send("Fetch.failRequest", {"requestId": request_id, "errorReason": "Failed"})

    def _remember(self, request_id: str, url: str) -> None:
        self._documents[request_id] = url
        while len(self._documents) > 256:
            self._documents.popitem(last=False)

    def _record_paused(self, event: dict[str, Any], url: str, document: bool) -> None:
        details: dict[str, Any] = {"method": event["request"].get("method", "GET")}
        previous = self._documents.get(event.get("redirectedRequestId") or "")
        if previous is not None:
            details["redirected_from"] = previous
        kind = str(event.get("resourceType", "other")).lower()
        if document:
            kind = self._document_kind(event.get("frameId", ""))
            if kind == "popup":
                self._send("Target.closeTarget", {"targetId": event["frameId"]})
        self.record(url, kind, details)

    def _record_report(self, body: str) -> None:
        """Record what the ``connect-src`` policy refused (``fetch``, XHR, beacons, WebSockets, in pages and workers)."""
        try:
            report = json.loads(body[:100_000])["csp-report"]
            url = str(report["blocked-uri"])
        except (ValueError, KeyError, TypeError):  # not a report as Chromium writes them: nothing to record
            return
        if url.startswith(("http:", "https:", "ws:", "wss:")) and not self.policy.allows(url):
            self.record(url, *(("websocket", {"method": "GET"}) if url.startswith("ws") else ("connect", {})))

    def _document_kind(self, frame_id: str) -> str:
        """``page`` (a tab's main frame), ``popup`` (another tab that has shown nothing yet) or ``frame`` (an iframe)."""
        # A tab's main frame id is its target id; an in-process iframe is no target at all, an out-of-process one is
        # of type "iframe".
        info = self._send("Target.getTargetInfo", {"targetId": frame_id}) if frame_id else None
        target = (info or {}).get("targetInfo", {})
        if target.get("type") != "page":
            return "frame"
        if target.get("url", "") in ("", "about:blank") and frame_id != self.main_tab:
            return "popup"
        return "page"

    def _add_policy(self, event: dict[str, Any]) -> None:
        """Strict mode, response stage of a document or worker script: re-send it with the ``connect-src`` policy."""
        request_id = event["requestId"]
        status = event.get("responseStatusCode")
        if status is None or 300 <= status < 400:  # a network error, or a redirect whose next hop is filtered anew
            self._send("Fetch.continueRequest", {"requestId": request_id})
            return
        body = self._send("Fetch.getResponseBody", {"requestId": request_id})
        if body is None:  # no body to re-send: refuse rather than let a page run without the policy
            self._send("Fetch.failRequest", {"requestId": request_id, "errorReason": "Failed"})
            return
        data = body["body"] if body.get("base64Encoded") else base64.b64encode(body["body"].encode("utf-8")).decode("ascii")
        headers = [header for header in event.get("responseHeaders", []) if header["name"].lower() not in _WIRE_HEADERS]
        headers.append({"name": "Content-Security-Policy", "value": self._csp})
        params: dict[str, Any] = {"requestId": request_id, "responseCode": status, "responseHeaders": headers, "body": data}
        if event.get("responseStatusText"):
            params["responsePhrase"] = event["responseStatusText"]
        self._send("Fetch.fulfillRequest", params)


def websocket_matcher(policy: OriginPolicy) -> Callable[[str], bool]:
    """The URL predicate for ``route_web_socket`` that selects WebSockets to refused origins."""
    return lambda url: not policy.allows(url)
