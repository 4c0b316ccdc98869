"""What healthsync says: log records and command messages, as readable lines or one JSON object per line.

On a terminal (stderr is a TTY) lines are for people; otherwise (containers, cron, pipes) every line on stdout and
stderr is one JSON object carrying `run_id` (null until a run has one). `--log-format text|json` overrides the
detection. Every line passes through one :class:`Redactor` first, built from the secrets the process holds, so no
token reaches a terminal, a log file or a `--debug` traceback, whatever exception text carries it.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TextIO
from urllib.parse import quote

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
REDACTED = "***"
_MIN_SECRET = 4  # shorter values are not tokens; redacting them would garble every line
_MIN_PIECE = 6
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "run_id"}


_DEFERRED_LOCK = threading.Lock()


class Redactor:
    """Replaces every held secret in a text, also as it appears in a repr, an escaped or a URL-quoted form."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._load: Callable[[], Iterable[str]] | None = None
        self._needles = self._needles_of(secrets)

    @classmethod
    def deferred(cls, load: Callable[[], Iterable[str]]) -> Redactor:
        """A redactor that reads its secrets on first use (so `--help` does not load the settings machinery)."""
        redactor = cls()
        redactor._load = load
        return redactor

    @staticmethod
    def _needles_of(secrets: Iterable[str]) -> list[str]:
        needles: set[str] = set()
        for secret in secrets:
            if len(secret.strip()) < _MIN_SECRET:
                continue
            needles |= {secret, secret.strip(), repr(secret)[1:-1], quote(secret, safe="")}
            needles |= {secret.encode("unicode_escape").decode("ascii")}
            # a token with a control character in it shows up in pieces (e.g. b'pat-\x01...')
            needles |= {piece for piece in _pieces(secret) if len(piece) >= _MIN_PIECE}
        return sorted((n for n in needles if len(n) >= _MIN_SECRET), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if self._load is not None:
            with _DEFERRED_LOCK:  # another thread must not redact with the needles half-loaded
                if self._load is not None:
                    self._needles = self._needles_of(self._load())
                    self._load = None
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """A JSON-ready value with every string in it redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value

    def exception(self, exc: BaseException) -> str:
        """`Type: message`, redacted."""
        return self(f"{type(exc).__name__}: {exc}")

    def traceback(self, exc: BaseException) -> str:
        return self("".join(traceback.format_exception(exc)).rstrip())


def _pieces(secret: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for char in secret:
        if ord(char) < 32 or ord(char) == 127 or char.isspace():
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return pieces


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LogContext:
    """One process's output settings: format, redactor, and the id of the run under way (once there is one)."""

    fmt: LogFormat = "text"
    debug: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    run_id: int | None = None
    _console: Any = field(default=None, repr=False)

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    def console(self) -> Any:
        """The one rich Console on stderr that log lines and progress bars share (text format)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    def line(self, level: str, event: str, message: str, fields: dict[str, Any] | None = None) -> str:
        """One JSON line (redacted)."""
        payload: dict[str, Any] = {"ts": _now(), "level": level, "event": event, "message": message}
        payload.update(fields or {})
        payload.setdefault("run_id", self.run_id)
        return json.dumps(self.redactor.value(payload), default=str)

    def say(self, message: str, *, event: str = "message", err: bool = False, **fields: Any) -> None:
        """A command's own output line: the text on a terminal, one JSON object otherwise."""
        if self.json:
            _write(sys.stderr if err else sys.stdout, self.line("error" if err else "info", event, message, fields))
        else:
            _write(sys.stderr if err else sys.stdout, self.redactor(message))

    def event(self, event: str, message: str, text_lines: Iterable[str] = (), **fields: Any) -> None:
        """A structured result (e.g. the run summary): one JSON object, or `text_lines` for people."""
        if self.json:
            _write(sys.stdout, self.line("info", event, message, fields))
        else:
            for text in text_lines:
                _write(sys.stdout, self.redactor(text))

    def fail(self, message: str, *, exit_code: int, exc: BaseException | None = None) -> None:
        """The one line an error gets on stderr (and, with --debug, its redacted traceback)."""
        trace = self.redactor.traceback(exc) if exc is not None and self.debug else None
        if self.json:
            fields: dict[str, Any] = {"exit_code": exit_code}
            if trace:
                fields["exception"] = trace
            _write(sys.stderr, self.line("error", "error", message, fields))
            return
        if trace:
            _write(sys.stderr, trace)
        _write(sys.stderr, self.redactor(message))


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


class ContextFilter(logging.Filter):
    """Stamps `run_id` on every record (learning it from the record that first carries one) and redacts it."""

    def __init__(self, context: LogContext) -> None:
        super().__init__()
        self.context = context

    def filter(self, record: logging.LogRecord) -> bool:
        run_id = record.__dict__.get("run_id")
        if isinstance(run_id, int):
            self.context.run_id = run_id
        record.run_id = self.context.run_id
        redact = self.context.redactor
        record.msg, record.args = redact(record.getMessage()), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact.traceback(record.exc_info[1])
            record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = redact.value(value)
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "event": "log", "logger", "message", "run_id", **extra}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": "log",
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
        }
        payload.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, default=str)


def is_terminal() -> bool:
    return sys.stderr.isatty()


def detect_format(explicit: str | None) -> LogFormat:
    """`--log-format` when given, else text on a terminal and JSON otherwise."""
    if explicit == "json" or (explicit is None and not is_terminal()):
        return "json"
    return "text"


def setup_logging(context: LogContext) -> None:
    """Configure the `healthsync` logger (and the root logger, for libraries and warnings) once per process."""
    handler: logging.Handler
    if context.json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        from rich.logging import RichHandler

        handler = RichHandler(console=context.console(), show_path=False, rich_tracebacks=False)
    handler.addFilter(ContextFilter(context))
    logger = logging.getLogger("healthsync")
    logger.handlers.clear()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if context.debug else logging.INFO)
    logger.propagate = False
    root = logging.getLogger()
    root.handlers.clear()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    threading.excepthook = _thread_failed  # a thread's traceback goes through the same handler (redacted, JSON)


def _thread_failed(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        failure = (args.exc_type, args.exc_value, args.exc_traceback)
        logging.getLogger("healthsync").error("a background thread failed", exc_info=failure)
