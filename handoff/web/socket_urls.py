"""Websocket URLs (HTTP URLs are in urls.py)."""

from django.urls import path

from handoff.web.consumers import InboxConsumer

websocket_urlpatterns = [path("ws/inbox/", InboxConsumer.as_asgi())]
