"""The machinery every sandbox shares: HTTP server, routing, control API, faults, rate windows, request log.

A sandbox subclasses :class:`Sandbox`, registers its routes with :meth:`Sandbox.route` and keeps its objects in
memory. Every API request passes, in order: latency -> connection reset -> 429 burst -> 5xx -> rate window ->
handler; after the handler has committed, the response may be dropped (``drop_after_commit_rate``).
The control API lives under ``/_sandbox/`` and is never subject to faults or limits.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadJson(str(exc)) from exc

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class BadJson(Exception):
    """The request body is not valid JSON."""


@dataclass
class Faults:
    error_rate: float = 0.0
    rate_limit_burst: float = 0.0
    latency_ms: float = 0.0
    drop_after_commit_rate: float = 0.0
    reset_rate: float = 0.0
    slow_path: str = ""  # latency only for paths containing this (e.g. "/tasks/batch/create"); "" = every path
    error_path: str = ""  # 5xx (error_rate) only for paths containing this (e.g. "/contacts/search"); "" = every path
    burst_seconds: float = 1.0  # how long a 429 burst lasts; its 429s announce its end (0: the one request)

    FIELDS: ClassVar[tuple[str, ...]] = (
        "error_rate",
        "rate_limit_burst",
        "latency_ms",
        "drop_after_commit_rate",
        "reset_rate",
        "slow_path",
        "error_path",
        "burst_seconds",
    )


# A 429 burst refuses every request until its end, and its 429s announce that end (Retry-After, X-RateLimit-Reset),
# as a real limit does: a client that waits as told meets one 429 per burst. (It used to refuse the next two requests
# whatever the time, so a client that honoured the wait still met two more: 1.38x the requests at 10% bursts.)


class RateWindow:
    """A fixed window of `limit` requests per `seconds`, like HubSpot's ten-secondly and Intercom's limits."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._start = clock()
        self.used = 0

    def _roll(self) -> None:
        now = self._clock()
        if now - self._start >= self.seconds:
            self._start = now
            self.used = 0

    def take(self) -> bool:
        """Count one request; False when the window is full (the request is refused)."""
        self._roll()
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def remaining(self) -> int:
        self._roll()
        return max(self.limit - self.used, 0)

    @property
    def resets_in(self) -> float:
        return max(self.seconds - (self._clock() - self._start), 0.0)


Handler = Callable[[Request], Response]


