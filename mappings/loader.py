"""Find and validate a mapping: a default shipped in this package, or a YAML file of the user's."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from healthsync.errors import ConfigError
from healthsync.mappings.models import HubSpotMapping, IntercomMapping, SlackMapping
from healthsync.mappings.template import placeholders
from healthsync.yamlfile import YamlDocument, load_yaml, pydantic_message


class _Destination(Protocol):
    @property
    def mapping(self) -> str: ...


class _Destinations(Protocol):
    def by_name(self, *, enabled_only: bool = False) -> Mapping[str, _Destination]: ...


class Configured(Protocol):
    """What :func:`load_mappings` needs of the settings (`healthsync.connector.settings.Settings` is one); a
    protocol, so that the mappings never import the connector above them."""

    @property
    def config_dir(self) -> Path: ...

    @property
    def destinations(self) -> _Destinations: ...


M = TypeVar("M", bound=BaseModel)
MODELS: dict[str, type[BaseModel]] = {"hubspot": HubSpotMapping, "intercom": IntercomMapping, "slack": SlackMapping}


def is_file_reference(reference: str) -> bool:
    """The one rule of a mapping reference: a slash or a .yaml/.yml suffix names a file of the user's (relative
    to the config); a bare name (`hubspot`) names a mapping shipped in this package."""
    return "/" in reference or "\\" in reference or reference.endswith((".yaml", ".yml"))


def shipped_mappings() -> list[str]:
    """The names of the mappings shipped in this package (`hubspot`, `intercom`, `slack`)."""
    folder = resources.files("healthsync.mappings")
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def mapping_path(reference: str, config_dir: Path) -> Path:
    """`hubspot` -> the shipped default; anything with a suffix or a slash -> a file relative to the config."""
    if not is_file_reference(reference):
        if reference not in shipped_mappings():
            defaults = ", ".join(shipped_mappings())
            raise ConfigError(f"mapping {reference!r}: no default mapping of that name (defaults: {defaults})")
        return Path(str(resources.files("healthsync.mappings") / f"{reference}.yaml"))
    path = Path(reference).expanduser()
    return path if path.is_absolute() else config_dir / path


def validate_document(doc: YamlDocument, model: type[M]) -> M:
    """Validate a parsed mapping; every problem is listed with file, line and key."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        lines = [doc.problem(tuple(error["loc"]), pydantic_message(error)) for error in exc.errors()]
        raise ConfigError("invalid mapping:\n  " + "\n  ".join(lines)) from None


def load_mapping(
    destination: str, reference: str, config_dir: Path, columns: dict[str, set[str]] | None = None
) -> BaseModel:
    """Load the mapping of `destination`; with `columns` (per section), every mapped score column must exist."""
    doc = load_yaml(mapping_path(reference, config_dir))
    mapping = validate_document(doc, MODELS[destination])
    if columns is not None:
        _check_columns(doc, mapping, columns)
    return mapping


def _check_columns(doc: YamlDocument, mapping: BaseModel, columns: dict[str, set[str]]) -> None:
    problems = []
    for section, known in columns.items():
        part = getattr(mapping, section, None)
        for index, field in enumerate(getattr(part, "fields", [])):
            if field.column not in known:
                loc = (section, "fields", index, "column")
                problems.append(doc.problem(loc, f"unknown score column {field.column!r}"))
    problems += _check_tasks(doc, mapping, columns.get("companies", set()))
    problems += _check_rules(doc, mapping, columns.get("companies", set()))
    if problems:
        raise ConfigError("invalid mapping:\n  " + "\n  ".join(problems))


TASK_VALUES = {"play", "reasons", "period"}


def _check_tasks(doc: YamlDocument, mapping: BaseModel, columns: set[str]) -> list[str]:
    """Task templates may only name score columns and the task's own values."""
    problems = []
    for index, rule in enumerate(getattr(mapping, "tasks", [])):
        for part in ("subject", "body"):
            unknown = sorted(set(placeholders(getattr(rule, part))) - columns - TASK_VALUES)
            if unknown:
                problems.append(doc.problem(("tasks", index, part), f"unknown placeholder {', '.join(unknown)}"))
    return problems


ALERT_VALUES = {"rule", "previous_tier", "previous_score", "drop", "play", "reasons"}


def _check_rules(doc: YamlDocument, mapping: BaseModel, columns: set[str]) -> list[str]:
    """Slack rules may filter on and name score columns only (and, in text, the alert's own values)."""
    problems = []
    for index, rule in enumerate(getattr(mapping, "rules", [])):
        for column in sorted(set(rule.where) - columns):
            at = doc.where(("rules", index, "where", column))
            problems.append(f"{at}: rules.{index}.where: unknown score column {column!r}")
        unknown = sorted(set(placeholders(rule.text)) - columns - ALERT_VALUES)
        if unknown:
            problems.append(doc.problem(("rules", index, "text"), f"unknown placeholder {', '.join(unknown)}"))
    for index, rule in enumerate(getattr(mapping, "tasks", [])):
        if rule.escalate is not None and rule.escalate.column not in columns:
            loc = ("tasks", index, "escalate", "column")
            problems.append(doc.problem(loc, f"unknown score column {rule.escalate.column!r}"))
    return problems


def score_columns() -> dict[str, set[str]]:
    """The score columns a mapping may name, per mapping section."""
    from healthsync.scoring.names import ACCOUNT_COLUMNS, USER_COLUMNS

    return {"companies": set(ACCOUNT_COLUMNS), "contacts": set(USER_COLUMNS)}


def load_mappings(settings: Configured, *, every: bool = False) -> dict[str, Any]:
    """Every enabled (or, with `every`, every configured) destination's mapping, validated before any call."""
    return {
        name: load_mapping(name, config.mapping, settings.config_dir, score_columns())
        for name, config in settings.destinations.by_name(enabled_only=not every).items()
    }
