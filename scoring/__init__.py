"""Scoring: pure functions from usage aggregates (pandas frames) to the health score table."""

from __future__ import annotations
