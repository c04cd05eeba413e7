"""Development tools: the stand-ins for Braze and bots, throwaway PostgreSQL and Redis,
the load generator, `make bench` and `make run`'s demo launcher.

They live beside the tests, outside the `handoff` package, so an installed handoff holds
none of them; nothing in `handoff` imports them.
"""
