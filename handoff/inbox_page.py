"""The agents' inbox page (docs/api.md and docs/websocket.md are what it talks to)."""

from django.shortcuts import redirect


def inbox(request):
    return redirect("/admin/handoff/conversation/")
