"""The background threads that run the services: routing, delivery, profile sync and
housekeeping, inside the web process or in `run_workers` processes.

Like the web layer, this is an entry point: it calls services and never holds a rule.
"""
