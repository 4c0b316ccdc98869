"""Reading every company once per plan: the company scroll, one at a time, never resumed after an error.

Intercom allows one open company scroll per app; a second one answers 400 `scroll_exists` until the open one has
been idle for about a minute, and after an error a scroll cannot be continued, only restarted (see
`sandbox/intercom_scroll.py` for the sources). So:

- a page is sent once; a `scroll_param` is never re-sent after a lost answer (that would silently skip a page);
  only a 429, which Intercom refuses before touching the scroll, is waited out and sent again;
- any other failure restarts the scroll from the beginning, through the one retry policy: its backoff (about a
  minute over the default attempts) waits out a `scroll_exists` left by our own broken scroll or by a `plan`
  running next to a `run`;
- when the retry budget is spent, the companies are read one by one by `company_id`.
"""

from __future__ import annotations

import logging

from healthsync.connector.errors import RejectedRecordError, RetriableError
from healthsync.connector.intercom.client import JSON, IntercomClient

log = logging.getLogger("healthsync.intercom")


class CompanyListing:
    """The companies Intercom holds for a set of account ids (`company_id`s), with their attributes and tags."""

    def __init__(self, client: IntercomClient) -> None:
        self.client = client
        self.scrolled = False  # whether the scroll succeeded (else per-company reads were used)

    def by_company_id(self, keys: list[str]) -> dict[str, JSON]:
        wanted = set(keys)
        try:
            companies = self.client.policy.call(self._scroll)
        except RetriableError as exc:
            log.warning(
                "company scroll unavailable; reading companies one by one",
                extra={"destination": "intercom", "error": str(exc), "companies": len(keys)},
            )
            return self._one_by_one(keys)
        self.scrolled = True
        return {str(c["company_id"]): c for c in companies if str(c.get("company_id")) in wanted}

    def _scroll(self) -> list[JSON]:
        """One whole scroll from the beginning; RetriableError restarts it (through the retry policy)."""
        found: list[JSON] = []
        scroll_param: str | None = None
        while True:
            items, following = self._page(scroll_param)
            found += items
            if not items or not following:
                return found
            scroll_param = following

    def _page(self, scroll_param: str | None) -> tuple[list[JSON], str | None]:
        policy = self.client.policy
        for _ in range(policy.max_attempts):
            try:
                return self.client.scroll_page(scroll_param)
            except RetriableError as exc:
                if exc.status != 429 or scroll_param is None:
                    raise
                policy.sleep(exc.retry_after or policy.initial_wait)  # refused before the scroll moved
            except RejectedRecordError as exc:
                if exc.status == 404 and scroll_param is not None:
                    raise RetriableError("Intercom scroll companies: the scroll expired; restarting") from exc
                raise
        raise RetriableError("Intercom scroll companies: rate limited on every attempt")

    def _one_by_one(self, keys: list[str]) -> dict[str, JSON]:
        found: dict[str, JSON] = {}
        for key in keys:
            company = self.client.company_by_company_id(key)
            if company is not None:
                found[key] = company
        return found
