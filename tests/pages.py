"""Local page servers for tests: real HTTP on 127.0.0.1, a free port, nothing from the network.

``serve_html(html)`` yields the URL of one page, ``serve_pages({"a.html": ..., "b/c.html": ...})`` and
``serve_directory(path)`` yield a base URL ending in ``/``. Each is a context manager; the server stops on exit.
``redirects={"/old": "http://..."}`` makes the server answer those paths with a 302 to the given URL.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, redirects: Mapping[str, str], **kwargs: Any) -> None:
        self.redirects = redirects
        super().__init__(*args, **kwargs)

    def send_head(self) -> Any:
        target = self.redirects.get(self.path)
        if target is None:
            return super().send_head()
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@contextmanager
def serve_directory(path: str | Path, redirects: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve the files under ``path`` over HTTP on 127.0.0.1 (free port) and yield the base URL, ending in ``/``."""
    directory = Path(path)
    if not directory.is_dir():
        raise ValueError(f"serve_directory needs an existing folder, got {str(path)!r}")
    handler = partial(_Handler, directory=str(directory), redirects=dict(redirects or {}))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"serve {directory}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serve_pages(pages: Mapping[str, str], redirects: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve ``{relative path: UTF-8 text}`` from a temporary folder; yield the base URL, ending in ``/``."""
    with tempfile.TemporaryDirectory(prefix="pages-") as folder:
        for name, text in pages.items():
            file = Path(folder, name)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
        with serve_directory(folder, redirects) as base_url:
            yield base_url


@contextmanager
def serve_html(html: str, name: str = "index.html") -> Iterator[str]:
    """Serve one HTML page and yield its URL."""
    with serve_pages({name: html}) as base_url:
        yield base_url + name
