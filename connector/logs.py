"""Logging: readable lines on a terminal, one JSON object per line otherwise (containers, cron)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from rich.logging import RichHandler

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """`{"ts": ..., "level": ..., "logger": ..., "message": ..., **extra}` per record."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info and record.levelno >= logging.ERROR:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def is_terminal() -> bool:
    return sys.stderr.isatty()


def setup_logging(debug: bool = False) -> None:
    """Configure the `healthsync` logger once per process; library loggers stay at WARNING."""
    logger = logging.getLogger("healthsync")
    logger.handlers.clear()
    handler: logging.Handler
    if is_terminal():
        handler = RichHandler(show_path=False, rich_tracebacks=debug)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
