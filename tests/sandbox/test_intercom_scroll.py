"""The sandbox's company scroll follows Intercom's rules (sources in sandbox/intercom_scroll.py), over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from healthsync.sandbox.base import SandboxServer

HEADERS = {"Authorization": "Bearer test-token", "Intercom-Version": "2.14"}


@pytest.fixture
def raw(intercom: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=intercom.base_url, headers=HEADERS, timeout=5) as client:
        for n in range(40):
            client.post("/companies", json={"company_id": f"c{n:02d}", "name": f"C{n}"}).raise_for_status()
        yield client


def scroll(raw: httpx.Client, param: str | None = None) -> httpx.Response:
    return raw.get("/companies/scroll", params={"scroll_param": param} if param else None)


def code(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body["errors"][0]["code"])


def test_one_open_scroll_per_app_until_it_ends(raw: httpx.Client) -> None:
    first = scroll(raw)
    assert first.status_code == 200
    second = scroll(raw)
    assert (second.status_code, code(second)) == (400, "scroll_exists")
    param, seen = first.json()["scroll_param"], len(first.json()["data"])
    while True:
        page = scroll(raw, param)
        assert page.json()["scroll_param"] == param  # one parameter for the whole scroll
        seen += len(page.json()["data"])
        if not page.json()["data"]:
            break
    assert seen == 40
    assert scroll(raw, param).status_code == 404  # the end expired it
    assert scroll(raw).status_code == 200  # and a new scroll may open


def test_an_idle_scroll_expires(raw: httpx.Client, intercom: SandboxServer) -> None:
    raw.put(f"{intercom.base_url}/_sandbox/scroll", json={"expiry_seconds": 0.3})
    param = scroll(raw).json()["scroll_param"]
    assert scroll(raw).status_code == 400
    time.sleep(0.4)
    assert scroll(raw, param).status_code == 404
    assert scroll(raw).status_code == 200


def test_after_a_server_error_the_scroll_cannot_continue(raw: httpx.Client, intercom: SandboxServer) -> None:
    param = scroll(raw).json()["scroll_param"]
    raw.put(f"{intercom.base_url}/_sandbox/faults", json={"error_rate": 1})
    failed = scroll(raw, param)
    raw.put(f"{intercom.base_url}/_sandbox/faults", json={})
    assert failed.status_code == 500
    assert "restart the scroll" in failed.json()["errors"][0]["message"]
    assert scroll(raw, param).status_code == 404
    assert code(scroll(raw)) == "scroll_exists"  # still open until it expires


def test_resending_a_param_after_a_lost_answer_skips_that_page(raw: httpx.Client, intercom: SandboxServer) -> None:
    """Why the connector never does it: the lost page is gone without any error."""
    raw.put(f"{intercom.base_url}/_sandbox/scroll", json={"drop_page": 2})
    first = scroll(raw).json()
    param = first["scroll_param"]
    with pytest.raises(httpx.TransportError):
        scroll(raw, param)
    seen = {c["company_id"] for c in first["data"]}
    while page := scroll(raw, param).json()["data"]:
        seen |= {c["company_id"] for c in page}
    assert len(seen) == 40 - 15  # the lost page's fifteen companies never came back
