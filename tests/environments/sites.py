"""Two loopback web sites for the allowlist tests: each a real HTTP server on 127.0.0.1 with an access log.

``serve_site(routes)`` yields a ``Site`` whose server answers each path from ``routes`` (a ``Page``, a ``Redirect``, or
for the paths it does not know a small HTML page) and appends every request it receives, before answering, to
``site.log``. The tests point the browser at one site (allowed) and make its pages try to reach the other (refused):
the refused site's log must stay empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest


@dataclass(frozen=True)
class Page:
    """A 200 answer: ``body`` (text) of ``content_type``."""

    body: str
    content_type: str = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Redirect:
    """A redirect answer (``status`` 301/302/303/307/308) to ``location``, sent after ``delay`` seconds."""

    location: str
    status: int = 302
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    body: bytes
    upgrade: str | None  # the Upgrade header (``websocket`` for a WebSocket handshake)


@dataclass
class Site:
    """A running site: its base ``url`` (``http://127.0.0.1:PORT``), ``origin`` (the same) and access ``log``."""

    url: str
    log: list[Request] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return self.url

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[4:]

    def paths(self) -> list[str]:
        return [request.path for request in self.log]

    def wait_for(self, condition: Callable[[list[str]], bool], what: str, timeout: float = 10.0) -> list[str]:
        """The logged paths once ``condition(paths)`` holds; fails the test naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not condition(paths := self.paths()):
            if time.monotonic() > deadline:
                pytest.fail(f"{self.url} did not receive {what} within {timeout} s; its log: {paths}")
            time.sleep(0.02)
        return paths


def _handler(site: Site, routes: Mapping[str, Page | Redirect | Callable[[], Page | Redirect]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            site.log.append(Request(self.command, self.path, body, self.headers.get("Upgrade")))
            route = routes.get(urlsplit(self.path).path)
            if callable(route):
                route = route()
            if isinstance(route, Redirect):
                time.sleep(route.delay)
                self.send_response(route.status)
                self.send_header("Location", route.location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            page = route if isinstance(route, Page) else Page(f"<!doctype html><title>{self.path}</title>{self.path}")
            data = page.body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:  # the access log is site.log
            pass

    return Handler


@contextmanager
def serve_site(routes: Mapping[str, Page | Redirect | Callable[[], Page | Redirect]] | None = None) -> Iterator[Site]:
    """A site on a free loopback port answering ``routes`` (path -> answer); stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    site = Site(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(site, routes if routes is not None else {})
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"site {site.url}", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
