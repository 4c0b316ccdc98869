"""healthsync connector: CLI, settings, the engine; sources, sync, one folder per destination, demo."""
