"""One settings object: the YAML config file, overridden by `HEALTHSYNC_*` environment variables.

The file is found as `--config`, else `$HEALTHSYNC_CONFIG`, else `./healthsync.yaml` (:func:`config_path`).
Precedence of values (highest first): environment variables (`HEALTHSYNC_SCORING__WINDOW_DAYS=14`), the YAML
file, the defaults below. Tokens (and the Slack webhook URL) are never part of the file: they come from the
environment or from secret files (`/run/secrets/hubspot_access_token`, `/run/secrets/slack_webhook_url`) through
:class:`Secrets`, stripped of surrounding whitespace; an empty token or one with a control character counts as
missing (:meth:`Secrets.token`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from healthsync.errors import AuthError, ConfigError
from healthsync.mappings.loader import is_file_reference, shipped_mappings
from healthsync.scoring.config import ScoringConfig
from healthsync.yamlfile import YamlDocument, dotted, load_yaml, pydantic_message

ENV_PREFIX = "HEALTHSYNC_"
CONFIG_ENV = "HEALTHSYNC_CONFIG"
DEFAULT_CONFIG = "healthsync.yaml"
SECRETS_DIR = Path("/run/secrets")
DEFAULT_LOCK_TTL_SECONDS = 60
_UNSENDABLE = re.compile(r"[^\x21-\x7e]")  # a token is printable ASCII without spaces: anything else breaks the header
_SECRET_KEY = re.compile(r"token|secret|password|api_?key|webhook", re.IGNORECASE)
LEASE_REQUESTS = 2  # the lease must outlive this many request timeouts (one in flight, one renewal to spare)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableColumns(_Strict):
    """Logical column name -> the column name in the source, per table (only the ones that differ)."""

    events: dict[str, str] = Field(default_factory=dict)
    accounts: dict[str, str] = Field(default_factory=dict)
    users: dict[str, str] = Field(default_factory=dict)
    outcomes: dict[str, str] = Field(default_factory=dict)


# The SQL dialects the pushdown is generated and tested for (README "Sources"). MySQL/MariaDB, MSSQL, Trino and
# Oracle are refused: their epoch, floor and bit-mask spellings are not implemented or tested.
SUPPORTED_DIALECTS = ("bigquery", "clickhousedb", "databricks", "duckdb", "postgresql", "snowflake", "sqlite")


class SourceConfig(_Strict):
    kind: Literal["sql", "files", "segment"] = "files"
    preset: Literal["posthog", "amplitude", "mixpanel", "segment"] | None = Field(
        default=None,
        description="the export layout of the events: posthog, amplitude or mixpanel (kind files: the export's "
        "own column names, JSON keys and duplicates; source.columns.events overrides them), or segment (the same "
        "as kind segment)",
    )
    url: str | None = Field(default=None, description="SQLAlchemy URL (kind sql or segment)")
    events: str | None = Field(default=None, description="table name, SELECT, or file path/glob")
    accounts: str | None = None
    users: str | None = None
    outcomes: str | None = Field(
        default=None,
        description="outcomes table for `healthsync backtest` (account_id, outcome, occurred_at, optional value): "
        "a table name, SELECT, or file path/glob like the other three",
    )
    schema_: str | None = Field(default=None, alias="schema", description="database schema of the tables")
    columns: TableColumns = Field(default_factory=TableColumns)
    encoding: Literal["utf-8", "utf-16", "latin-1"] = Field(
        default="utf-8",
        description="text encoding of CSV files (kind files; a UTF-8 byte-order mark is tolerated); a UTF-8 line "
        "that does not decode is rejected as csv_invalid_encoding, naming file and line",
    )
    max_rejected_share: float = Field(default=0.1, ge=0, le=1)
    sample_rows: int = Field(default=5, ge=0, le=100)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("url")
    @classmethod
    def _supported_dialect(cls, url: str | None) -> str | None:
        """A SQLAlchemy URL of a supported dialect (the message never repeats the URL: it may hold a password)."""
        if url is None:
            return url
        try:
            backend = sa.engine.make_url(url).get_backend_name()
        except sa.exc.ArgumentError:
            raise ValueError("not a SQLAlchemy URL (dialect://user@host/database)") from None
        if backend not in SUPPORTED_DIALECTS:
            raise ValueError(f"dialect {backend!r} is not supported (supported: {', '.join(SUPPORTED_DIALECTS)})")
        return url

    @model_validator(mode="after")
    def _preset_fits_the_kind(self) -> SourceConfig:
        """A preset reads its own kind: segment the warehouse schema (kind segment), the others export files."""
        if self.preset is None:
            return self
        kind: Literal["files", "segment"] = "segment" if self.preset == "segment" else "files"
        if "kind" in self.model_fields_set and self.kind != kind:
            raise ValueError(f"preset {self.preset} reads kind {kind} (got kind {self.kind}; leave kind out)")
        self.kind = kind
        return self


class StateConfig(_Strict):
    url: str = "sqlite:///healthsync-state.db"
    lock_ttl_seconds: int = Field(default=DEFAULT_LOCK_TTL_SECONDS, ge=10)
    history_runs: int = Field(default=90, ge=1, le=100_000, description="runs of score history kept per account")

    @field_validator("url")
    @classmethod
    def _parses(cls, url: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(url)
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL (expected e.g. sqlite:///healthsync-state.db or postgresql+psycopg://user@host/db)"
            ) from None
        return url


class DestinationConfig(_Strict):
    enabled: bool = False
    mapping: str
    base_url: str | None = None
    timeout_seconds: float = Field(default=30, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=20)
    max_retry_seconds: float = Field(default=120, gt=0)

    @field_validator("mapping")
    @classmethod
    def _known_mapping(cls, reference: str) -> str:
        """A bare name must be a shipped default; a file is anything with a slash or a .yaml/.yml suffix."""
        if is_file_reference(reference):
            return reference
        shipped = shipped_mappings()
        if reference not in shipped:
            raise ValueError(
                f"no default mapping named {reference!r} (defaults: {', '.join(shipped)}; "
                "a file of your own needs a .yaml suffix or a path, e.g. mappings/hubspot.yaml)"
            )
        return reference


class HubSpotConfig(DestinationConfig):
    mapping: str = "hubspot"
    create_companies: bool = False
    complete_cleared_tasks: bool = True
    requests_per_10s: int = Field(default=100, ge=1)
    searches_per_second: int = Field(
        default=4, ge=1, description="search requests per second; the portal allows 5, shared by every app"
    )
    delivery_bound_seconds: float | None = Field(
        default=None,
        ge=0,
        description="seconds after which a task create whose answer was lost can no longer reach HubSpot; "
        "default: state.lock_ttl_seconds + timeout_seconds",
    )
    api_version: str = Field(
        default="2026-09",
        pattern=r"^\d{4}-\d{2}$",
        description="HubSpot's date-based API version in every path (/crm/objects/2026-09/...)",
    )
    verify_every_runs: int = Field(
        default=7,
        ge=1,
        description="each run re-reads 1/N of the remembered companies and contacts to find the ones deleted or "
        "merged in HubSpot (every record within N runs); records changed in HubSpot are found by a search every "
        "run; 1 reads every remembered record on every run",
    )
    changed_overlap_minutes: int = Field(
        default=60,
        ge=0,
        description="the search for records changed in HubSpot starts this long before the last run's search "
        "(HubSpot's search index lags behind writes by an undocumented delay; clocks differ)",
    )


class IntercomConfig(DestinationConfig):
    mapping: str = "intercom"
    region: Literal["us", "eu", "au"] = Field(
        default="us", description="Intercom's regional API host (us, eu, au); base_url, when set, wins"
    )
    requests_per_10s: int = Field(
        default=833,
        ge=1,
        description="client-side limit per 10-second window; Intercom allows 10,000 calls a minute per app in "
        "10-second windows (1,666): the default leaves half to the workspace's other integrations, and "
        "X-RateLimit-Remaining/Reset are honoured as they arrive",
    )
    api_version: str = Field(default="2.14", pattern=r"^\d+\.\d+$")
    concurrent_requests: int = Field(
        default=4,
        ge=1,
        le=16,
        description="company updates in flight at once (Intercom updates companies one call each, no batch "
        "endpoint), all within requests_per_10s; 1 sends them one at a time",
    )
    verify_every_runs: int = Field(
        default=7,
        ge=1,
        description="contact tags: each run searches 1/N of the contacts it remembers (every one within N runs), "
        "plus the new users and those whose tag changes; 1 searches every user on every run",
    )


class SlackConfig(DestinationConfig):
    """Slack alerts; the incoming-webhook URL is a secret (SLACK_WEBHOOK_URL), never part of the file."""

    mapping: str = "slack"
    messages_per_minute: int = Field(
        default=60,
        ge=1,
        le=600,
        description="evenly spaced, no burst (60: one a second, what Slack documents for posting); a 429 is "
        "waited out as its Retry-After says",
    )

    @field_validator("base_url")
    @classmethod
    def _no_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("Slack takes no base_url: the webhook URL (SLACK_WEBHOOK_URL, a secret) names the host")
        return value


USERS_PER_MIB = 25  # users a slice plans per MiB of `destinations.memory_mib`
DEFAULT_MEMORY_MIB = 2048
DEFAULT_SLICE_USERS = DEFAULT_MEMORY_MIB * USERS_PER_MIB


class Destinations(_Strict):
    hubspot: HubSpotConfig = Field(default_factory=HubSpotConfig)
    intercom: IntercomConfig = Field(default_factory=IntercomConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    concurrent: bool = Field(
        default=True,
        description="sync HubSpot and Intercom at the same time (each in its own thread, within its own rate "
        "limits), then Slack; false: one destination after the other",
    )
    memory_mib: int = Field(
        default=DEFAULT_MEMORY_MIB,
        ge=256,
        description="the memory (MiB) a run aims to stay within: users are planned in slices of memory_mib x 25 "
        "(51,200 by default); the run summary reports the peak and a warning when the peak went past it",
    )

    plan_slice_users: int | None = Field(
        default=None, ge=1, description="users planned at a time; default memory_mib x 25 (set it to test slicing)"
    )

    def slice_users(self) -> int:
        """Users planned at a time: `plan_slice_users`, else `memory_mib` x 25 (README "Sync semantics")."""
        return self.plan_slice_users or self.memory_mib * USERS_PER_MIB

    def by_name(self, *, enabled_only: bool = False) -> dict[str, DestinationConfig]:
        """Every destination's settings by name (only the enabled ones with `enabled_only`)."""
        configs: dict[str, DestinationConfig] = {
            "hubspot": self.hubspot,
            "intercom": self.intercom,
            "slack": self.slack,
        }
        return {name: config for name, config in configs.items() if config.enabled or not enabled_only}


