"""What a sync will do (or did), per destination: provisioning, record changes field by field, tags, tasks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update", "unchanged", "unmatched", "ambiguous"]


@dataclass(slots=True)  # slots: a plan holds one per record, a million contacts at a time
class RecordPlan:
    """One account (or user) at one destination object type."""

    object_type: str
    key: str
    action: Action
    remote_id: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (acknowledged, desired)
    note: str = ""
    truncated: tuple[str, ...] = ()  # fields whose desired value was cut to the destination's length limit

    @property
    def desired(self) -> dict[str, Any]:
        return {name: new for name, (_, new) in self.changes.items()}


@dataclass
class TagPlan:
    """Tag `tag` is added to `add` and removed from `remove` (keys -> remote ids) of `object_type` records."""

    tag: str
    add: dict[str, str] = field(default_factory=dict)
    remove: dict[str, str] = field(default_factory=dict)
    object_type: str = "companies"


@dataclass
class Provision:
    """One provisioning step (a property, group or data attribute to create or extend) and its request body."""

    object_type: str
    action: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.object_type}: {self.action} {self.name}"


@dataclass
class DestinationPlan:
    destination: str
    provisioning: list[Provision] = field(default_factory=list)
    records: list[RecordPlan] = field(default_factory=list)
    tags: list[TagPlan] = field(default_factory=list)
    tasks: list[Any] = field(default_factory=list)  # destination-specific task plans (HubSpot: TaskPlan)
    # object type -> records left unchanged and not listed in `records` (contacts: a million of them)
    unchanged: Counter[str] = field(default_factory=Counter)

    def planned(self) -> int:
        """Records planned: listed, and unchanged but not listed."""
        return len(self.records) + sum(self.unchanged.values())

    def kinds(self) -> Counter[tuple[str, str]]:
        """(object type, action) -> records, the unlisted unchanged ones included."""
        kinds: Counter[tuple[str, str]] = Counter((record.object_type, record.action) for record in self.records)
        kinds.update({(object_type, "unchanged"): n for object_type, n in self.unchanged.items()})
        return kinds

    def counts(self) -> dict[str, int]:
        counter = Counter({f"{object_type}.{action}": n for (object_type, action), n in self.kinds().items()})
        counter["tags.add"] = sum(len(tag.add) for tag in self.tags)
        counter["tags.remove"] = sum(len(tag.remove) for tag in self.tags)
        counter["provisioning"] = len(self.provisioning)
        for task in self.tasks:
            counter[f"tasks.{task.action}"] += 1
        return dict(sorted(counter.items()))

    def writes(self) -> list[RecordPlan]:
        return [record for record in self.records if record.action in ("create", "update")]

    def render(self) -> list[str]:
        """Plain lines for `healthsync plan`: counts, then every change field by field."""
        lines = [f"{self.destination}: " + ", ".join(f"{k} {v}" for k, v in self.counts().items() if v)]
        lines += [f"  provision: {item}" for item in self.provisioning]
        for record in self.records:
            if record.action in ("unmatched", "ambiguous"):
                lines.append(f"  {record.object_type} {record.key}: {record.action} {record.note}".rstrip())
            elif record.action != "unchanged":
                target = record.remote_id or "new"
                lines.append(f"  {record.object_type} {record.key} ({record.action} {target}):")
                lines += [f"    {name}: {_show(old)} -> {_show(new)}" for name, (old, new) in record.changes.items()]
        for tag in self.tags:
            kind = "" if tag.object_type == "companies" else f"{tag.object_type} "
            lines += [f"  tag {tag.tag!r} + {kind}{key}" for key in sorted(tag.add)]
            lines += [f"  tag {tag.tag!r} - {kind}{key}" for key in sorted(tag.remove)]
        for task in self.tasks:
            where = getattr(task, "target", "")
            line = f"  task {task.action} {task.identity}" + (f": {task.subject}" if task.subject else "")
            lines.append(line + (f" ({where})" if where and task.action != "complete" else ""))
        return lines


def _show(value: Any) -> str:
    """`(none)` for a value not set (None, or HubSpot's empty string), else the value's repr."""
    return "(none)" if value is None or value == "" else repr(value)


@dataclass
class SyncCounts:
    """What one destination did in one run; every planned record lands in exactly one bucket."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unmatched: int = 0
    ambiguous: int = 0
    retried: int = 0
    tagged: int = 0
    untagged: int = 0
    tasks_created: int = 0
    tasks_completed: int = 0
    tasks_unconfirmed: int = 0  # task creates whose outcome is unknown: reconciled by marker on a later run
    gone: int = 0  # records deleted at the destination between plan and write (reported, skipped)
    truncated: int = 0  # values written cut to the destination's length limit (Intercom: 255 characters)
    scroll_waits: int = 0  # Intercom: broken company scrolls waited out (a minute each) before a new one
    alerts_sent: int = 0
    alerts_unconfirmed: int = 0
    calls: int = 0

    @classmethod
    def of_unwritten(cls, plan: DestinationPlan) -> SyncCounts:
        """Counts that start from the records a plan leaves alone: unchanged, unmatched, ambiguous."""
        counts = cls(unchanged=sum(plan.unchanged.values()))
        for record in plan.records:
            if record.action in ("unchanged", "unmatched", "ambiguous"):
                setattr(counts, record.action, getattr(counts, record.action) + 1)
        return counts

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def diff(acknowledged: dict[str, Any], desired: dict[str, Any], *, full: bool) -> dict[str, tuple[Any, Any]]:
    """Fields whose desired value differs from what the destination last acknowledged (all with `full`)."""
    return {
        name: (acknowledged.get(name), value)
        for name, value in desired.items()
        if full or name not in acknowledged or acknowledged[name] != value
    }
