"""What a run reads back from HubSpot about the records it remembers: bounded, and still finding drift (issue 25).

The state store remembers each record's HubSpot id and the values HubSpot acknowledged; the destination is the
truth. Reading every remembered record back on every run costs one batch read per 100 records (1,000 calls at
100,000 companies) although almost nothing changed. A run reads instead, per object type (companies, contacts):

1. **What changed in HubSpot since the last run**: one search (paged, 200 a page, on the search lane) for records
   whose `hs_lastmodifieddate` (contacts: `lastmodifieddate`) is at or after the instant the last run's search
   started, less `changed_overlap_minutes` (default 60: HubSpot documents no bound on how long a write takes to
   reach the search index; our clock and HubSpot's may also differ). A remembered record found there whose
   values differ from what the store holds (a value changed by hand, or by another integration) is diffed
   against HubSpot's values, so the run writes ours back; the values found are checkpointed, so a run that
   crashes before writing does not lose the finding. Our own writes of the last run are found too, and are
   equal: they cost search pages, not writes.
2. **Deleted or merged records**: a rotating re-verification reads 1/`verify_every_runs` of the remembered ids
   (default 7: every remembered record is read at least once every 7 runs, a week of daily runs), in id order
   from where the last run stopped, and every remembered record the run is about to write (its desired values
   differ from the store's) is read too, so no write goes to a record that is gone; a record gone is matched
   again (by the account-id property, then domain). A deleted record no longer shows in the search above; until
   its turn comes an unchanged one costs nothing (and nothing is written to it).
3. **Everything**, as before this module existed: every remembered record is read (a first run, a store from an
   earlier release, a store whose records were forgotten, `verify_every_runs: 1`), and whenever paging through
   the changes would take longer than reading every record at the configured rates (`searches_per_second`,
   `requests_per_10s`): right after a first sync, whose writes are all changes, or a scoring change that moved
   every score. HubSpot's search returns at most 10,000 results per query, so when more records changed the
   search goes on from the last change it saw (sorted by modification); only 10,000 changes within one
   millisecond fall back to reading everything.

Search and the rotating read also serve as the values of the records they return: no record is read twice.
The mark (`ReadMark`) is kept only by `run` (not `plan`, which must not consume a change it will not write).

Requests per object type of a rerun with N remembered records, C changed in HubSpot since the last run (ours
included) and W remembered records to write: max(1, ceil(C / 200)) searches + ceil((ceil(N / verify_every_runs)
+ W) / 100) batch reads (at most; a record in two of them is read once); or, when ceil(C / 200) searches take
longer than ceil(N / 100) batch reads at the configured rates, 1 search + ceil(N / 100) batch reads. Contacts are
planned in slices of users (`destinations.memory_mib`): the search and the rotation's window are the whole book's
(`Reads.begin`), the batch reads are each slice's (`Reads.slice`), so each slice rounds its reads up on its own (at
most one more batch read per slice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from healthsync.connector.hubspot.client import BATCH_SIZE, HubSpotClient
from healthsync.connector.sync.baseline import drifted, rotation
from healthsync.connector.sync.destination import SyncContext, chunks
from healthsync.connector.sync.values import same_hubspot_value
from healthsync.mappings.models import HubSpotField
from healthsync.state import ReadMark, RecordState

SEARCH_PAGE = 200
SEARCH_CAP = 10_000  # HubSpot's search returns at most 10,000 results per query
MODIFIED = {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}


@dataclass
class Remote:
    """What this run knows of the remembered records of one object type."""

    alive: dict[str, str]  # key -> remote id: not known to be gone
    dead: dict[str, str]  # key -> remote id: read this run and gone (deleted, or merged into another)
    current: dict[str, dict[str, str]] = field(default_factory=dict)  # remote id -> values read this run
    drifted: set[str] = field(default_factory=set)  # keys whose values in HubSpot differ from the store's
    mode: str = "all"  # "all" or "changed" (search + rotating sample)


@dataclass
class Reading:
    """One run's reads of one object type, begun over the whole book (`Reads.begin`) and served slice by slice."""

    object_type: str
    names: list[str]
    started: datetime  # the next run searches for changes from here
    window: set[str] | None  # remote ids the rotation verifies this run; None: every remembered record is read
    cursor: int  # where the next run's rotation starts
    changed: dict[str, dict[str, str]]  # remote id -> values of the records changed since the last run
    mode: str  # "all" or "changed"


def search_all(
    client: HubSpotClient, object_type: str, body: dict[str, Any], cap: int = SEARCH_CAP
) -> list[dict[str, Any]]:
    """The results of a search, paged (200 a page) until there are no more or `cap` results."""
    return pages(client, object_type, body, cap)[0]


