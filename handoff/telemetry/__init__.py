"""What the running code reports about itself for operators: Prometheus instruments.

A bottom layer beside `handoff.rules`: it imports nothing of handoff's, so any layer
may record into it, and it never reads or holds customer data.
"""
