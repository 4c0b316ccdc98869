"""Slack: health alerts through an incoming webhook (quiet by design)."""
