"""What `healthsync init` writes: the starter config, the default mappings it points at, and the example data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def starter_files(directory: Path) -> dict[Path, bytes]:
    """Path -> content of every file `init` writes into `directory`."""
    from healthsync.connector.templates.example import example_data

    config = (resources.files("healthsync.connector.templates") / "healthsync.yaml").read_bytes()
    files = {directory / "healthsync.yaml": config}
    for entry in sorted(resources.files("healthsync.mappings").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            files[directory / "mappings" / entry.name] = entry.read_bytes()
    for name, content in example_data().items():
        files[directory / "data" / name] = content
    return files
