"""Reads: every query that more than one caller needs, or that a view would otherwise
make itself. Nothing here writes a row (writes go through `handoff.services`)."""
