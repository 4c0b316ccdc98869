"""The `scoring` section of the configuration: every number of SPEC section 3, with its default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivationStep(_Strict):
    """An onboarding step: an event seen at least `min_count` times (ever, up to as_of)."""

    event: str = Field(min_length=1)
    min_count: int = Field(default=1, ge=1)


class Tiers(_Strict):
    healthy: float = Field(default=70, ge=1, le=100)
    at_risk: float = Field(default=30, ge=1, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Tiers:
        if self.at_risk > self.healthy:
            raise ValueError("at_risk must not be above healthy")
        return self


class Trend(_Strict):
    rising: float = Field(default=10, gt=0, description="score change at or above which the trend is rising")
    falling: float = Field(default=-10, lt=0, description="score change at or below which it is falling")


class ScoringConfig(_Strict):
    """Defaults per SPEC section 3."""

    as_of: datetime | None = None
    window_days: int = Field(default=30, ge=1, le=3660)
    curve: float = Field(default=2.0, gt=0, le=50)
    default_weight: float = 0.0
    weights: dict[str, float] = Field(default_factory=dict)
    features: dict[str, list[str]] = Field(default_factory=dict)
    activation_steps: list[ActivationStep] = Field(default_factory=list)
    tiers: Tiers = Field(default_factory=Tiers)
    trend: Trend = Field(default_factory=Trend)
    account_score: Literal["sum", "mean_of_users"] = "sum"
    percentile: float = Field(default=90, gt=0, le=100, description="the raw-score percentile that maps to 100")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _one_feature_per_event(self) -> ScoringConfig:
        owner: dict[str, str] = {}
        for feature, events in self.features.items():
            for event in events:
                if event in owner:
                    raise ValueError(
                        f"event {event!r} is in features {owner[event]!r} and {feature!r}; "
                        "an event belongs to at most one feature"
                    )
                owner[event] = feature
        return self

    def resolved_as_of(self, now: datetime | None = None) -> datetime:
        """`as_of`, or now (UTC) when it is not set."""
        return self.as_of or now or datetime.now(UTC)
