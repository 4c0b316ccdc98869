"""The backtest's HTML report as a document: self-contained, escaped, complete, and honest about what is missing."""

from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest

from healthsync.connector.backtest.report import render_html
from healthsync.errors import HealthsyncError
from tests.backtest.report_data import HOSTILE, churn_only_without_positives, result

# Anything a browser would fetch: a remote src/href (xlink:href too), a CSS url() or @import, any script file.
NETWORK = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import|<script[^>]*\bsrc\b""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(result())


def test_the_page_references_nothing_on_the_network(page: str) -> None:
    assert NETWORK.search(page) is None
    assert "<script" not in page
    # The only URLs left are the SVG namespace names, which a browser never fetches.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert len(re.findall(r"https?://", page)) == len(re.findall(r'xmlns(?::xlink)?="https?://', page))


def test_the_network_check_catches_what_it_should() -> None:
    for reference in (
        '<script src="https://cdn.example/plotly.js">',
        "<link href='//fonts.example/css'>",
        "body { background: url( https://img.example/x.png) }",
        '@import "x.css";',
        '<use xlink:href="http://example.com/s.svg#a"/>',
    ):
        assert NETWORK.search(reference), reference


def test_every_chart_is_an_inline_svg_without_prologue(page: str) -> None:
    assert page.count("<svg") == 7
    assert "<?xml" not in page
    assert "<!DOCTYPE svg" not in page
    assert "<metadata" not in page  # matplotlib's creator/date block (a link to matplotlib.org) is left out
    ids = re.findall(r'<clipPath id="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # the charts share one page: their clip paths must not collide


def test_text_from_the_data_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "<script>" not in page
    assert html.escape(f"Acme {HOSTILE}") in page


def test_the_page_shows_each_part_the_issue_asks_for(page: str) -> None:
    for text in (
        "ROC curve",
        "Tier mix over the snapshots",
        "churn rate by score decile",
        "churn rate by health tier",
        "coverage (share of churned accounts",
        "60.0%",
        "0.71 (95% CI 0.65 to 0.77)",
        "Configured vs suggested",
        "lead_enrolled: 4.2",
        "Misses: accounts that churned while healthy",
        "lead_enrolled 40 x 3 = 120 (55%)",
        "No suggestion: fewer than 30 positives (12): no suggestion",
        "expansion_milestone",
    ):
        assert html.escape(text) in page, text
    assert page.index('<section id="churn">') < page.index('<section id="expansion">')


def test_the_weights_table_lists_every_configured_and_suggested_event(page: str) -> None:
    table = page[page.index("<th>event</th>") :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]+)</td>", table)
    assert rows[:3] == ["lead_enrolled", "call_logged", "report_viewed"]  # the largest suggested weights first
    assert set(rows) == {
        "lead_enrolled",
        "call_logged",
        "report_viewed",
        html.escape(f"odd{HOSTILE}"),
        "meeting_scheduled",
    }


def test_the_same_result_renders_the_same_page(page: str) -> None:
    assert render_html(result()) == page


def test_an_outcome_without_positives_says_so_instead_of_drawing() -> None:
    page = render_html(churn_only_without_positives())
    assert "n/a (no positives)" in page
    assert "No ROC curve: no outcome had both positives and negatives." in page
    assert "No suggestion: no positives: no suggestion" in page
    assert '<section id="expansion">' not in page
    assert page.count("<svg") == 3  # the tier mix, and churn's rate by decile and by tier


def test_without_the_extra_the_report_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an install without matplotlib sees
    monkeypatch.delitem(sys.modules, "healthsync.connector.backtest.charts", raising=False)
    with pytest.raises(HealthsyncError, match=re.escape("pip install 'healthsync[backtest]'")):
        render_html(result())


def test_the_base_install_imports_without_the_extra() -> None:
    code = (
        "import sys\n"
        "for name in ('matplotlib', 'sklearn', 'scipy'):\n"
        "    sys.modules[name] = None\n"
        "import healthsync.connector.cli, healthsync.connector.backtest.report, healthsync.connector.demo.runner\n"
        "print('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "imported"
