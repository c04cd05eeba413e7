"""What the running code reports about itself for operators: log context and log lines,
and Prometheus instruments.

A bottom layer beside `handoff.rules`: it imports nothing of handoff's, so any layer
may use it, and it never reads or holds customer data (ids only).
"""