class Settings(BaseSettings):
    """The whole configuration (SPEC section 7)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    source: SourceConfig = Field(default_factory=SourceConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    destinations: Destinations = Field(default_factory=Destinations)
    config_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    config_file: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment wins over it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _lease_outlives_a_request(self) -> Settings:
        """A write that passed the fence must end (or time out) before the lease could lapse."""
        ttl = self.state.lock_ttl_seconds
        for name, config in self.destinations.by_name(enabled_only=True).items():
            if ttl < LEASE_REQUESTS * config.timeout_seconds:
                raise ValueError(
                    f"state.lock_ttl_seconds ({ttl}) must be at least {LEASE_REQUESTS} x "
                    f"destinations.{name}.timeout_seconds ({config.timeout_seconds:g}): the lease is renewed while "
                    "a call is in flight and every retry attempt is fenced, but one request must fit in the lease"
                )
        return self

    def delivery_bound(self) -> float:
        """Seconds after an ambiguous HubSpot create before a marker lookup may trust "not found" (README: Tasks)."""
        hub = self.destinations.hubspot
        bound = hub.delivery_bound_seconds
        return float(self.state.lock_ttl_seconds + hub.timeout_seconds) if bound is None else bound

    def fence_margin(self) -> float:
        """Seconds of proven lease a write needs: the longest request timeout of the enabled destinations."""
        return max((c.timeout_seconds for c in self.destinations.by_name(enabled_only=True).values()), default=0.0)

    def resolved_state_url(self) -> str:
        """The state URL; a relative SQLite file path is taken relative to the config file's folder."""
        url = self.state.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
            return prefix + str(self.resolve(url.removeprefix(prefix)))
        return url

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.config_dir / candidate


