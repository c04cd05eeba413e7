"""`make run`: the Procfile's processes plus, unless Braze is configured, the stand-in.

The stand-in plays Braze in both directions: it records what handoff sends to the
customer, and its page has a customer simulator that posts to the webhook as Braze's
webhook campaign would. Stops everything on Ctrl-C.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.devtools.braze_standin import BrazeStandin

ROOT = Path(__file__).resolve().parents[2]
DEMO_API_KEY = "demo-braze-key"
DEMO_CAMPAIGN_ID = "demo-reply-campaign"
DEMO_WEBHOOK_SECRET = "dev-webhook-secret"  # noqa: S105 - the DEBUG default, demo only


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    env = {**os.environ, "PORT": str(port), "BIND": os.environ.get("BIND", "127.0.0.1")}
    # The Procfile's `python` is this interpreter, the venv's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HANDOFF_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET)
    standin = None
    if not env.get("BRAZE_REST_ENDPOINT"):
        standin = BrazeStandin(
            port=int(os.environ.get("BRAZE_STANDIN_PORT", port + 1)),
            api_key=DEMO_API_KEY,
            webhook_url=f"http://127.0.0.1:{port}/webhooks/braze/whatsapp/",
            webhook_secret=env["HANDOFF_WEBHOOK_SECRET"],
            reply_campaign_id=env.get("BRAZE_CAMPAIGN_ID") or DEMO_CAMPAIGN_ID,
        ).start()
        env.update(
            BRAZE_REST_ENDPOINT=standin.url,
            BRAZE_API_KEY=DEMO_API_KEY,
            BRAZE_CAMPAIGN_ID=env.get("BRAZE_CAMPAIGN_ID") or DEMO_CAMPAIGN_ID,
        )
    _print_banner(port, standin)
    honcho = subprocess.Popen(  # noqa: S603 - our own Procfile
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)],
        env=env,
    )
    signal.signal(signal.SIGTERM, lambda *_: honcho.terminate())
    try:
        return honcho.wait()
    except KeyboardInterrupt:
        honcho.send_signal(signal.SIGINT)
        return honcho.wait()
    finally:
        if standin is not None:
            standin.stop()


def _print_banner(port: int, standin: BrazeStandin | None) -> None:
    lines = [
        "",
        f"  handoff is starting on http://127.0.0.1:{port}/",
        f"  admin:          http://127.0.0.1:{port}/admin/   (admin / handoff-admin)",
        "  agents:         aiko / handoff-agent, ben / handoff-agent",
    ]
    if standin is not None:
        lines += [
            f"  Braze stand-in: {standin.url}/   (write as a customer; see what Braze would send)",
        ]
    else:
        lines.append(f"  Braze:          {os.environ['BRAZE_REST_ENDPOINT']}")
    lines.append("")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
