"""A third-party node pack, as a studio writes one from docs/writing-nodes.md (tests only)."""