def pages(
    client: HubSpotClient, object_type: str, body: dict[str, Any], cap: int = SEARCH_CAP, most: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """(results, total) of a search paged until there are no more or `cap` results; only the first page when its
    `total` is more than `most`."""
    results: list[dict[str, Any]] = []
    after: str | None = None
    total = 0
    while len(results) < cap:
        page = client.search(object_type, {**body, "limit": SEARCH_PAGE, **({"after": after} if after else {})})
        total = int(page.get("total") or 0)
        results += page.get("results") or []
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after or (most is not None and total > most):
            break
    return results, total


def wire(record: dict[str, Any], names: Sequence[str]) -> dict[str, str]:
    """A record's properties `names` in our wire format: text, "" for a value not set."""
    props = record.get("properties") or {}
    return {name: "" if props.get(name) is None else str(props[name]) for name in names}


class Reads:
    """The bounded reads of one destination (see the module docstring)."""

    def __init__(
        self,
        client: HubSpotClient,
        destination: str,
        verify_every_runs: int,
        overlap: timedelta,
        seconds_per: tuple[float, float] = (0.25, 0.1),
    ) -> None:
        self.client = client
        self.destination = destination
        self.every = verify_every_runs
        self.overlap = overlap
        self.search_seconds, self.read_seconds = seconds_per  # per search, per batch read, at the configured rates

    def remote(
        self,
        ctx: SyncContext,
        object_type: str,
        known: dict[str, RecordState],
        remembered: dict[str, str],
        fields: Sequence[HubSpotField],
        changing: set[str] | frozenset[str] = frozenset(),
    ) -> Remote:
        """Alive, dead and drifted remembered records of `object_type` (key -> remote id in `remembered`;
        `known`: the store's records of that type; `changing`: remote ids about to be written, read too): the
        whole book as one slice."""
        names = [f.property for f in fields]
        reading = self.begin(ctx, object_type, sorted(set(remembered.values())), names)
        remote = self.slice(reading, known, remembered, fields, changing)
        remote.current = reading.changed | remote.current  # a change to a record matched again is read already
        self.finish(ctx, reading)
        return remote

    def begin(self, ctx: SyncContext, object_type: str, ids: Sequence[str], names: list[str]) -> Reading:
        """The part of a run's reads that looks at the whole book (`ids`: every remembered remote id, sorted): the
        search for changes and the rotation's window. The rest is read slice by slice (`slice`)."""
        now = datetime.now(UTC)
        mark = ctx.store.read_mark(self.destination, object_type)
        changed = None
        if mark.changed_since is not None and self.every > 1:
            everything = math.ceil(len(ids) / BATCH_SIZE) * self.read_seconds  # reading every record, in seconds
            most = int(everything / self.search_seconds) * SEARCH_PAGE  # changes a search may page through
            changed = self._changed(object_type, mark.changed_since - self.overlap, names, most)
        if changed is None:
            return Reading(object_type, names, now, None, 0, {}, "all")
        window, cursor = rotation(ids, mark.verify_cursor, self.every)
        return Reading(object_type, names, now, set(window), cursor, changed, "changed")

    def slice(
        self,
        reading: Reading,
        known: Mapping[str, RecordState],
        remembered: dict[str, str],
        fields: Sequence[HubSpotField],
        changing: set[str] | frozenset[str] = frozenset(),
    ) -> Remote:
        """Alive, dead and drifted records of one slice of the book (`remembered`: its keys -> remote ids)."""
        here = sorted(set(remembered.values()))
        window = here if reading.window is None else [i for i in here if i in reading.window or i in changing]
        current = {i: reading.changed[i] for i in here if i in reading.changed}
        current |= self.read(reading.object_type, [i for i in window if i not in current], reading.names)
        looked = set(window) | set(current)
        dead = {key: rid for key, rid in remembered.items() if rid in looked and rid not in current}
        alive = {key: rid for key, rid in remembered.items() if key not in dead}
        types = {f.property: f.type for f in fields}

        def same(name: str, ours: Any, theirs: Any) -> bool:
            return same_hubspot_value(types[name], ours, theirs)

        drift = drifted(known, alive, current, reading.names, same)
        return Remote(alive, dead, current, drift, reading.mode)

    def finish(self, ctx: SyncContext, reading: Reading) -> None:
        """Keep where the next run's reads start (only `run` does: `plan` must not consume a change)."""
        if ctx.run_id is not None:
            ctx.store.mark_read(self.destination, reading.object_type, ReadMark(reading.started, reading.cursor))

    def _changed(
        self, object_type: str, since: datetime, names: list[str], most: int
    ) -> dict[str, dict[str, str]] | None:
        """remote id -> values of every record changed since `since`, oldest change first; None (then everything is
        read) when more than `most` changed (paging through them would take longer than reading every record), or
        when 10,000 records share one instant. A search returns at most 10,000 results, so past that the search
        starts again from the last change seen."""
        modified = MODIFIED[object_type]
        start = int(since.timestamp() * 1000)
        found: dict[str, dict[str, str]] = {}
        while True:
            where = {"propertyName": modified, "operator": "GTE", "value": str(start)}
            body = {
                "filterGroups": [{"filters": [where]}],
                "properties": [*names, modified],
                "sorts": [modified],  # 2026-09: sort names as strings, "-name" descending
            }
            page, total = pages(self.client, object_type, body, most=most - len(found))
            if total > most - len(found):
                return None
            found |= {str(record["id"]): wire(record, names) for record in page}
            if len(page) < SEARCH_CAP:
                return found
            last = _millis(str((page[-1].get("properties") or {}).get(modified) or ""))
            if last is None or last <= start:
                return None
            start = last

    def read(self, object_type: str, ids: Sequence[str], names: list[str]) -> dict[str, dict[str, str]]:
        """remote id -> `names` of the records among `ids` that exist (batch reads of 100; a merged id answers with
        the survivor's id, so it is not found under its own)."""
        found: dict[str, dict[str, str]] = {}
        for chunk in chunks(ids, BATCH_SIZE):
            for record in self.client.batch_read(object_type, list(chunk), None, names):
                found[str(record["id"])] = wire(record, names)
        return found


def _millis(text: str) -> int | None:
    """An instant HubSpot returned (ISO 8601, or epoch milliseconds) in epoch milliseconds."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)  # Python 3.11 reads a trailing Z
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
