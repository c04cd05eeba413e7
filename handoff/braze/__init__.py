"""Braze: the REST client, the pause a 429 asks for, retry backoff, and the check of how
the two campaigns are wired.

`client` imports nothing of ours, so what is sent to Braze is decided only by the
services that call it.
"""
