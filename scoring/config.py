"""The `scoring` section of the configuration: every number of SPEC section 3, with its default."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TierName = Literal["healthy", "neutral", "at_risk"]


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActivationStep(_Strict):
    """An onboarding step: an event seen at least `min_count` times in the `lookback_days` before as_of."""

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


class _Play(_Strict):
    enabled: bool = True


class MultiUserActivation(_Play):
    """A paying account in onboarding whose engagement is limited to a few users, not (fully) set up."""

    statuses: list[str] = Field(default_factory=lambda: ["paying"])
    max_tenure_days: int = Field(default=90, ge=0)
    min_active_users: int = Field(default=1, ge=0)
    max_active_users: int = Field(default=2, ge=0)
    activation_below: float = Field(default=70, ge=0, le=100)
    key_steps: list[int | str] | None = Field(
        default=None, description="activation steps (index or event) that must be complete; default: all"
    )
    team_plans: list[str] = Field(default_factory=lambda: ["team", "enterprise"])
    admin_roles: list[str] = Field(default_factory=lambda: ["admin"])
    trial_days: int = Field(default=14, ge=0, description="the first days after created_at; 0: no trial signal")


class NonActivation(_Play):
    min_tenure_days: int = Field(default=14, ge=0)
    activation_below: float = Field(default=40, ge=0, le=100)


class UsageLimit(_Strict):
    """A used / limit pair of columns (score columns or extra account columns)."""

    used: str = Field(min_length=1)
    limit: str = Field(min_length=1)
    label: str | None = Field(default=None, description='what is used, e.g. "seats"')


class ExpansionMilestone(_Play):
    statuses: list[str] = Field(default_factory=lambda: ["paying"])
    usage_at_least_pct: float = Field(default=80, gt=0)
    tiers: list[TierName] = Field(default_factory=lambda: list[TierName](["healthy", "neutral"]))
    limits: list[UsageLimit] = Field(
        default_factory=lambda: [UsageLimit(used="total_users", limit="seats_limit", label="seats")]
    )


class ChurnRisk(_Play):
    days_since_active: int = Field(default=30, ge=1)
    on_falling_trend: bool = True
    on_at_risk_tier: bool = True
    onboarding_days: int = Field(default=90, ge=0, description="at_risk counts only after this tenure")
    active_user_pct_below: float = Field(default=30, ge=0, le=100)
    min_users: int = Field(default=5, ge=1)


class WorkflowAdoption(_Play):
    """Needs `personas`; fires when key personas or key workflows are below target, or adoption shrinks."""

    key_personas_active_below_pct: float = Field(default=60, ge=0, le=100)
    workflows_in_use_below_pct: float = Field(default=60, ge=0, le=100)
    on_shrinking: bool = True
    shrinking_by: int = Field(default=1, ge=1, description="active users lost vs the previous window")
    min_tenure_days: int = Field(default=14, ge=0)


class Plays(_Strict):
    """The play flags of SPEC section 3, in the order they are reported."""

    skip_statuses: list[str] = Field(default_factory=lambda: ["churned"], description="accounts no play considers")
    multi_user_activation: MultiUserActivation = Field(default_factory=MultiUserActivation)
    non_activation_day_14: NonActivation = Field(default_factory=NonActivation)
    expansion_milestone: ExpansionMilestone = Field(default_factory=ExpansionMilestone)
    churn_risk: ChurnRisk = Field(default_factory=ChurnRisk)
    workflow_adoption: WorkflowAdoption = Field(default_factory=WorkflowAdoption)


class Workflow(_Strict):
    """A critical workflow of a persona: `event` done at least `min_count` times in the last `within_days` days."""

    name: str = Field(min_length=1)
    event: str = Field(min_length=1)
    min_count: int = Field(default=1, ge=1)
    within_days: int = Field(default=7, ge=1, le=3660)


class Persona(_Strict):
    """A role of the users table: how to name it, how many to expect per account, how often and what they do."""

    label: str = Field(min_length=1, description='singular, e.g. "rep", "sales manager"')
    plural: str | None = Field(default=None, description='e.g. "reps" (default: label + "s")')
    expected: int | None = Field(default=None, ge=0, description="head count per account; None: from users")
    key: bool = True
    weekly_target: float = Field(default=1.0, gt=0, le=1, description="share of the window's weeks active")
    workflows: list[Workflow] = Field(min_length=1, max_length=5)

    @property
    def plural_label(self) -> str:
        return self.plural or f"{self.label}s"


class Share(_Strict):
    """A share of events for the summary: `events` among `among` in the window (e.g. sequences in outbound touches)."""

    events: list[str] = Field(min_length=1)
    among: list[str] = Field(min_length=1)
    label: str = Field(min_length=1, description='what `among` is called, e.g. "outbound touches"')


class ScoringConfig(_Strict):
    """Defaults per SPEC section 3."""

    as_of: datetime | None = None
    window_days: int = Field(default=30, ge=1, le=3660)
    lookback_days: int = Field(
        default=400,
        ge=1,
        description="how far back before as_of the read looks for last active, the activation steps and the plays "
        "built on them; older events are not read (the windows always are)",
    )
    curve: float = Field(default=2.0, gt=0, le=50)
    default_weight: float = 0.0
    weights: dict[str, float] = Field(default_factory=dict)
    features: dict[str, list[str]] = Field(default_factory=dict)
    activation_steps: list[ActivationStep] = Field(default_factory=list)
    tiers: Tiers = Field(default_factory=Tiers)
    trend: Trend = Field(default_factory=Trend)
    account_score: Literal["sum", "mean_of_users"] = "sum"
    percentile: float = Field(default=90, gt=0, le=100, description="the raw-score percentile that maps to 100")
    plays: Plays = Field(default_factory=Plays)
    personas: dict[str, Persona] = Field(default_factory=dict, description="role -> persona")
    shares: dict[str, Share] = Field(default_factory=dict, description="name -> share of events, for the summary")

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

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

    @model_validator(mode="after")
    def _known_key_steps(self) -> ScoringConfig:
        self.key_step_indexes()
        return self

    def key_step_indexes(self) -> list[int]:
        """The activation steps that must be complete (plays.multi_user_activation.key_steps; default: all)."""
        chosen = self.plays.multi_user_activation.key_steps
        if chosen is None:
            return list(range(len(self.activation_steps)))
        events = [step.event for step in self.activation_steps]
        indexes = []
        for item in chosen:
            if isinstance(item, int) and 0 <= item < len(events):
                indexes.append(item)
            elif isinstance(item, str) and item in events:
                indexes.append(events.index(item))
            else:
                raise ValueError(
                    f"plays.multi_user_activation.key_steps: {item!r} is neither an index nor an event of "
                    f"activation_steps ({', '.join(events) or 'none configured'})"
                )
        return sorted(set(indexes))

    def workflows(self) -> list[tuple[str, Workflow]]:
        """Every persona's workflows as (role, workflow), in config order; the position is the workflow's index."""
        return [(role, flow) for role, persona in self.personas.items() for flow in persona.workflows]

    def needs_user_activity(self) -> bool:
        """Whether scoring the accounts reads per-user activity (mean_of_users, personas, or the admin-only signal)."""
        admins = self.plays.multi_user_activation.enabled and bool(self.plays.multi_user_activation.admin_roles)
        return self.account_score == "mean_of_users" or bool(self.personas) or admins

    def resolved_as_of(self, now: datetime | None = None) -> datetime:
        """`as_of`, or now (UTC) when it is not set."""
        return self.as_of or now or datetime.now(UTC)
