"""Reading every company once per plan without the cliff: scroll, then the paged listing, never one read per company.

Intercom allows one open company scroll per app; a second one answers 400 `scroll_exists` until the open one has
been idle for a minute, and after an error a scroll cannot be continued, only restarted (see
`sandbox/intercom_scroll.py` for the sources). Restarting it from the beginning under a fault rate that breaks one
page in ten never reaches the end of a large workspace, and falling back to `GET /companies?company_id=` costs one
call per account, each exposed to the same faults. So, in this order:

1. **The scroll**, once. A page is sent once (a `scroll_param` is never re-sent after a lost answer: that would
   silently skip a page); only a 429, refused before the scroll moved, is waited out and sent again. What a broken
   scroll already returned is kept.
2. **The paged listing** (`GET /companies?page=N&per_page=60`) for the rest: it has no cursor, so each page is an
   ordinary read retried by the one retry policy, and it does not compete for the one open scroll. Intercom returns
   only the first 10,000 companies this way (2.16 OpenAPI, `listAllCompanies`), so it completes only for a
   workspace of at most 10,000 companies.
3. **Waiting out the broken scroll** (a workspace above 10,000 companies): the documented one-minute expiry, bounded
   (`SCROLL_RESTARTS`), logged and counted (`scroll_waits`, `waited_seconds`), then a new scroll, keeping what every
   earlier one returned.
4. **One read per company** only for what is still missing when that is a handful (at most `HANDFUL`, or 1% of the
   accounts); more than that stops the run before any write (a DestinationError, exit 1) instead of turning a
   fault into thousands of calls.

When the scroll or the listing reached its end, an account it did not return has no company in Intercom.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from healthsync.connector.intercom.client import JSON, IntercomClient
from healthsync.errors import DestinationError, RejectedRecordError, RetriableError

log = logging.getLogger("healthsync.intercom")
LIST_PAGE = 60  # the most companies one listing page holds
LIST_LIMIT = 10_000  # the paged listing returns at most this many companies
SCROLL_EXPIRY_SECONDS = 60.0  # a scroll idle this long expires (documented); we wait a little longer
SCROLL_RESTARTS = 2
HANDFUL = 10
KEPT = ("id", "company_id", "custom_attributes", "tags")  # what matching and the plan read of a listed company


@dataclass
class ListingStats:
    """How the companies were read, for the log and the run summary."""

    strategy: str = "scroll"
    scroll_waits: int = 0
    waited_seconds: float = 0.0
    single_reads: int = 0
    notes: list[str] = field(default_factory=list)


class CompanyListing:
    """The companies Intercom holds for a set of account ids (`company_id`s), with their attributes and tags."""

    def __init__(self, client: IntercomClient, *, scroll_expiry: float = SCROLL_EXPIRY_SECONDS) -> None:
        self.client = client
        self.scroll_expiry = scroll_expiry
        self.stats = ListingStats()
        self._found: dict[str, JSON] = {}

    def by_company_id(self, keys: list[str]) -> dict[str, JSON]:
        wanted = set(keys)
        complete = self._scroll()
        if not complete:
            complete = self._listing()
        restarts = 0
        while not complete and restarts < SCROLL_RESTARTS and self._missing(wanted):
            restarts += 1
            self._wait_for_expiry()
            complete = self._scroll()
        if not complete:
            self._one_by_one(sorted(self._missing(wanted)), len(keys))
        return {key: company for key, company in self._found.items() if key in wanted}

    def _missing(self, wanted: set[str]) -> set[str]:
        return wanted - set(self._found)

    def _keep(self, companies: list[JSON]) -> None:
        """Keep what a plan reads of each company (`KEPT`), not its whole JSON: 100,000 companies at a time."""
        for company in companies:
            if company.get("company_id") is not None:
                self._found[str(company["company_id"])] = {name: company.get(name) for name in KEPT}

    # -- 1. the scroll -----------------------------------------------------------------------------------
    def _scroll(self) -> bool:
        """One scroll from the beginning, keeping every page it returns; whether it reached the end."""
        scroll_param: str | None = None
        try:
            while True:
                items, following = self._page(scroll_param)
                self._keep(items)
                if not items or not following:
                    return True
                scroll_param = following
        except (RetriableError, RejectedRecordError) as exc:
            self.stats.notes.append(f"scroll broken: {exc}")
            log.warning("company scroll broken; keeping what it returned", extra=self._extra(exc))
            return False

    def _page(self, scroll_param: str | None) -> tuple[list[JSON], str | None]:
        policy = self.client.policy
        for _ in range(policy.max_attempts):
            try:
                return self.client.scroll_page(scroll_param)
            except RetriableError as exc:
                if exc.status != 429 or scroll_param is None:
                    raise
                policy.sleep(exc.retry_after or policy.initial_wait)  # refused before the scroll moved
        raise RetriableError("Intercom scroll companies: rate limited on every attempt")

    # -- 2. the paged listing ----------------------------------------------------------------------------
    def _listing(self) -> bool:
        """Every page of `GET /companies`; whether it returned every company of the workspace."""
        self.stats.strategy = "scroll+listing"
        page, pages, total = 1, 1, 0
        try:
            while page <= pages and (page - 1) * LIST_PAGE < LIST_LIMIT:
                items, pages, total = self.client.companies_page(page, LIST_PAGE)
                self._keep(items)
                page += 1
        except (RetriableError, RejectedRecordError) as exc:
            self.stats.notes.append(f"listing failed: {exc}")
            log.warning("company listing failed", extra=self._extra(exc))
            return False
        if total > LIST_LIMIT:
            self.stats.notes.append(f"listing stops at {LIST_LIMIT} of {total} companies")
            return False
        return True

    # -- 3. waiting out the broken scroll ----------------------------------------------------------------
    def _wait_for_expiry(self) -> None:
        seconds = self.scroll_expiry + 1.0
        self.stats.strategy = "scroll+listing+rescroll"
        self.stats.scroll_waits += 1
        self.stats.waited_seconds += seconds
        log.warning(
            "waiting for the broken company scroll to expire before a new one",
            extra={"destination": "intercom", "seconds": seconds, "wait": self.stats.scroll_waits},
        )
        self.client.policy.sleep(seconds)

    # -- 4. a handful, one by one ------------------------------------------------------------------------
    def _one_by_one(self, keys: list[str], accounts: int) -> None:
        allowed = max(HANDFUL, accounts // 100)
        if len(keys) > allowed:
            raise DestinationError(
                f"Intercom companies could not be read: {len(keys)} of {accounts} accounts were returned neither "
                f"by the scroll nor by the listing ({'; '.join(self.stats.notes)}); nothing was written, run again"
            )
        for key in keys:
            self.stats.single_reads += 1
            company = self.client.company_by_company_id(key)
            if company is not None:
                self._found[key] = company

    @staticmethod
    def _extra(exc: Exception) -> dict[str, object]:
        return {"destination": "intercom", "error": str(exc)}
