"""The backtest's HTML report: one self-contained page from the backtest result (`--format html`).

The page opens offline: no script, stylesheet, font or image is fetched; the charts are matplotlib figures inlined
as SVG (`charts.py`, extra `backtest`), every other value is escaped text. matplotlib is imported only when a
report is rendered, so the base install runs without it.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

from healthsync.errors import HealthsyncError

EXTRA_HINT = "pip install 'healthsync[backtest]'"
OUTCOME_ORDER = ("churn", "expansion")
MAX_MISSES = 100
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; } .muted { color: #666; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.charts svg { max-width: 100%; height: auto; }
pre { background: #f5f5f5; padding: .5rem; overflow-x: auto; }
"""
COVERAGE_NOTE = "share of churned accounts that were at_risk at some snapshot 30-90 days before they churned"


def render_html(result: Mapping[str, Any]) -> str:
    """The whole report as one HTML document (a string), from the backtest result dict."""
    charts = _charts()
    outcomes = _ordered(result.get("outcomes") or {})
    body = [
        f"<h1>{_e('healthsync backtest')}</h1>",
        _overview(result, outcomes),
        _roc_section(charts, outcomes),
        _tier_mix_section(charts, result.get("tier_mix") or []),
        *(_outcome_section(charts, name, data) for name, data in outcomes.items()),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e('healthsync backtest report')}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _charts() -> ModuleType:
    """The chart module, or an error that says how to install what it needs."""
    try:
        charts = importlib.import_module("healthsync.connector.backtest.charts")
    except ImportError as exc:
        raise HealthsyncError(
            f"the HTML report needs matplotlib, which is not installed ({exc.name or exc}): {EXTRA_HINT}"
        ) from exc
    return charts


