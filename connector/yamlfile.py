"""Compatibility name: YAML files with line numbers live at the bottom of the package, in :mod:`healthsync.yamlfile`.

Kept so that code written against `healthsync.connector.yamlfile` keeps working; healthsync's own modules import
`healthsync.yamlfile` (tests/test_layout.py checks it).
"""

from __future__ import annotations

from healthsync.yamlfile import YamlDocument, load_yaml

__all__ = ["YamlDocument", "load_yaml"]
