"""healthsync: product usage -> customer-health scores, plays and tasks in HubSpot, Intercom and Slack.

The repository keeps the design card's top-level folders (``connector/``, ``scoring/``, ``state/``,
``mappings/``, ``sandbox/``); the installed distribution exposes them as one import package,
``healthsync.connector``, ``healthsync.scoring``, ... (``pyproject.toml`` maps them with ``package-dir``;
the links in this folder give the source tree the same names for mypy and the tests).
"""

from __future__ import annotations

__version__ = "0.1.0"
