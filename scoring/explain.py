"""Why a score is what it is: the top contributors to the raw score and the biggest movers versus the previous
window, as one line a salesperson reads in the company sidebar.

A contributor is a feature (its weighted events together) or a weighted event outside every feature; its share is
its part of the raw score (count x weight). The account activity carries each weighted event's count in the window
(`count__<event>`) and in the previous one (`count_prev__<event>`). Pure: frames in, columns out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from healthsync.scoring.config import ScoringConfig

TOP = 3
MOVERS = 2
MIN_MOVE_PCT = 10  # a mover changed its contribution by at least this much
MAX_WHY = 250  # fits an Intercom string attribute (255 characters) and a sidebar line


def groups(config: ScoringConfig) -> dict[str, list[str]]:
    """Contributor name -> its weighted events (sorted): features first (config order), then lone events."""
    owner = {event: name for name, events in config.features.items() for event in events}
    found: dict[str, list[str]] = {}
    for name in config.features:
        members = sorted(event for event in config.weights if owner.get(event) == name)
        if members:
            found[name] = members
    for event in sorted(config.weights):
        if event not in owner:
            found[event] = [event]
    return found


def _parts(row: pd.Series, config: ScoringConfig, prefix: str) -> dict[str, tuple[int, float]]:
    """Contributor -> (event count, weighted contribution) for one account and one window."""
    parts = {}
    for name, events in groups(config).items():
        count = sum(int(row.get(f"{prefix}{event}", 0) or 0) for event in events)
        weight = sum(int(row.get(f"{prefix}{event}", 0) or 0) * config.weights[event] for event in events)
        parts[name] = (count, weight)
    return parts


def _label(name: str, count: int, events: Sequence[str], config: ScoringConfig) -> str:
    if len(events) == 1:
        weight = config.weights[events[0]]
        shown = int(weight) if float(weight).is_integer() else weight
        return f"{name} ({count} x {shown})"
    return f"{name} ({count})"


def reasons(raw: float, parts: dict[str, tuple[int, float]], config: ScoringConfig) -> str:
    """'45% calls (10 x 5), 31% meetings (5 x 7), 24% leads (3 x 9)': the top contributors, largest first."""
    if raw <= 0:
        return "no weighted activity in the window"
    members = groups(config)
    ranked = sorted(((weight, name) for name, (_, weight) in parts.items() if weight > 0), key=lambda p: (-p[0], p[1]))
    shown = [
        f"{round(100 * weight / raw)}% {_label(name, parts[name][0], members[name], config)}"
        for weight, name in ranked[:TOP]
    ]
    return ", ".join(shown)


def movers(now: dict[str, tuple[int, float]], before: dict[str, tuple[int, float]]) -> str:
    """'meetings -60%, sequences +20%': the contributors whose weighted part moved most versus the previous window."""
    moves: list[tuple[float, str, str]] = []
    for name, (_, weight) in now.items():
        previous = before.get(name, (0, 0.0))[1]
        if previous > 0:
            change = round(100 * (weight - previous) / previous)
            if abs(change) >= MIN_MOVE_PCT:
                moves.append((abs(change), name, f"{name} {change:+d}%"))
        elif weight > 0:
            moves.append((math.inf, name, f"{name} new"))
    moves.sort(key=lambda move: (-move[0], move[1]))
    return ", ".join(text for _, _, text in moves[:MOVERS])


def why(score: int, previous: int | None, reason: str, moved: str) -> str:
    """'82: 45% meetings (31), 30% sequences (12); down from 91: meetings -60% vs last period'."""
    line = f"{score}: {reason}"
    if previous is not None and previous != score:
        line += f"; {'down' if previous > score else 'up'} from {previous}"
        line += f": {moved} vs last period" if moved else ""
    elif moved:
        line += f"; {moved} vs last period"
    return line if len(line) <= MAX_WHY else line[: MAX_WHY - 3] + "..."


def explain_columns(
    ids: pd.Series, activity: pd.DataFrame, table: pd.DataFrame, config: ScoringConfig
) -> dict[str, pd.Series]:
    """`score_reasons`, `score_movers` and `score_why` per account of `ids` (aligned with `table`)."""
    counts = activity.set_index(activity["account_id"].astype("str")) if len(activity) else pd.DataFrame()
    columns: dict[str, list[str]] = {"score_reasons": [], "score_movers": [], "score_why": []}
    for position, key in enumerate(ids.astype("str")):
        row = counts.loc[key] if key in counts.index else pd.Series(dtype="object")
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        now, before = _parts(row, config, "count__"), _parts(row, config, "count_prev__")
        reason = reasons(float(table["raw_score"].iloc[position]), now, config)
        moved = movers(now, before) if any(weight > 0 for _, weight in before.values()) else ""
        change = table["score_change"].iloc[position]
        score = int(table["health_score"].iloc[position])
        previous = None if pd.isna(change) else score - int(change)
        columns["score_reasons"].append(reason)
        columns["score_movers"].append(moved)
        columns["score_why"].append(why(score, previous, reason, moved))
    return {name: pd.Series(values, index=table.index, dtype="object") for name, values in columns.items()}
