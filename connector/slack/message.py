"""Block Kit messages: a digest (a header, the worst alerts first, "and N more") or one message per alert.

Every message carries a marker (`healthsync:<message id>`, in a context block and in the message metadata with
the identities of its alerts). A webhook cannot be read back, so the marker is not for recovery: it lets a person
(or a test, through the sandbox) tie a message in the channel to the alert intents in the state store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthsync.connector.slack.alerts import AlertPlan

JSON = dict[str, Any]
SECTION_LIMIT = 3000


@dataclass
class Message:
    """One post: its id (the marker), the alerts it carries and the webhook body."""

    message_id: str
    alerts: list[AlertPlan]
    body: JSON = field(default_factory=dict)


def marker(message_id: str) -> str:
    return f"healthsync:{message_id}"


def _section(text: str) -> JSON:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def _context(text: str) -> JSON:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _metadata(message_id: str, alerts: list[AlertPlan]) -> JSON:
    identities = [alert.identity for alert in alerts]
    return {"event_type": "healthsync_alerts", "event_payload": {"message_id": message_id, "alerts": identities}}


def digest(message_id: str, alerts: list[AlertPlan], title: str, limit: int) -> Message:
    """One message for the run's alerts, the worst first, capped at `limit` lines and "and N more"."""
    shown, rest = alerts[:limit], len(alerts) - limit
    noun = "alert" if len(alerts) == 1 else "alerts"
    blocks: list[JSON] = [{"type": "header", "text": {"type": "plain_text", "text": f"{title} ({len(alerts)})"[:150]}}]
    blocks += [_section(alert.subject) for alert in shown]
    if rest > 0:
        blocks.append(_section(f"and {rest} more"))
    blocks.append(_context(marker(message_id)))
    fallback = f"{title}: {len(alerts)} {noun}: " + ", ".join(alert.subject.split("\n")[0] for alert in shown)
    if rest > 0:
        fallback += f" and {rest} more"
    body = {"text": fallback[:3000], "blocks": blocks, "metadata": _metadata(message_id, alerts)}
    return Message(message_id, alerts, body)


def single(message_id: str, alert: AlertPlan) -> Message:
    """One message for one alert."""
    blocks = [_section(alert.subject), _context(marker(message_id))]
    body = {"text": alert.subject.split("\n")[0][:3000], "blocks": blocks, "metadata": _metadata(message_id, [alert])}
    return Message(message_id, [alert], body)
