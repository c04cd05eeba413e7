"""Reads for the live supervisor view: a snapshot of the desk that the page then keeps
current from the inbox socket's events (docs/websocket.md), so it never polls.

The feed's newest number is read first: every change committed after the snapshot's
reads began is then also among the events after it, and the page applies both (an
event replaces what it knew of a conversation or an agent, so applying one twice is
harmless). Never writes.
"""

from datetime import datetime, timedelta

from handoff.live.events import conversation_data, latest_seq
from handoff.live.presence import online_agent_ids, seats
from handoff.models import Conversation
from handoff.rules.agents import shown_status
from handoff.selectors.agents import agent_users

State = Conversation.State
# A bot conversation counts as live while its customer wrote this recently.
BOT_LIVE = timedelta(minutes=15)
BOT_SHOWN = 50


def snapshot(*, now: datetime) -> dict:
    seq = latest_seq()
    open_rows = Conversation.objects.filter(state__in=[State.WAITING, State.ASSIGNED])
    bot_rows = Conversation.objects.filter(state=State.BOT, last_message_at__gte=now - BOT_LIVE)
    related = ("contact", "assignee", "team")
    return {
        "seq": seq,
        "now": now.isoformat(),
        "conversations": [
            conversation_data(row) for row in open_rows.select_related(*related).order_by("pk")
        ],
        "bot": {
            "live": bot_rows.count(),
            "live_minutes": int(BOT_LIVE.total_seconds() // 60),
            "newest": [
                conversation_data(row)
                for row in bot_rows.select_related(*related).order_by("-last_message_at")[
                    :BOT_SHOWN
                ]
            ],
        },
        "agents": _agents(),
    }


def _agents() -> list[dict]:
    """Every agent: online, status, load against capacity, and since when their status
    holds (their last change of available or away; an agent who never chose has none)."""
    users = list(agent_users().order_by("username").values_list("pk", "username"))
    ids = [pk for pk, _ in users]
    online = online_agent_ids()
    seat_of = seats(ids)
    return [
        {
            "agent": username,
            "online": pk in online,
            "status": shown_status(seat_of[pk].status, online=pk in online),
            "capacity": seat_of[pk].capacity,
            "open_count": seat_of[pk].open_count,
            "status_since": _iso(seat_of[pk].status_changed_at),
        }
        for pk, username in users
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
