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

from healthsync.scoring.columns import BoolArray
from healthsync.scoring.config import ScoringConfig
from healthsync.scoring.normalize import FloatArray, IntArray

TOP = 3
MOVERS = 2
MIN_MOVE_PCT = 10  # a mover changed its contribution by at least this much
MAX_WHY = 250  # fits an Intercom string attribute (255 characters) and a sidebar line


EXPLAIN_COLUMNS = ("score_reasons", "score_movers", "score_why")


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


def _label_parts(name: str, events: Sequence[str], config: ScoringConfig) -> tuple[str, str]:
    """The text before and after the count in a contributor's label."""
    if len(events) == 1:
        weight = config.weights[events[0]]
        shown = int(weight) if float(weight).is_integer() else weight
        return f"{name} (", f" x {shown})"
    return f"{name} (", ")"


def _label(name: str, count: int, events: Sequence[str], config: ScoringConfig) -> str:
    before, after = _label_parts(name, events, config)
    return f"{before}{count}{after}"


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


def _ranked(primary: FloatArray, names: list[str], count: int) -> tuple[IntArray, BoolArray]:
    """Per row, the columns of the `count` smallest `primary` values, ties by name (the order `sorted` gives
    (value, name) pairs), and whether each is a candidate (infinite `primary`: not one)."""
    rank = np.zeros(len(names), dtype=np.int64)
    rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names), dtype=np.int64)
    order = np.lexsort((np.broadcast_to(rank, primary.shape), primary), axis=-1)[:, :count]
    return order, np.take_along_axis(primary, order, axis=-1) < np.inf


def _reason_texts(
    raw: FloatArray, counts: IntArray, weights: FloatArray, members: dict[str, list[str]], config: ScoringConfig
) -> list[str]:
    """:func:`reasons` of every row: ranks and shares on the whole matrix, then one pass of joins."""
    labels = [_label_parts(name, events, config) for name, events in members.items()]
    order, valid = _ranked(np.where(weights > 0, -weights, np.inf), list(members), TOP)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shares = np.rint(100 * np.take_along_axis(weights, order, axis=-1) / raw[:, None])
    rows = zip(
        raw.tolist(),
        order.tolist(),
        valid.tolist(),
        shares.tolist(),
        np.take_along_axis(counts, order, axis=-1).tolist(),
        strict=True,
    )
    out: list[str] = []
    for whole, columns, candidate, share, count in rows:
        if whole <= 0:
            out.append("no weighted activity in the window")
            continue
        shown = [
            f"{int(share[i])}% {labels[column][0]}{count[i]}{labels[column][1]}"
            for i, column in enumerate(columns)
            if candidate[i]
        ]
        out.append(", ".join(shown))
    return out


def _mover_texts(now: FloatArray, before: FloatArray, names: list[str]) -> list[str]:
    """:func:`movers` of every row with a weighted part in the previous window ("" for the others)."""
    had = before > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = np.rint(100 * (now - before) / before)
    size = np.abs(change)
    candidate = np.where(had, size >= MIN_MOVE_PCT, now > 0)
    primary = np.where(candidate, np.where(had, -size, -np.inf), np.inf)
    order, valid = _ranked(primary, names, MOVERS)
    picked = np.take_along_axis(np.where(had, change, np.nan), order, axis=-1)
    rows = zip((before != 0).any(axis=1).tolist(), order.tolist(), valid.tolist(), picked.tolist(), strict=True)
    out: list[str] = []
    for moved, columns, ok, moves in rows:
        if not moved:
            out.append("")
            continue
        shown = [
            f"{names[column]} new" if math.isnan(moves[i]) else f"{names[column]} {int(moves[i]):+d}%"
            for i, column in enumerate(columns)
            if ok[i]
        ]
        out.append(", ".join(shown))
    return out


def explain_columns(
    ids: pd.Series, activity: pd.DataFrame, table: pd.DataFrame, config: ScoringConfig
) -> dict[str, pd.Series]:
    """`score_reasons`, `score_movers` and `score_why` per account of `ids` (aligned with `table`).

    Column-wise: the contributors are ranked on the whole (accounts x contributors) matrix; the texts are one
    pass over the rows, with the same phrasing as :func:`reasons`, :func:`movers` and :func:`why`."""
    keys = ids.astype("str").to_numpy()
    if len(activity):
        unique = activity.drop_duplicates(subset="account_id")
        aligned = unique.set_index(unique["account_id"].astype("str")).reindex(keys)
    else:
        aligned = pd.DataFrame(index=keys)
    members = groups(config)
    now_counts, now_weights = _matrix(aligned, config, "count__")
    _, before_weights = _matrix(aligned, config, "count_prev__")
    raw = table["raw_score"].to_numpy(dtype=np.float64)
    reason = _reason_texts(raw, now_counts, now_weights, members, config)
    moved = _mover_texts(now_weights, before_weights, list(members))
    scores = table["health_score"].to_numpy(dtype=np.int64).tolist()
    changes = table["score_change"].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    lines = [
        why(score, None if math.isnan(change) else int(score - change), text, move)
        for score, change, text, move in zip(scores, changes, reason, moved, strict=True)
    ]
    columns = dict(zip(EXPLAIN_COLUMNS, (reason, moved, lines), strict=True))
    return {name: pd.Series(values, index=table.index, dtype="object") for name, values in columns.items()}