class Sandbox:
    """Base class of a stateful API emulator. Subclasses add routes, state and their error shapes."""

    name = "sandbox"
    default_limit = 100
    default_window_seconds = 10.0
    persisted: ClassVar[tuple[str, ...]] = ()  # attributes holding the stored objects (see save / load)
    # The request log keeps every entry, but the request and response bodies only of the latest this many: a
    # scale run kept every body forever (4.2 -> 6.2 GiB at 100k accounts; issue 25, item 8). `PUT /_sandbox/limits`
    # `log_bodies` sets it.
    default_log_bodies = 20_000

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults = Faults()
        self.log: list[JSON] = []
        self.log_bodies = self.default_log_bodies
        self._burst_until = 0.0
        self.configure_limits(self.default_limit, self.default_window_seconds)
        self.register()
        self.reset()

    # -- to override -------------------------------------------------------------------------------------
    def register(self) -> None:
        """Register the API routes with :meth:`route`."""

    def reset_state(self) -> None:
        """Forget every stored object (and re-create the built-in ones)."""

    def snapshot(self) -> JSON:
        """The stored objects, for ``GET /_sandbox/state``."""
        return {}

    def is_write(self, request: Request) -> bool:
        """Writes are every request other than GETs, searches and batch reads."""
        return request.method != "GET"

    def rate_limit(self, request: Request) -> Response | None:
        """Apply the documented limits; a Response (429) refuses the request."""
        if not self.window.take():
            return self.too_many_requests(request)
        return None

    def too_many_requests(self, request: Request) -> Response:
        return Response(429, {"message": "rate limited"})

    def burst_left(self) -> float:
        """Seconds until the current 429 burst ends (0 outside one)."""
        return max(self._burst_until - time.monotonic(), 0.0)

    def refused_for(self) -> float:
        """Seconds until a refused request would be accepted: the end of a 429 burst, or of a full window."""
        return max(self.burst_left(), self.window.resets_in if self.window.remaining == 0 else 0.0)

    def server_error(self, request: Request) -> Response:
        return Response(500, {"message": "internal error"})

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": f"no route for {request.method} {request.path}"})

    def bad_json(self, request: Request) -> Response:
        return Response(400, {"message": "invalid JSON body"})

    def decorate(self, request: Request, response: Response) -> None:
        """Add headers every response carries (rate-limit headers, for instance)."""

    def configure_extra_limits(self, settings: JSON) -> JSON:
        """Apply the sandbox's own keys of ``PUT /_sandbox/limits`` (all but the two common ones).

        Returns the current values of the sandbox's own limits, which the answer includes.
        """
        return {}

    def after_load(self) -> None:
        """Adjust loaded objects to this process (e.g. clocks that do not survive a restart)."""

    def save(self, path: Path) -> None:
        """Write the stored objects to `path` (a pickle for this sandbox's own use: load it only from trusted files)."""
        with self.lock:
            payload = {name: getattr(self, name) for name in self.persisted}
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_bytes(pickle.dumps({"sandbox": self.name, "seed": self.seed, "state": payload}))
            temporary.replace(path)

    def load(self, path: Path) -> None:
        """Restore the stored objects written by :meth:`save` for the same kind of sandbox."""
        saved = pickle.loads(path.read_bytes())  # the sandbox's own file, named by its operator
        if saved.get("sandbox") != self.name:
            raise ValueError(f"{path}: holds a {saved.get('sandbox')!r} sandbox, not {self.name!r}")
        with self.lock:
            for name, value in saved["state"].items():
                setattr(self, name, value)
            self.after_load()

    # -- machinery ---------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register `handler` for `method` and a path pattern with ``{name}`` placeholders."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def configure_limits(self, requests_per_window: int, window_seconds: float) -> None:
        self.window = RateWindow(requests_per_window, window_seconds)

    def reset(self) -> None:
        with self.lock:
            self.rng = random.Random(self.seed)
            self.log = []
            self.log_bodies = self.default_log_bodies
            self._burst_until = 0.0
            self.faults = Faults()
            self.configure_limits(self.default_limit, self.default_window_seconds)
            self.reset_state()

    def _trim_log(self) -> None:
        """The entry that just fell out of the latest `log_bodies` keeps its line but not its bodies (`trimmed`):
        one entry per request, so each is trimmed once. A smaller `log_bodies` set later trims from then on."""
        position = len(self.log) - 1 - self.log_bodies
        if position >= 0 and "trimmed" not in self.log[position]:
            self.log[position].update(body=None, response=None, trimmed=True)

    def dispatch(self, request: Request) -> Response:
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                return handler(request)
        return self.not_found(request)

    def control(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sandbox/")
        if request.method == "GET" and action == "requests":
            return Response(200, list(self.log))
        if request.method == "GET" and action == "state":
            return Response(200, self.snapshot())
        if request.method == "POST" and action == "reset":
            self.reset()
            return Response(200, {"ok": True})
        if request.method == "PUT" and action == "faults":
            body = request.json() or {}
            unknown = set(body) - set(Faults.FIELDS)
            if unknown:
                return Response(400, {"message": f"unknown fault settings: {sorted(unknown)}"})
            paths = ("slow_path", "error_path")
            numbers: dict[str, Any] = {key: float(value) for key, value in body.items() if key not in paths}
            texts: dict[str, Any] = {key: str(body.get(key) or "") for key in paths}
            self.faults = Faults(**numbers, **texts)
            return Response(200, {key: getattr(self.faults, key) for key in Faults.FIELDS})
        if request.method == "PUT" and action == "limits":
            body = request.json() or {}
            limit = int(body.get("requests_per_window", self.window.limit))
            seconds = float(body.get("window_seconds", self.window.seconds))
            self.configure_limits(limit, seconds)
            self.log_bodies = max(0, int(body.get("log_bodies", self.log_bodies)))
            common = ("requests_per_window", "window_seconds", "log_bodies")
            extra = {key: value for key, value in body.items() if key not in common}
            current = self.configure_extra_limits(extra)
            shown = {"requests_per_window": limit, "window_seconds": seconds, "log_bodies": self.log_bodies}
            return Response(200, {**shown, **current})
        own = self.extra_control(request, action)
        if own is not None:
            return own
        return Response(404, {"message": f"unknown control call {request.method} {request.path}"})

    def is_legacy(self, request: Request) -> bool:
        """Whether the request uses an API generation the vendor has superseded (flagged in the request log)."""
        return False

    def extra_control(self, request: Request, action: str) -> Response | None:
        """A sandbox's own control calls (HubSpot: ``PUT /_sandbox/tokens``); None when `action` is not one."""
        return None

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def _pre_faults(self, request: Request) -> Response | str | None:
        """Faults that happen before the handler: 'reset', a 429 or a 5xx response, or None."""
        if self._chance(self.faults.reset_rate):
            return "reset"
        if time.monotonic() < self._burst_until:
            return self.too_many_requests(request)
        if self._chance(self.faults.rate_limit_burst):
            self._burst_until = time.monotonic() + self.faults.burst_seconds
            return self.too_many_requests(request)
        if self.faults.error_path in request.path and self._chance(self.faults.error_rate):
            return self.server_error(request)
        return None

    def serve(self, request: Request) -> tuple[Response | None, bool]:
        """Answer one request: (response or None for a reset connection, whether to drop the response)."""
        if request.path.startswith("/_sandbox/"):
            with self.lock:
                try:
                    return self.control(request), False
                except BadJson:
                    return self.bad_json(request), False
        with self.lock:  # logged on arrival (status None until answered), then the latency
            entry: JSON = {
                "method": request.method,
                "path": request.path,
                "query": {key: values[0] for key, values in request.query.items()},
                "timestamp": time.time(),
                "write": self.is_write(request),
                "legacy": self.is_legacy(request),
                "status": None,
                "body": _logged_body(request),
            }
            self.log.append(entry)
            self._trim_log()
        if self.faults.latency_ms > 0 and self.faults.slow_path in request.path:
            time.sleep(self.faults.latency_ms / 1000)
        with self.lock:
            fault = self._pre_faults(request)
            if fault == "reset":
                entry["fault"] = "reset"
                return None, False
            response = fault if isinstance(fault, Response) else self.rate_limit(request)
            if response is not None:
                entry["fault"] = "rate_limit" if response.status == 429 else "error"
            else:
                try:
                    response = self.dispatch(request)
                except BadJson:
                    response = self.bad_json(request)
            self.decorate(request, response)
            entry["status"] = response.status
            body = response.body
            if "trimmed" not in entry:  # log_bodies 0 trims an entry before its answer
                entry["response"] = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            drop = 200 <= response.status < 300 and self._chance(self.faults.drop_after_commit_rate)
            if drop:
                entry["fault"] = "dropped_after_commit"
            return response, self.answered(request, response, entry, drop)

    def answered(self, request: Request, response: Response, entry: JSON, drop: bool) -> bool:
        """After a request was answered (under the lock, with its log entry): whether to drop the answer. The
        latency before it is waited outside the lock, so requests in flight at once are answered at once."""
        return drop


def _logged_body(request: Request) -> Any:
    """The JSON body for the request log (None when absent or not JSON), any top-level key naming a token or a
    secret redacted (HubSpot's token-info call carries the token in its body); headers are never logged."""
    try:
        body = request.json()
    except BadJson:
        return None
    if not isinstance(body, dict):
        return body
    secret = ("token", "secret")
    return {key: "[redacted]" if any(word in key.lower() for word in secret) else value for key, value in body.items()}


def _abort(sock: socket.socket) -> None:
    """Close with RST so that the client sees a connection reset, as after a load-balancer failure."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out separately; without this, +40 ms per request

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=split.path.rstrip("/") or "/",
                query=parse_qs(split.query, keep_blank_values=True),
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
            )
            response, drop = sandbox.serve(request)
            if response is None or drop:
                self.close_connection = True
                _abort(self.connection)
                return
            raw = isinstance(response.body, bytes)  # a plain-text body (Slack's webhooks), sent as is
            payload = response.body if raw else b"" if response.body is None else json.dumps(response.body).encode()
            headers = dict(response.headers)
            content_type = headers.pop("Content-Type", "text/plain" if raw else "application/json")
            self.send_response(response.status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the request log is served by the control API."""

    return _Handler


class SandboxServer:
    """Serves a sandbox on host:port (0 picks a free port) from a background thread."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(sandbox))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=self.sandbox.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
