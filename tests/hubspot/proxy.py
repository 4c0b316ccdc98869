"""A real HTTP proxy in front of a sandbox (a thread with http.server) that holds matching requests before it
forwards them: the request reaches the sandbox late, after the client gave up waiting for its answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class HoldingProxy:
    """Forwards every request to `upstream`; a POST whose path ends with `hold_path` waits `hold_seconds` first
    (then is forwarded, or with `deliver=False` dropped). `delivered` counts the held requests that reached the
    upstream, whatever became of their answer."""

    def __init__(self, upstream: str, hold_path: str, hold_seconds: float, *, deliver: bool = True) -> None:
        self.upstream = upstream.rstrip("/")
        self.deliver = deliver  # False: a held request is never forwarded (lost on the way)
        self.hold_path = hold_path
        self.hold_seconds = hold_seconds
        self.held = 0
        self.delivered = 0
        self.lost = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="holding-proxy", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def wait_settled(self, count: int, timeout: float) -> None:
        """Wait until `count` held requests were delivered or lost."""
        deadline = time.monotonic() + timeout
        while self.delivered + self.lost < count:
            assert time.monotonic() < deadline, f"{self.delivered + self.lost} of {count} held requests settled"
            time.sleep(0.05)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        held = handler.command == "POST" and handler.path.split("?")[0].endswith(self.hold_path)
        if held:
            deliver = self.deliver  # decided on arrival: a request lost stays lost
            with self._lock:
                self.held += 1
            time.sleep(self.hold_seconds)
            if not deliver:
                with self._lock:
                    self.lost += 1
                handler.close_connection = True
                return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        answer = httpx.request(handler.command, self.upstream + handler.path, content=body, headers=headers, timeout=60)
        if held:
            with self._lock:
                self.delivered += 1
        try:
            handler.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-encoding":
                    handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(answer.content)))
            handler.end_headers()
            handler.wfile.write(answer.content)
        except OSError:  # the client gave up long ago
            pass

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                proxy._forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        return _Handler

    @contextmanager
    def serving(self) -> Iterator[HoldingProxy]:
        self._thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            self._thread.join(timeout=5)
