"""The rows-as-queue machinery under the services: leases on message rows (claims),
wake-ups on commit, and the CPU pacing that lets the webhook go first.

It knows rows and transactions, never what a message means: the services decide that,
and `handoff.workers` runs them.
"""
