"""HubSpot's error shapes: one exception that renders as a whole-request error body or as one batch input's error.

A whole request fails with ``{"status": "error", "message", "correlationId", "category", ...}``; in a 207
Multi-Status batch response each failed input becomes a ``StandardError``
(``{"status", "category", "message", "context", "errors", "links"}``) whose ``context.objectWriteTraceId`` names
the input. Values in ``context`` are lists of strings, as HubSpot sends them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

VALIDATION_ERROR = "VALIDATION_ERROR"
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
CONFLICT = "CONFLICT"
OBJECT_ALREADY_EXISTS = "OBJECT_ALREADY_EXISTS"


@dataclass
class Problem:
    """One invalid property value, as HubSpot lists them in "Property values were not valid"."""

    code: str
    name: str
    message: str

    def detail(self) -> JSON:
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}

    def legacy(self) -> JSON:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


@dataclass
class ApiError(Exception):
    status: int
    category: str
    message: str
    errors: list[JSON] = field(default_factory=list)
    context: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def invalid_values(cls, problems: list[Problem]) -> ApiError:
        listed = json.dumps([problem.legacy() for problem in problems], separators=(",", ":"))
        return cls(
            400,
            VALIDATION_ERROR,
            f"Property values were not valid: {listed}",
            errors=[problem.detail() for problem in problems],
        )

    @classmethod
    def validation(cls, message: str, **context: list[str]) -> ApiError:
        return cls(400, VALIDATION_ERROR, message, context=dict(context))

    def body(self, correlation_id: str) -> JSON:
        """The body of a failed request."""
        body: JSON = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        }
        if self.errors:
            body["errors"] = self.errors
        if self.context:
            body["context"] = self.context
        return body

    def standard_error(self, trace_id: str | None = None) -> JSON:
        """The error of one input in a 207 Multi-Status response."""
        context = dict(self.context)
        if trace_id is not None:
            context["objectWriteTraceId"] = [trace_id]
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": self.errors,
            "links": {},
        }


def iso(epoch_seconds: float) -> str:
    """HubSpot's timestamp format: ISO 8601 in UTC with milliseconds, e.g. 2019-10-30T03:30:17.883Z."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
