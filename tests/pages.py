"""Local page servers for tests: real HTTP on 127.0.0.1, a free port, nothing from the network.

    with serve_html("<button>go</button>") as url: ...          # url of the page
    with serve_pages({"a.html": A, "b.html": B}) as base: ...    # base URL ending in "/"
    with serve_directory(path) as base: ...                      # any folder of files
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@contextmanager
def serve_directory(path: str | Path) -> Iterator[str]:
    """Serve the files under ``path`` over HTTP on 127.0.0.1 (free port) and yield the base URL, ending in ``/``."""
    directory = Path(path)
    if not directory.is_dir():
        raise ValueError(f"serve_directory needs an existing folder, got {str(path)!r}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
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
def serve_pages(pages: Mapping[str, str]) -> Iterator[str]:
    """Serve ``{relative path: UTF-8 text}`` from a temporary folder; yield the base URL, ending in ``/``."""
    with tempfile.TemporaryDirectory(prefix="pages-") as folder:
        for name, text in pages.items():
            file = Path(folder, name)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
        with serve_directory(folder) as base_url:
            yield base_url


@contextmanager
def serve_html(html: str, name: str = "index.html") -> Iterator[str]:
    """Serve one HTML page and yield its URL."""
    with serve_pages({name: html}) as base_url:
        yield base_url + name
