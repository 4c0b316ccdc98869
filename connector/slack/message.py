"""Block Kit messages: a digest (a header, the worst alerts first, "and N more") or one message per alert.

Every message carries its marker in the message itself: a context block with `healthsync:<message id>` and the
identities of its alerts (plain text, one a line after `alerts:`, in as many elements as they need, up to Block
Kit's ten per block; the message id alone leads to the rest through the state store). Message metadata repeats the
message id and the alert count as an extra: Slack may drop metadata (and arrays in it) from a webhook post, so
nothing relies on it. A webhook cannot be read back, so the marker is not for recovery: it lets a person (or a
test, through the sandbox) tie a message in the channel to the alert intents in the state store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthsync.connector.slack.alerts import AlertPlan

JSON = dict[str, Any]
SECTION_LIMIT = 3000
MARKER_TEXT = 2000  # characters per context element (Block Kit allows 3,000 per text object)
CONTEXT_ELEMENTS = 10  # elements per context block (Block Kit's limit)


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


def _marker_block(message_id: str, alerts: list[AlertPlan]) -> JSON:
    """The marker and the alert identities, as plain text (no mrkdwn: an identity is shown as it is stored)."""
    elements: list[JSON] = [{"type": "plain_text", "text": marker(message_id)}]
    line = ""
    for identity in (alert.identity for alert in alerts):
        if line and len(line) + len(identity) + 1 > MARKER_TEXT:
            elements.append({"type": "plain_text", "text": line})
            line = ""
        line = f"{line or 'alerts:'}\n{identity}"
    if line:
        elements.append({"type": "plain_text", "text": line})
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS]}


def _metadata(message_id: str, alerts: list[AlertPlan]) -> JSON:
    """An extra only, flat (no arrays): Slack may drop it."""
    return {"event_type": "healthsync_alerts", "event_payload": {"message_id": message_id, "alerts": len(alerts)}}


def digest(message_id: str, alerts: list[AlertPlan], title: str, limit: int) -> Message:
    """One message for the run's alerts, the worst first, capped at `limit` lines and "and N more"."""
    shown, rest = alerts[:limit], len(alerts) - limit
    noun = "alert" if len(alerts) == 1 else "alerts"
    blocks: list[JSON] = [{"type": "header", "text": {"type": "plain_text", "text": f"{title} ({len(alerts)})"[:150]}}]
    blocks += [_section(alert.subject) for alert in shown]
    if rest > 0:
        blocks.append(_section(f"and {rest} more"))
    blocks.append(_marker_block(message_id, alerts))
    fallback = f"{title}: {len(alerts)} {noun}: " + ", ".join(alert.subject.split("\n")[0] for alert in shown)
    if rest > 0:
        fallback += f" and {rest} more"
    body = {"text": fallback[:3000], "blocks": blocks, "metadata": _metadata(message_id, alerts)}
    return Message(message_id, alerts, body)


def single(message_id: str, alert: AlertPlan) -> Message:
    """One message for one alert."""
    blocks = [_section(alert.subject), _marker_block(message_id, [alert])]
    body = {"text": alert.subject.split("\n")[0][:3000], "blocks": blocks, "metadata": _metadata(message_id, [alert])}
    return Message(message_id, [alert], body)
