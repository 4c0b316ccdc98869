"""``python -m healthsync`` runs the CLI."""

from __future__ import annotations

from healthsync.connector.cli import main

if __name__ == "__main__":
    main()
