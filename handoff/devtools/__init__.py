"""Development tools for handoff: local stand-ins, never imported by the running service."""
