"""What agents' browsers see live: the event shapes, the stored feed they catch up from,
getting events to sockets in any process, and who is online.

Services publish through here; the web layer reads the feed. Nothing here decides a
conversation's state.
"""
