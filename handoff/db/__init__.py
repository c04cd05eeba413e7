"""Database backends handoff configures for itself."""