class Secrets(BaseSettings):
    """Tokens: from the environment or from files in /run/secrets; never printed, logged or stored.

    Surrounding whitespace is stripped when they are loaded (a secret file often ends with a newline).
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    hubspot_access_token: SecretStr | None = None
    intercom_access_token: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None

    @field_validator("*", mode="after")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return SecretStr(value.get_secret_value().strip()) if isinstance(value, SecretStr) else value

    @classmethod
    def load(cls, secrets_dir: Path = SECRETS_DIR) -> Secrets:
        if secrets_dir.is_dir():
            return cls(_secrets_dir=secrets_dir)  # type: ignore[call-arg]
        return cls()

    def token(self, destination: str) -> str:
        """The access token of `destination`; AuthError (exit 5) when it is missing, empty or unusable."""
        env = f"{destination.upper()}_ACCESS_TOKEN"
        where = f"set {env} or mount /run/secrets/{env.lower()}"
        secret = getattr(self, f"{destination}_access_token", None)
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else ""
        if not value:
            raise AuthError(f"{destination}: no access token ({env} is missing or empty); {where}")
        bad = _UNSENDABLE.search(value)
        if bad is not None:
            kind = "a control character" if ord(bad.group()) < 32 or ord(bad.group()) == 127 else "a character"
            raise AuthError(
                f"{destination}: the access token in {env} contains {kind} that cannot be sent in a header "
                f"(at position {bad.start() + 1} of {len(value)}); {where} with the token alone"
            )
        return value

    def values(self) -> list[str]:
        """Every secret value held, for redaction (see `healthsync.connector.logs.Redactor`)."""
        found = [getattr(self, name) for name in type(self).model_fields]
        return [secret.get_secret_value() for secret in found if isinstance(secret, SecretStr)]


def _env_name(loc: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in loc)


def _env_origin(loc: tuple[str | int, ...]) -> str | None:
    """The environment variable that set `loc` (or one of its parents), if any."""
    for end in range(len(loc), 0, -1):
        name = _env_name(loc[:end])
        if name in os.environ:
            return name
    return None


def _describe(error: dict[str, Any], doc: YamlDocument | None) -> str:
    loc = tuple(error["loc"])
    last = str(loc[-1]) if loc else ""
    message = pydantic_message(error, "unknown key (check the spelling; see `healthsync init` for every key)")
    if error["type"] == "extra_forbidden" and _SECRET_KEY.search(last):
        message = (
            "tokens and secrets never go in the file: they come from the environment (HUBSPOT_ACCESS_TOKEN, "
            "INTERCOM_ACCESS_TOKEN) or from files in /run/secrets; remove this key"
        )
    elif "input" in error and not isinstance(error["input"], dict | list) and not _secretive(loc):
        message = f"{message} (got {error['input']!r})"
    env = _env_origin(loc)
    if env is not None:
        return f"environment variable {env}: {dotted(loc)}: {message}"
    return doc.problem(loc, message) if doc is not None else f"defaults: {dotted(loc)}: {message}"


def _secretive(loc: tuple[str | int, ...]) -> bool:
    """Keys whose values are never echoed in an error (URLs may carry a password)."""
    return any(_SECRET_KEY.search(str(part)) or str(part).endswith("url") for part in loc)


def config_path(explicit: str | Path | None = None) -> Path:
    """The config file: `--config`, else `$HEALTHSYNC_CONFIG`, else `./healthsync.yaml`; ConfigError if none."""
    if explicit:
        named = Path(explicit)
        if not named.is_file():
            raise ConfigError(f"{named}: no such configuration file (given with --config)")
        return named
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        named = Path(from_env)
        if not named.is_file():
            raise ConfigError(f"{named}: no such configuration file (named by ${CONFIG_ENV})")
        return named
    local = Path(DEFAULT_CONFIG)
    if local.is_file():
        return local
    raise ConfigError(
        f"no configuration file found: looked for --config (not given), ${CONFIG_ENV} (not set) and "
        f"{Path.cwd() / DEFAULT_CONFIG} (not there); write one with `healthsync init`"
    )


def load_settings(path: str | Path | None = None) -> Settings:
    """Find, load and validate the configuration; every problem is reported at once as a ConfigError."""
    file = config_path(path)
    doc = load_yaml(file)
    data: dict[str, Any] = dict(doc.data)
    data["config_dir"] = file.parent.resolve()
    data["config_file"] = file.resolve()
    try:
        return Settings(**data)
    except ValidationError as exc:
        lines = [_describe(dict(error), doc) for error in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def config_json_schema() -> str:
    """The JSON Schema of healthsync.yaml (draft 2020-12), for editors through yaml-language-server."""
    import json

    schema = Settings.model_json_schema(by_alias=True)
    for internal in ("config_dir", "config_file"):
        schema.get("properties", {}).pop(internal, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "healthsync configuration (healthsync.yaml)"
    return json.dumps(schema, indent=2, sort_keys=False)
