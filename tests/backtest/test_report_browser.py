"""The HTML report in a real headless browser: Debian's chromium, driven by selenium through chromedriver.

Skipped with the reason where chromium or chromedriver is missing (a laptop), failed instead under CI (`CI` set):
.ci/run installs both. Nothing reaches the network: every host name resolves to nothing, and the test reads the
browser's own network log to prove the page asked for no URL but its own file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healthsync.connector.backtest.report import render_html
from tests.backtest.report_data import result

pytestmark = pytest.mark.slow

CHROMIUM = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "chromedriver")
# One per chart: the ROC curve, the tier mix, and per outcome rate by decile and by tier; churn's weights.
CHARTS = 7


def _which(candidates: tuple[str, ...]) -> str | None:
    return next((found for name in candidates if (found := shutil.which(name))), None)


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, chromedriver = _which(CHROMIUM), _which(CHROMEDRIVER)
    if chromium is None or chromedriver is None:
        missing = "chromium" if chromium is None else "chromedriver"
        reason = f"{missing} not found: apt-get install chromium chromium-driver (Debian)"
        if _under_ci():
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND")  # no page can reach any host
    options.add_argument("--window-size=1280,2000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "backtest.html"
    path.write_text(render_html(result()), encoding="utf-8")
    browser.get(path.as_uri())
    return path


def test_the_charts_drew_with_a_size_and_shapes(browser: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By

    charts = browser.find_elements(By.CSS_SELECTOR, "svg")
    assert len(charts) == CHARTS
    for chart in charts:
        assert chart.rect["width"] > 100
        assert chart.rect["height"] > 100
        shapes = chart.find_elements(By.CSS_SELECTOR, "path")
        assert len(shapes) > 10  # axes, ticks, bars or curves, and the text drawn as paths
    boxes = browser.execute_script(
        "return Array.from(document.querySelectorAll('svg path')).map(p => p.getBBox().width + p.getBBox().height)"
    )
    assert sum(1 for size in boxes if size > 0) > 100


def test_the_page_logged_no_error(browser: Any, page: Path) -> None:
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_the_page_asked_for_nothing_but_itself(browser: Any, page: Path) -> None:
    requested = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.add(message["params"]["request"]["url"])
    assert requested == {page.as_uri()}


def test_the_escaped_text_stays_text(browser: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By

    assert browser.find_elements(By.CSS_SELECTOR, "script") == []
    assert "Acme <script>alert('x')</script>" in browser.find_element(By.TAG_NAME, "body").text
