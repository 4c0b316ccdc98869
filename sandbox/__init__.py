"""API emulators for HubSpot and Intercom that the official SDKs talk to over real HTTP (SPEC section 8)."""

from __future__ import annotations