def _ordered(outcomes: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    names = [name for name in OUTCOME_ORDER if name in outcomes] + sorted(set(outcomes) - set(OUTCOME_ORDER))
    return {name: outcomes[name] for name in names if outcomes[name]}


def _overview(result: Mapping[str, Any], outcomes: Mapping[str, Mapping[str, Any]]) -> str:
    snapshots = [str(snapshot) for snapshot in result.get("snapshots") or []]
    span = f"{snapshots[0]} to {snapshots[-1]}" if snapshots else "none"
    facts = [
        ("snapshots", f"{len(snapshots)} ({span})"),
        ("every", _days(result.get("every_days"))),
        ("horizon", _days(result.get("horizon_days"))),
        ("outcomes", ", ".join(outcomes) or "none"),
    ]
    rows = [(_e(key), _e(value)) for key, value in facts]
    intro = (
        "The score table replayed as of each snapshot from the events before it (no look-ahead), "
        "joined to what happened within the horizon."
    )
    return f'<p class="muted">{_e(intro)}</p>\n' + _table(("", ""), rows, header=False)


def _roc_section(charts: ModuleType, outcomes: Mapping[str, Mapping[str, Any]]) -> str:
    curves = {
        name: {**data["roc"], "auc": data.get("auc")}
        for name, data in outcomes.items()
        if (data.get("roc") or {}).get("fpr")
    }
    if not curves:
        return "<h2>ROC curve</h2>\n<p>No ROC curve: no outcome had both positives and negatives.</p>"
    note = "For churn a lower score should mean more risk; for expansion a higher score should mean more likely."
    figure = charts.svg(charts.roc(curves), "roc")
    return f'<h2>ROC curve</h2>\n<p class="muted">{_e(note)}</p>\n<div class="charts">{figure}</div>'


def _tier_mix_section(charts: ModuleType, rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<h2>Tier mix</h2>\n<p>No snapshots.</p>"
    figure = charts.svg(charts.tier_mix(rows), "tier-mix")
    table = _table(
        ("snapshot", "healthy", "neutral", "at_risk"),
        [(_e(row.get("snapshot")), *(_n(row.get(tier)) for tier in charts.TIERS)) for row in rows],
    )
    return f'<h2>Tier mix over the snapshots</h2>\n<div class="charts">{figure}</div>\n{table}'


def _outcome_section(charts: ModuleType, name: str, data: Mapping[str, Any]) -> str:
    parts = [
        f"<h2>{_e(name.capitalize())}</h2>",
        _summary(name, data),
        _rate_charts(charts, name, data),
        _tiers(data.get("by_tier") or {}),
        _plays(data.get("plays") or {}),
        _suggestion(charts, name, data),
        _misses(name, data.get("misses") or []) if name == "churn" or data.get("misses") else "",
    ]
    return f'<section id="{_e(name)}">\n' + "\n".join(part for part in parts if part) + "\n</section>"


def _summary(name: str, data: Mapping[str, Any]) -> str:
    auc = data.get("auc")
    interval = data.get("auc_ci") or []
    auc_text = "n/a (no positives)" if auc is None else _f(auc)
    if auc is not None and len(interval) == 2:
        auc_text += f" (95% CI {_f(interval[0])} to {_f(interval[1])})"
    facts = [
        ("pairs (account, snapshot)", _n(data.get("pairs"))),
        (f"positives ({name} within the horizon)", _n(data.get("positives"))),
        ("base rate", _pct(data.get("base_rate"))),
        ("ROC AUC of the score", auc_text),
        ("ROC AUC of total users alone (size check)", _f(data.get("size_auc"))),
        ("rate falls monotonically by decile", _yes_no(data.get("monotonic"))),
    ]
    if name == "churn" or data.get("coverage") is not None:
        facts.append((f"coverage ({COVERAGE_NOTE})", _pct(data.get("coverage"))))
    return _table(("", ""), [(_e(key), _e(value)) for key, value in facts], header=False)


def _rate_charts(charts: ModuleType, name: str, data: Mapping[str, Any]) -> str:
    base = data.get("base_rate")
    figures = []
    if data.get("by_decile"):
        figures.append(charts.svg(charts.rate_by_decile(name, data["by_decile"], base), f"{name}-decile"))
    if data.get("by_tier"):
        figures.append(charts.svg(charts.rate_by_tier(name, data["by_tier"], base), f"{name}-tier"))
    if not figures:
        return "<p>No rates: no pairs.</p>"
    return '<div class="charts">' + "".join(figures) + "</div>"


def _tiers(by_tier: Mapping[str, Mapping[str, Any]]) -> str:
    if not by_tier:
        return ""
    rows = [(_e(tier), *_rate_cells(stats)) for tier, stats in by_tier.items()]
    return "<h3>By tier</h3>\n" + _table(("tier", "pairs", "positives", "rate", "lift"), rows)


def _plays(plays: Mapping[str, Mapping[str, Any]]) -> str:
    if not plays:
        return ""
    rows = [(_e(play), *_rate_cells(stats)) for play, stats in plays.items()]
    return "<h3>Plays against the outcome</h3>\n" + _table(("play", "pairs", "positives", "rate", "lift"), rows)


def _rate_cells(stats: Mapping[str, Any]) -> tuple[str, str, str, str]:
    lift = stats.get("lift")
    return (
        _n(stats.get("pairs")),
        _n(stats.get("positives")),
        _pct(stats.get("rate")),
        _f(lift) + "x" * (lift is not None),
    )


def _suggestion(charts: ModuleType, name: str, data: Mapping[str, Any]) -> str:
    suggested = data.get("suggested")
    if not suggested:
        reason = data.get("suggestion_note") or "no suggestion was computed"
        return f"<h3>Configured vs suggested</h3>\n<p>No suggestion: {_e(reason)}</p>"
    configured = suggested.get("configured_weights") or {}
    weights = suggested.get("weights") or {}
    facts = [
        ("held-out AUC, configured weights", _f(suggested.get("configured_holdout_auc"))),
        ("held-out AUC, suggested weights", _f(suggested.get("holdout_auc"))),
    ]
    facts += [(f"suggested {tier} threshold", _n(value)) for tier, value in (suggested.get("tiers") or {}).items()]
    events = _events(configured, weights)
    rows = [(_e(event), _e(_f(configured.get(event))), _e(_f(weights.get(event)))) for event in events]
    parts = [
        "<h3>Configured vs suggested</h3>",
        '<p class="muted">A suggestion only: nothing is applied until you paste it into the configuration.</p>',
        _table(("", ""), [(_e(key), _e(value)) for key, value in facts], header=False),
    ]
    if weights or configured:
        parts.append(f'<div class="charts">{charts.svg(charts.weights(configured, weights), f"{name}-weights")}</div>')
        parts.append(_table(("event", "configured", "suggested"), rows))
    if suggested.get("weights_yaml"):
        parts.append(f"<pre>{_e(suggested['weights_yaml'])}</pre>")
    return "\n".join(parts)


def _events(configured: Mapping[str, Any], suggested: Mapping[str, Any]) -> list[str]:
    """Every event of either set, the largest suggested weights first (the chart's order)."""
    return sorted({**configured, **suggested}, key=lambda event: -abs(float(suggested.get(event) or 0)))


def _misses(name: str, misses: Sequence[Mapping[str, Any]]) -> str:
    what = "accounts that churned while healthy" if name == "churn" else f"{name} the score did not foresee"
    title = f"<h3>Misses: {_e(what)}</h3>"
    if not misses:
        return f"{title}\n<p>None: no account churned within the horizon of a snapshot where it was healthy.</p>"
    rows = [
        (
            _e(miss.get("account_id")),
            _e(miss.get("name")),
            _e(miss.get("snapshot")),
            _e(miss.get("occurred_at")),
            _n(miss.get("health_score")),
            _e(miss.get("score_reasons")),
        )
        for miss in misses[:MAX_MISSES]
    ]
    more = f"<p>and {len(misses) - MAX_MISSES} more (see the JSON output).</p>" if len(misses) > MAX_MISSES else ""
    headers = ("account", "name", "snapshot", f"{name} at", "score", "last explanation (score_reasons)")
    return f"{title}\n{_table(headers, rows)}{more}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, header: bool = True) -> str:
    """An HTML table; `headers` are plain text, the cells already escaped."""
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>\n" if header else ""
    body = "".join("<tr>" + "".join(_cell(cell) for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n{head}{body}</table>"


def _cell(cell: str) -> str:
    numeric = cell.lstrip("-").replace(".", "").replace("%", "").replace("x", "").replace(",", "").isdigit()
    return f'<td class="num">{cell}</td>' if numeric else f"<td>{cell}</td>"


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _n(value: object) -> str:
    return "n/a" if value is None else _e(f"{value:,}" if isinstance(value, int) else value)


def _f(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def _days(value: object) -> str:
    return "n/a" if value is None else f"{value} days"


def _yes_no(value: object) -> str:
    return "n/a" if value is None else ("yes" if value else "no")
