"""The inbox JSON API under /api/ (docs/api.md)."""
