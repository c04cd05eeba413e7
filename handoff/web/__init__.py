"""Everything that speaks HTTP or websocket: the webhook, the JSON API, pages, the inbox
socket, and the web process that serves them.

Modules here parse and check what arrives, call a service or a selector, and shape the
answer. No business rule lives here, no query is written here (they import no models;
a contract in pyproject.toml checks it), and nothing outside this folder (except the
URLconf, asgi.py and the admin) imports it.
"""
