"""Settings for the test process: production settings with test secrets filled in.

The app under daphne gets its own environment (tests/support/servers.py).
"""

import os

for name, value in {
    "DEBUG": "false",
    "SECRET_KEY": "test-secret-key-" + "x" * 40,
    "HANDOFF_WEBHOOK_SECRET": "test-webhook-secret",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "HANDOFF_EMBEDDED_WORKERS": "false",
    "BRAZE_CAMPAIGN_ID": "test-campaign",
    "BRAZE_API_KEY": "test-braze-key",
    # In process, an agent goes offline the moment their last socket closes; the grace
    # period's own tests set it (tests/test_agent_status.py), and the app under daphne
    # runs with a short one (tests/support/servers.py).
    "HANDOFF_OFFLINE_GRACE_SECONDS": "0",
    # Agents claim by hand unless a test turns auto-assignment on (the `auto_assign`
    # fixture): most tests are about what one agent does to one waiting conversation.
    "HANDOFF_AUTO_ASSIGN": "false",
}.items():
    os.environ.setdefault(name, value)

from handoff.settings import *  # noqa: E402,F403

if "postgresql" in DATABASES["default"]["ENGINE"]:  # noqa: F405
    # The test process's sessions (in-process tests, and the flush that empties the
    # database after each server test) look for a deadlock only after 10 s, the app's
    # after PostgreSQL's 1 s: when the flush's TRUNCATE and a server's background worker
    # wait on each other, PostgreSQL then aborts the worker's transaction, which the
    # workers retry, not the flush (seen once beside a CPU hog: "deadlock detected" at
    # the teardown of tests/test_webhook_bad_input.py, AccessExclusiveLock against
    # AccessShareLock). The throwaway server's `postgres` user may set it.
    options = DATABASES["default"].setdefault("OPTIONS", {})  # noqa: F405
    options["options"] = (options.get("options", "") + " -c deadlock_timeout=10s").strip()
