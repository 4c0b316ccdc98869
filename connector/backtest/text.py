"""The backtest result for a terminal (`--format table`): a few lines per outcome, then the suggestion."""

from __future__ import annotations

from typing import Any


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _lift(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def render_text(result: dict[str, Any]) -> str:
    """The terminal report of a backtest result."""
    snapshots = result["snapshots"]
    lines = [
        f"backtest: {len(snapshots)} snapshots {snapshots[0][:10]} .. {snapshots[-1][:10]} every "
        f"{result['every_days']} days, horizon {result['horizon_days']} days, data until {result['data_end'][:10]}",
        *(f"note: {note}" for note in result["notes"]),
    ]
    for outcome, metrics in result["outcomes"].items():
        lines += ["", *_outcome_lines(outcome, metrics)]
    return "\n".join(lines) + "\n"


def _outcome_lines(outcome: str, metrics: dict[str, Any]) -> list[str]:
    interval = metrics["auc_ci"]
    ci = "" if interval is None else f" (95% CI {interval[0]:.3f}-{interval[1]:.3f})"
    lines = [
        f"{outcome}: {metrics['pairs']} pairs, {metrics['positives']} positives, base rate "
        f"{_pct(metrics['base_rate'])}; ROC AUC {_num(metrics['auc'])}{ci}; total_users alone "
        f"{_num(metrics['size_auc'])}",
        f"  {'tier':<10}{'pairs':>8}{'positives':>11}{'rate':>9}{'lift':>8}",
    ]
    for tier, row in metrics["by_tier"].items():
        lines.append(
            f"  {tier:<10}{row['pairs']:>8}{row['positives']:>11}{_pct(row['rate']):>9}{_lift(row['lift']):>8}"
        )
    deciles = " ".join(f"{row['decile']}:{_pct(row['rate'])}" for row in metrics["by_decile"])
    trend = "falls" if outcome == "churn" else "rises"
    lines.append(f"  rate by score decile (1 = lowest): {deciles} ({trend} monotonically: {metrics['monotonic']})")
    if outcome == "churn":
        lines.append(f"  coverage: {_pct(metrics['coverage'])} of churned accounts were at_risk 30-90 days before")
    for play, row in metrics["plays"].items():
        lines.append(f"  play {play}: {row['pairs']} pairs, rate {_pct(row['rate'])}, lift {_lift(row['lift'])}")
    return lines + _suggestion_lines(metrics)


def _suggestion_lines(metrics: dict[str, Any]) -> list[str]:
    suggested = metrics["suggested"]
    if suggested is None:
        return [f"  suggestion: none ({metrics['suggestion_note']})"]
    lines = [
        f"  suggested weights (never applied by themselves): held-out AUC {_num(suggested['holdout_auc'])} vs "
        f"{_num(suggested['configured_holdout_auc'])} with the configured weights "
        f"({suggested['fit_snapshots']} snapshots fitted, {suggested['holdout_snapshots']} held out)",
        *("    " + line for line in suggested["weights_yaml"].rstrip("\n").splitlines()),
    ]
    tiers = suggested.get("tiers")
    if tiers:
        lines.append(f"  suggested tiers: healthy >= {tiers['healthy']}, at_risk < {tiers['at_risk']}")
    return lines
