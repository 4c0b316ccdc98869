"""Intercom destination: company attributes and tags, the SDK client."""
