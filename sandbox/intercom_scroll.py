"""GET /companies/scroll as Intercom runs it: one open scroll per app, a minute of idle life, restart after an error.

Sources:

- The 2.14 and 2.16 OpenAPI descriptions (``scrollOverAllCompanies``; intercom/Intercom-OpenAPI
  ``descriptions/2.14/api.intercom.io.yaml``, ``../shared/specs/intercom/api.intercom.io.yaml``): "Each app can only
  have 1 scroll open at a time. You'll get an error message if you try to have more than one open per app"; "If the
  scroll isn't used for 1 minute, it expires"; "If the end of the scroll is reached, companies will be empty and the
  scroll parameter will expire"; after a 500 "Please restart the scroll operation ... It is not possible to continue
  from a specific point when using scroll."
- intercom/intercom-ruby#292 ("Scroll already exists"): opening a second scroll answers HTTP 400 "scroll already
  exists for this app" until the open one has been idle for about a minute; there is no call that closes a scroll.

Guesses, emulated in their most conservative form:

- the error code of that 400 is ``scroll_exists`` (the Ruby thread shows only the message);
- every page of one scroll carries the same ``scroll_param``, so re-sending it after a lost answer returns the
  *next* page: the lost page is skipped without any error (that is what a client must never do);
- after a 5xx on a page the ``scroll_param`` is dead (404) but the scroll still counts as open (400
  ``scroll_exists`` for a new one) until it has been idle for the expiry;
- a 429 is refused before the scroll is touched, so the same ``scroll_param`` stays usable;
- a page holds ``SCROLL_PAGE_SIZE`` companies, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthsync.sandbox.intercom_store import JSON, IntercomError, IntercomStore

SCROLL_PAGE_SIZE = 15
SCROLL_EXPIRY_SECONDS = 60.0
RESTART_MESSAGE = "Request failed due to an internal network error. Please restart the scroll operation."


@dataclass
class OpenScroll:
    """The app's one open scroll: its parameter, how far it got, when it was last used, whether it broke."""

    param: str
    offset: int = 0
    used_at: float = 0.0
    pages: int = 0
    broken: bool = False


def scroll_exists() -> IntercomError:
    return IntercomError(400, "scroll_exists", "scroll already exists for this app")


def not_found_scroll() -> IntercomError:
    return IntercomError(404, "not_found", "scroll_param not found or expired; restart the scroll")


def current(store: IntercomStore, now: float, expiry: float) -> OpenScroll | None:
    """The open scroll, or None once it has been idle for `expiry` seconds (it then expires)."""
    scroll: OpenScroll | None = getattr(store, "scroll", None)
    if scroll is not None and now - scroll.used_at >= expiry:
        store.scroll = scroll = None
    return scroll


def page(store: IntercomStore, scroll_param: str | None, now: float, expiry: float) -> JSON:
    """One page: without `scroll_param` a new scroll opens (400 while another is open), else the next page."""
    scroll = current(store, now, expiry)
    if scroll_param is None:
        if scroll is not None:
            raise scroll_exists()
        scroll = store.scroll = OpenScroll(store.uuid())
    elif scroll is None or scroll.param != scroll_param or scroll.broken:
        raise not_found_scroll()
    scroll.used_at = now
    scroll.pages += 1
    ordered = store.companies_in_order()
    companies = ordered[scroll.offset : scroll.offset + SCROLL_PAGE_SIZE]
    scroll.offset += len(companies)
    if not companies:
        store.scroll = None  # the end was reached: the scroll parameter expires
    data = [store.render_company(c) for c in companies]
    return {"type": "list", "data": data, "pages": None, "total_count": None, "scroll_param": scroll.param}


def break_scroll(store: IntercomStore, scroll_param: str | None) -> None:
    """A page failed with a 5xx: that scroll cannot be continued (it stays open until it expires)."""
    scroll: OpenScroll | None = getattr(store, "scroll", None)
    if scroll is not None and scroll_param is not None and scroll.param == scroll_param:
        scroll.broken = True
