"""Run the routing and delivery workers in their own process (the Procfile's `worker`).

Used when the web processes run with HANDOFF_EMBEDDED_WORKERS=false, typically with
PostgreSQL and Redis (docs/deploy.md). Stops cleanly on SIGTERM or Ctrl-C. What it
says about itself is plain text, or log records with HANDOFF_LOG_FORMAT=json so that
every line of the process is JSON.
"""

import logging
import signal
import threading

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand

from handoff.live.broadcast import start_publisher_loop
from handoff.workers.threads import Workers

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Route customer messages and deliver replies to Braze until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--routing-threads", type=int, default=None)
        parser.add_argument("--delivery-threads", type=int, default=None)
        parser.add_argument(
            "--unless-embedded",
            action="store_true",
            help="idle instead when HANDOFF_EMBEDDED_WORKERS is true (the Procfile's "
            "worker line: the one-process default runs this work inside `web`)",
        )

    def handle(self, *args, routing_threads, delivery_threads, unless_embedded, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if unless_embedded and settings.HANDOFF_EMBEDDED_WORKERS:
            # Idle rather than exit: a Procfile runner stops every process when one ends.
            self.say(
                "The web process runs the background work (HANDOFF_EMBEDDED_WORKERS=true); "
                "this worker idles. Set HANDOFF_EMBEDDED_WORKERS=false and REDIS_URL to "
                "run it here (docs/deploy.md)."
            )
            stop.wait()
            return
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            self.say(
                "Warning: no REDIS_URL, so agents' inboxes will not see this process's "
                "changes live (only after a reload). Set REDIS_URL for separate workers.",
                warning=True,
            )
        start_publisher_loop()
        workers = Workers(
            routing_threads=routing_threads, delivery_threads=delivery_threads
        ).start()
        self.say(f"Workers running ({len(workers.threads)} threads); Ctrl-C to stop.")
        stop.wait()
        workers.stop()
        self.say("Workers stopped.")

    def say(self, text: str, *, warning: bool = False) -> None:
        if settings.HANDOFF_LOG_FORMAT == "json":
            logger.log(logging.WARNING if warning else logging.INFO, text)
        else:
            (self.stderr if warning else self.stdout).write(text)
