"""Item 5: `region` picks Intercom's documented regional host; `base_url` still wins (no network call)."""

from __future__ import annotations

import pytest

from healthsync.connector.engine import build_destination
from healthsync.connector.intercom.destination import IntercomDestination
from healthsync.connector.settings import Settings
from healthsync.mappings.loader import load_mapping
from tests.paths import ROOT
from tests.world import TOKENS


@pytest.mark.parametrize(
    ("region", "base_url", "host"),
    [
        ("us", None, "https://api.intercom.io"),
        ("eu", None, "https://api.eu.intercom.io"),
        ("au", None, "https://api.au.intercom.io"),
        ("eu", "http://127.0.0.1:8082", "http://127.0.0.1:8082"),
    ],
)
def test_region_selects_the_host(region: str, base_url: str | None, host: str) -> None:
    intercom = {"enabled": True, "region": region, **({"base_url": base_url} if base_url else {})}
    settings = Settings(destinations={"intercom": intercom}, config_dir=ROOT)
    mapping = load_mapping("intercom", "intercom", ROOT)
    destination = build_destination("intercom", settings, mapping, TOKENS)
    try:
        assert isinstance(destination, IntercomDestination)
        assert destination.client.base_url == host
    finally:
        destination.close()


def test_an_unknown_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="region"):
        Settings(destinations={"intercom": {"region": "apac"}})
