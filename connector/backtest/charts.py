"""The backtest report's charts: matplotlib figures rendered to inline SVG (extra `backtest`).

No pyplot and no global state: each chart is its own `Figure`, rendered by the SVG backend. Text is drawn as paths
(`svg.fonttype: path`), so the page needs no font; each chart gets its own hash salt, so the ids inside the SVGs
are stable from run to run and do not collide when several SVGs share one page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

TIERS = ("healthy", "neutral", "at_risk")
TIER_COLOURS = {"healthy": "#2e8b57", "neutral": "#c9a227", "at_risk": "#c0392b"}
OUTCOME_COLOURS = {"churn": "#c0392b", "expansion": "#2a6fb0"}
SIZE = (5.4, 3.4)
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)  # the XML declaration and the DOCTYPE (it names a remote DTD)


def svg(figure: Figure, name: str) -> str:
    """The figure as an `<svg>` element for inline use: no prologue, no metadata, stable ids."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": f"healthsync-{name}", "svg.image_inline": True}):
        figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return _PROLOGUE.sub("", buffer.getvalue(), count=1).strip()


def _axes(title: str, size: tuple[float, float] = SIZE) -> tuple[Figure, Axes]:
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def roc(curves: Mapping[str, Mapping[str, Any]]) -> Figure:
    """One ROC curve per outcome: `{"churn": {"fpr": [...], "tpr": [...], "auc": 0.71 | None}}`."""
    figure, axes = _axes("ROC curve of the health score", (4.6, 4.2))
    axes.plot([0, 1], [0, 1], linestyle="--", color="#999999", linewidth=1, label="chance (AUC 0.50)")
    for outcome, curve in curves.items():
        auc = curve.get("auc")
        label = f"{plain(outcome)} (AUC {auc:.2f})" if auc is not None else plain(outcome)
        axes.plot(curve["fpr"], curve["tpr"], color=OUTCOME_COLOURS.get(outcome), linewidth=2, label=label)
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate", ylabel="true positive rate")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    return figure


def rate_by_decile(outcome: str, deciles: Sequence[Mapping[str, Any]], base_rate: float | None) -> Figure:
    """The outcome rate per score decile (1 = the lowest scores), with the base rate as a line."""
    figure, axes = _axes(f"{plain(outcome)} rate by score decile (1 = lowest scores)")
    labels = [str(row["decile"]) for row in deciles]
    axes.bar(labels, [_percent(row.get("rate")) for row in deciles], color=OUTCOME_COLOURS.get(outcome, "#555555"))
    _base_line(axes, base_rate)
    axes.set(xlabel="score decile", ylabel=f"{plain(outcome)} rate (%)")
    return figure


def rate_by_tier(outcome: str, tiers: Mapping[str, Mapping[str, Any]], base_rate: float | None) -> Figure:
    """The outcome rate per health tier, with the base rate as a line."""
    figure, axes = _axes(f"{plain(outcome)} rate by health tier")
    names = [tier for tier in TIERS if tier in tiers] + [tier for tier in tiers if tier not in TIERS]
    rates = [_percent(tiers[tier].get("rate")) for tier in names]
    axes.bar([plain(tier) for tier in names], rates, color=[TIER_COLOURS.get(tier, "#555555") for tier in names])
    _base_line(axes, base_rate)
    axes.set(xlabel="tier at the snapshot", ylabel=f"{plain(outcome)} rate (%)")
    return figure


def tier_mix(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Accounts per tier at each snapshot, stacked."""
    figure, axes = _axes("Tier mix over the snapshots", (7.2, 3.4))
    labels = [str(row["snapshot"])[:10] for row in rows]
    bottom = [0.0] * len(rows)
    for tier in TIERS:
        counts = [float(row.get(tier) or 0) for row in rows]
        axes.bar(labels, counts, bottom=bottom, color=TIER_COLOURS[tier], label=tier)
        bottom = [below + count for below, count in zip(bottom, counts, strict=True)]
    axes.set(xlabel="snapshot", ylabel="accounts")
    axes.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def weights(configured: Mapping[str, float], suggested: Mapping[str, float]) -> Figure:
    """Configured next to suggested weight, per event (horizontal bars)."""
    events = sorted({**configured, **suggested}, key=lambda event: -abs(suggested.get(event) or 0.0))
    height = max(2.4, 0.32 * len(events) + 1.2)
    figure, axes = _axes("Configured vs suggested weights", (6.0, height))
    positions = list(range(len(events)))
    axes.barh([p + 0.2 for p in positions], [configured.get(e, 0.0) for e in events], 0.4, label="configured")
    axes.barh([p - 0.2 for p in positions], [suggested.get(e, 0.0) for e in events], 0.4, label="suggested")
    axes.set_yticks(positions, [plain(event) for event in events], fontsize=8)
    axes.invert_yaxis()
    axes.axvline(0, color="#333333", linewidth=0.8)
    axes.set(xlabel="weight")
    axes.legend(fontsize=8, frameon=False)
    return figure


def plain(text: object) -> str:
    """A label as literal text: a `$` would otherwise start matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _base_line(axes: Axes, base_rate: float | None) -> None:
    if base_rate is not None:
        axes.axhline(_percent(base_rate), color="#333333", linestyle="--", linewidth=1, label="base rate")
        axes.legend(fontsize=8, frameon=False)


def _percent(rate: float | None) -> float:
    return 0.0 if rate is None else 100.0 * float(rate)
