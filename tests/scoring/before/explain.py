"""Why a score is what it is: the top contributors to the raw score and the biggest movers versus the previous
window, as one line a salesperson reads in the company sidebar.

A contributor is a feature (its weighted events together) or a weighted event outside every feature; its share is
its part of the raw score (count x weight). The account activity carries each weighted event's count in the window
(`count__<event>`) and in the previous one (`count_prev__<event>`). Pure: frames in, columns out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
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


def _matrix(aligned: pd.DataFrame, config: ScoringConfig, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(event counts, weighted contributions): one row per account, one column per contributor of `groups`."""
    members = list(groups(config).values())
    counts = np.zeros((len(aligned), len(members)), dtype=np.int64)
    weights = np.zeros((len(aligned), len(members)), dtype=np.float64)
    for index, events in enumerate(members):
        for event in events:
            column = f"{prefix}{event}"
            if column in aligned.columns:
                values = pd.to_numeric(aligned[column], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
                counts[:, index] += values
                weights[:, index] += values * config.weights[event]
    return counts, weights


def _parts(names: list[str], counts: list[int], weights: list[float]) -> dict[str, tuple[int, float]]:
    return dict(zip(names, zip(counts, weights, strict=True), strict=True))


def _label(name: str, count: int, events: Sequence[str], config: ScoringConfig) -> str:
    if len(events) == 1:
        weight = config.weights[events[0]]
        shown = int(weight) if float(weight).is_integer() else weight
        return f"{name} ({count} x {shown})"
    return f"{name} ({count})"


def reasons(
    raw: float,
    parts: dict[str, tuple[int, float]],
    config: ScoringConfig,
    members: dict[str, list[str]] | None = None,
) -> str:
    """'45% calls (10 x 5), 31% meetings (5 x 7), 24% leads (3 x 9)': the top contributors, largest first."""
    if raw <= 0:
        return "no weighted activity in the window"
    members = members if members is not None else groups(config)
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
    keys = ids.astype("str").to_numpy()
    if len(activity):
        unique = activity.drop_duplicates(subset="account_id")
        aligned = unique.set_index(unique["account_id"].astype("str")).reindex(keys)
    else:
        aligned = pd.DataFrame(index=keys)
    members = groups(config)
    names = list(members)
    now_counts, now_weights = (part.tolist() for part in _matrix(aligned, config, "count__"))
    before_counts, before_weights = (part.tolist() for part in _matrix(aligned, config, "count_prev__"))
    raw = table["raw_score"].to_numpy(dtype=np.float64).tolist()
    scores = table["health_score"].to_numpy(dtype=np.int64).tolist()
    changes = table["score_change"].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    columns: dict[str, list[str]] = {"score_reasons": [], "score_movers": [], "score_why": []}
    for row in range(len(keys)):
        now = _parts(names, now_counts[row], now_weights[row])
        reason = reasons(raw[row], now, config, members)
        moved = ""
        if any(before_weights[row]):
            moved = movers(now, _parts(names, before_counts[row], before_weights[row]))
        previous = None if math.isnan(changes[row]) else int(scores[row] - changes[row])
        columns["score_reasons"].append(reason)
        columns["score_movers"].append(moved)
        columns["score_why"].append(why(scores[row], previous, reason, moved))
    return {name: pd.Series(values, index=table.index, dtype="object") for name, values in columns.items()}
