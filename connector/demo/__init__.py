"""The demo: a generated sales-engagement product, seeded sandboxes, two runs."""
