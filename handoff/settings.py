"""Every setting handoff reads, with its one default.

Values come from the environment or a `.env` file beside manage.py (django-environ).
Development conveniences (a throwaway SECRET_KEY, a demo webhook secret, open hosts)
exist only when DEBUG is true, so a production deployment that forgets a setting
fails at start instead of running with a guessable secret.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _required_unless_debug(name: str, dev_value: str) -> str:
    """A secret that must be set in production but may default while developing."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_value
    raise ImproperlyConfigured(f"Set {name} (it is required unless DEBUG is true).")


SECRET_KEY = _required_unless_debug("SECRET_KEY", "django-insecure-handoff-development-only-key")
# Earlier keys, still accepted while rotating SECRET_KEY: sessions stay valid and
# erasure records made under them can still be checked (docs/deploy.md).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # ServeStatic's own configuration checks (it warns on every start without them).
    "servestatic",
    "django.contrib.staticfiles",
    "channels",
    # Failed sign-ins counted and locked out (login throttling, below).
    "axes",
    "handoff",
]

MIDDLEWARE = [
    # Under daphne the chain runs on the event loop, and a `MiddlewareMixin` middleware
    # hops to a worker thread for each of its hooks; those whose hooks do no I/O run on
    # the loop instead (handoff.web.loop_middleware). The ones marked "threaded" keep
    # the hop: they read or write the session or the request body, or `check --deploy`
    # finds them by this very path and would otherwise skip its checks.
    "django.middleware.security.SecurityMiddleware",  # threaded: check --deploy
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below):
    # django-csp's own middleware, on the loop.
    "handoff.web.loop_middleware.ContentSecurityPolicyMiddleware",
    # Cache-Control: no-store on the JSON that carries customer data (/api/, the webhook).
    "handoff.web.security.NoStoreMiddleware",
    # Static files in every mode, before sessions and auth, which they never need.
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",  # threaded: saves the session
    "handoff.web.loop_middleware.LocaleOnTheLoopMiddleware",
    "handoff.web.loop_middleware.CommonOnTheLoopMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # threaded: check --deploy, reads the body
    "handoff.web.loop_middleware.AuthenticationOnTheLoopMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",  # threaded: uses the session
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # threaded: check --deploy
    # Last, so that it turns a locked-out sign-in into the lockout page. Async already:
    # it hands only the lockout page (templates, the user) to a thread.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "handoff.urls"
ASGI_APPLICATION = "handoff.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default: WAL so readers never block the webhook's writer, IMMEDIATE
# transactions so two writers queue for the lock instead of failing on upgrade.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'handoff.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Same SQLite, with one process's writers queued on a lock (handoff/db/sqlite3).
    DATABASES["default"]["ENGINE"] = "handoff.db.sqlite3"
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=20000;"
                "PRAGMA foreign_keys=ON;"
            ),
        }
    )
    # A file, not memory, so that the app under daphne in the tests shares it.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("HANDOFF_TEST_DATABASE", default=str(BASE_DIR / ".test-db.sqlite3"))
    }
else:
    # PostgreSQL (docs/deploy.md). A connection that died while idle (a database
    # restart, a proxy's timeout) is noticed and replaced before the next query.
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Same PostgreSQL, with the inbox feed's events numbered as they commit
        # (handoff/db/postgresql).
        DATABASES["default"]["ENGINE"] = "handoff.db.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out sign-in is refused before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/accounts/login/"

# Login throttling (django-axes), for /accounts/login/ and /admin/login/ alike: after
# HANDOFF_LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# pair is locked out for HANDOFF_LOGIN_COOLOFF_MINUTES (each further try restarts the
# wait) or until an admin unlocks it. Keyed on username *and* address so that an
# attacker cannot lock every agent out from one address, and an office behind one NAT
# address is not locked out by one person's typos (docs/deploy.md).
HANDOFF_LOGIN_FAILURE_LIMIT = env.int("HANDOFF_LOGIN_FAILURE_LIMIT", default=10)
HANDOFF_LOGIN_COOLOFF_MINUTES = env.int("HANDOFF_LOGIN_COOLOFF_MINUTES", default=15)
if HANDOFF_LOGIN_FAILURE_LIMIT < 1 or HANDOFF_LOGIN_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured(
        "HANDOFF_LOGIN_FAILURE_LIMIT and HANDOFF_LOGIN_COOLOFF_MINUTES must be at least 1."
    )
AXES_FAILURE_LIMIT = HANDOFF_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=HANDOFF_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "handoff.web.pages.lockout.locked_out"
# The address the lockout counts: the proxy's X-Forwarded-For only behind a proxy.
AXES_CLIENT_IP_CALLABLE = "handoff.web.security.client_address"
# Failures are logged with username and address (the password never: axes masks it);
# successful sign-ins are not recorded.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_DISABLE_ACCESS_LOG = True
LOGIN_REDIRECT_URL = "/"

# The interface's language when a browser asks for none, and the language customers are
# written to outside opening hours when their own is not known (docs: README, "Opening hours").
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("ja", "日本語")]
# Translations of the templates and the inbox script (locale/ja/LC_MESSAGES).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# The app serves its own CSS and JavaScript (ServeStatic: WhiteNoise's async fork,
# because WhiteNoise's middleware is sync-only and would put every request, the
# webhook's included, through a thread hop). Files are found where they live and
# indexed once at start, so no collectstatic step is needed; a proxy in front may
# serve /static/ itself after collectstatic instead (docs/deploy.md).
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG
SERVESTATIC_MAX_AGE = env.int("STATIC_MAX_AGE_SECONDS", default=0 if DEBUG else 3600)

# Channels: Redis when REDIS_URL is set (many processes); otherwise the in-memory
# layer, which reaches every socket because the default runs as one process with
# its background workers inside it (docs/architecture.md).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis's publish/subscribe: each web process's one subscription (the live
            # hub) is pushed every event as it is published. channels_redis's list-based
            # layer fetched each message with its own round trips through one receive
            # lock shared by every socket of the process: at 200 agents and 20 messages
            # a second its pushes fell more than a second behind and most events came
            # from the feed instead (docs/benchmarks.md). A push lost while Redis is
            # away is fetched from the event feed within about two seconds
            # (docs/websocket.md), as it always was.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# GET /metrics for Prometheus (docs/deploy.md, "Metrics"): off (404) while empty; when set,
# a scrape must send `Authorization: Bearer <this>`. Multiprocess mode is switched on by
# prometheus-client's own PROMETHEUS_MULTIPROC_DIR, read from the environment.
HANDOFF_METRICS_TOKEN = env.str("HANDOFF_METRICS_TOKEN", default="")

# Inbound webhook
HANDOFF_WEBHOOK_SECRET = _required_unless_debug("HANDOFF_WEBHOOK_SECRET", "dev-webhook-secret")
# During a rotation, the secret being replaced, still accepted until Braze sends the new
# one (the rotation procedure in docs/deploy.md); empty outside a rotation.
HANDOFF_WEBHOOK_SECRET_PREVIOUS = env.str("HANDOFF_WEBHOOK_SECRET_PREVIOUS", default="")
HANDOFF_WEBHOOK_ALLOWED_IPS = env.list("HANDOFF_WEBHOOK_ALLOWED_IPS", default=[])
HANDOFF_WEBHOOK_MAX_BYTES = 64 * 1024
# Seconds within which the same text from a customer through two webhook campaigns
# (a catch-all and a keyword campaign, different topics) is one message; 0 turns
# merging off. While keyword topic routes exist, default-route messages wait this
# long before routing so that the keyword campaign's copy can still win.
HANDOFF_TOPIC_MERGE_SECONDS = env.float("HANDOFF_TOPIC_MERGE_SECONDS", default=5.0)
# How long one escalation rule's regular expression may search one message; past it
# the rule is skipped for that message and the skip counted on the rule in admin.
HANDOFF_REGEX_TIMEOUT_MS = env.int("HANDOFF_REGEX_TIMEOUT_MS", default=50)

# Request limits the web process (handoff.web.server) enforces before the app reads a
# request: the largest body (the webhook's own 64 KiB check stays; agents' replies and
# admin forms are far below 1 MiB), and deadlines for a request's headers (from its
# first byte) and body (from its headers), however slowly bytes trickle in.
HANDOFF_MAX_BODY_BYTES = env.int("HANDOFF_MAX_BODY_BYTES", default=1024 * 1024)
HANDOFF_HEADER_TIMEOUT_SECONDS = env.float("HANDOFF_HEADER_TIMEOUT_SECONDS", default=20.0)
HANDOFF_BODY_TIMEOUT_SECONDS = env.float("HANDOFF_BODY_TIMEOUT_SECONDS", default=30.0)
if HANDOFF_MAX_BODY_BYTES < HANDOFF_WEBHOOK_MAX_BYTES:
    raise ImproperlyConfigured(
        f"HANDOFF_MAX_BODY_BYTES must be at least {HANDOFF_WEBHOOK_MAX_BYTES} (the webhook's "
        f"limit), not {HANDOFF_MAX_BODY_BYTES}."
    )
if HANDOFF_HEADER_TIMEOUT_SECONDS <= 0 or HANDOFF_BODY_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured(
        "HANDOFF_HEADER_TIMEOUT_SECONDS and HANDOFF_BODY_TIMEOUT_SECONDS must be above 0."
    )

# Outbound to Braze. Unset endpoint: `make run` starts the local stand-in.
BRAZE_REST_ENDPOINT = env.str("BRAZE_REST_ENDPOINT", default="").rstrip("/")
BRAZE_API_KEY = env.str("BRAZE_API_KEY", default="")
BRAZE_CAMPAIGN_ID = env.str("BRAZE_CAMPAIGN_ID", default="")
BRAZE_MESSAGE_PROPERTY = env.str("BRAZE_MESSAGE_PROPERTY", default="external_system_msg_body")
BRAZE_CONNECT_TIMEOUT = env.float("BRAZE_CONNECT_TIMEOUT", default=5.0)
BRAZE_READ_TIMEOUT = env.float("BRAZE_READ_TIMEOUT", default=15.0)

# Profile enrichment: chat facts recorded as custom attributes on the customer's Braze
# profile through POST /users/track (docs/architecture.md). Off: nothing is queued.
BRAZE_PROFILE_SYNC = env.bool("BRAZE_PROFILE_SYNC", default=True)
# Objects per /users/track request: Braze allows 75 (some plans 50).
BRAZE_TRACK_BATCH_SIZE = env.int("BRAZE_TRACK_BATCH_SIZE", default=75)
if not 1 <= BRAZE_TRACK_BATCH_SIZE <= 75:
    raise ImproperlyConfigured(
        f"BRAZE_TRACK_BATCH_SIZE must be between 1 and 75 (Braze's limit per request), "
        f"not {BRAZE_TRACK_BATCH_SIZE}."
    )


# The custom attribute each fact is recorded as; an empty name records nothing for it.
# Read as written: django-environ would take a leading "$" for another variable's name
# and silently use the default, where a "$" name must be refused (below).
def _attribute_name(setting: str, default: str) -> str:
    return os.environ.get(setting, default).strip()


BRAZE_ATTRIBUTE_ESCALATION_REASON = _attribute_name(
    "BRAZE_ATTRIBUTE_ESCALATION_REASON", "handoff_last_escalation_reason"
)
BRAZE_ATTRIBUTE_RESOLVED_AT = _attribute_name(
    "BRAZE_ATTRIBUTE_RESOLVED_AT", "handoff_last_resolved_at"
)
BRAZE_ATTRIBUTE_CONVERSATION_COUNT = _attribute_name(
    "BRAZE_ATTRIBUTE_CONVERSATION_COUNT", "handoff_conversation_count"
)
BRAZE_ATTRIBUTE_SATISFACTION = _attribute_name(
    "BRAZE_ATTRIBUTE_SATISFACTION", "handoff_last_satisfaction_score"
)

_TRACK_RESERVED = {"external_id", "user_alias", "braze_id", "_update_existing_only"}


def _check_attribute_names() -> None:
    """Braze custom attribute names: at most 255 characters, no leading "$" (Braze's own
    attributes), and distinct, or two facts would overwrite each other."""
    names = {
        setting: globals()[setting]
        for setting in (
            "BRAZE_ATTRIBUTE_ESCALATION_REASON",
            "BRAZE_ATTRIBUTE_RESOLVED_AT",
            "BRAZE_ATTRIBUTE_CONVERSATION_COUNT",
            "BRAZE_ATTRIBUTE_SATISFACTION",
        )
    }
    seen: dict[str, str] = {}
    for setting, name in names.items():
        if not name:
            continue
        if name.startswith("$"):
            raise ImproperlyConfigured(
                f"{setting}={name!r}: Braze reserves names starting with '$'; pick another."
            )
        if name in _TRACK_RESERVED:
            raise ImproperlyConfigured(
                f"{setting}={name!r}: /users/track reads that key itself; pick another."
            )
        if len(name) > 255:
            raise ImproperlyConfigured(f"{setting} is over 255 characters (Braze's limit).")
        if name in seen:
            raise ImproperlyConfigured(
                f"{setting} and {seen[name]} are both {name!r}: one would overwrite the other."
            )
        seen[name] = setting


_check_attribute_names()

# Delivery: how long a message may keep retrying (the WhatsApp service window),
# and the exponential backoff's first and longest wait.
HANDOFF_DELIVERY_MAX_AGE = env.int("HANDOFF_DELIVERY_MAX_AGE", default=24 * 3600)
HANDOFF_RETRY_BASE_SECONDS = env.float("HANDOFF_RETRY_BASE_SECONDS", default=2.0)
HANDOFF_RETRY_MAX_SECONDS = env.float("HANDOFF_RETRY_MAX_SECONDS", default=300.0)

# Background work. The default runs it inside the web process (one process, no
# broker); set HANDOFF_EMBEDDED_WORKERS=false when `worker:` processes run it.
HANDOFF_EMBEDDED_WORKERS = env.bool("HANDOFF_EMBEDDED_WORKERS", default=True)
HANDOFF_ROUTING_THREADS = env.int("HANDOFF_ROUTING_THREADS", default=2)
HANDOFF_DELIVERY_THREADS = env.int("HANDOFF_DELIVERY_THREADS", default=2)
# How often an idle worker looks for work it was not woken for (other processes'
# messages, retries coming due, claims left by a killed process).
HANDOFF_POLL_SECONDS = env.float("HANDOFF_POLL_SECONDS", default=1.0)
# A claim on a message lapses after this long, so a killed worker's message is retried.
HANDOFF_CLAIM_SECONDS = env.float("HANDOFF_CLAIM_SECONDS", default=60.0)
# The agents' event feed is kept this long for reconnecting browsers to catch up.
HANDOFF_EVENT_RETENTION_HOURS = env.float("HANDOFF_EVENT_RETENTION_HOURS", default=24.0)
# Resolved conversations are deleted this many days after their resolution, with their
# messages, and contacts left with nothing after them (docs/deploy.md); 0 keeps all.
HANDOFF_RETENTION_DAYS = env.int("HANDOFF_RETENTION_DAYS", default=0)
if HANDOFF_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("HANDOFF_RETENTION_DAYS must be 0 (keep for ever) or more days.")

# Agents: the most open conversations an agent holds at once when admin set no capacity
# for them, and how long after an agent's last inbox socket closed they still count as
# online (a reload or a short network drop must not flap them offline and back).
HANDOFF_DEFAULT_CAPACITY = env.int("HANDOFF_DEFAULT_CAPACITY", default=5)
if not 1 <= HANDOFF_DEFAULT_CAPACITY <= 999:
    raise ImproperlyConfigured(
        f"HANDOFF_DEFAULT_CAPACITY must be from 1 to 999; got {HANDOFF_DEFAULT_CAPACITY}."
    )
# Whether auto-assignment starts on (admin's Settings switch it afterwards; the switch
# is what counts once the settings row exists).
HANDOFF_AUTO_ASSIGN = env.bool("HANDOFF_AUTO_ASSIGN", default=True)
HANDOFF_OFFLINE_GRACE_SECONDS = env.float("HANDOFF_OFFLINE_GRACE_SECONDS", default=30.0)
if HANDOFF_OFFLINE_GRACE_SECONDS < 0:
    raise ImproperlyConfigured("HANDOFF_OFFLINE_GRACE_SECONDS must be 0 or more seconds.")

# Bots
HANDOFF_BOT = env.str("HANDOFF_BOT", default="faq")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="")
OPENAI_TIMEOUT_SECONDS = env.float("OPENAI_TIMEOUT_SECONDS", default=30.0)
OPENAI_TEMPERATURE = env.float("OPENAI_TEMPERATURE", default=0.3)
HANDOFF_BOT_URL = env.str("HANDOFF_BOT_URL", default="")
HANDOFF_BOT_SECRET = env.str("HANDOFF_BOT_SECRET", default="")
HANDOFF_BOT_TIMEOUT_SECONDS = env.float("HANDOFF_BOT_TIMEOUT_SECONDS", default=10.0)
# The most transcript (in characters, newest kept) an LLM or HTTP bot is sent as context.
HANDOFF_BOT_CONTEXT_CHARS = env.int("HANDOFF_BOT_CONTEXT_CHARS", default=6000)

# A reverse proxy you run is in front and sets X-Forwarded-Proto and X-Forwarded-For
# (docs/deploy.md). Only then are those headers believed: for HTTPS, for the webhook's
# allow-list and for the login lockout's address; without a proxy any client could set
# them. HANDOFF_TRUST_X_FORWARDED_FOR is this setting's former name, still read.
HANDOFF_BEHIND_PROXY = env.bool(
    "HANDOFF_BEHIND_PROXY", default=env.bool("HANDOFF_TRUST_X_FORWARDED_FOR", default=False)
)

# Security headers that `check --deploy` asks for; harmless in development.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load-balancer probes speak plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HANDOFF_BEHIND_PROXY else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# Preloading puts the domain into browsers' built-in lists, which takes months to undo:
# the domain's owner opts in, knowingly (docs/deploy.md), so `check --deploy` is told
# not to ask for it.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts, styles and connections from this
# origin only, no inline script or style anywhere (the admin's included). 'self' in
# connect-src covers the inbox's ws:/wss: socket to the same host (CSP level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the pages' empty favicon (base.html).
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Log lines for people (`text`, the default) or one JSON object per line for a log store
# (`json`: time, level, logger, message, request_id, conversation_id; docs/deploy.md, Logs).
HANDOFF_LOG_FORMAT = env.str("HANDOFF_LOG_FORMAT", default="text")
if HANDOFF_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("HANDOFF_LOG_FORMAT must be text or json.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "handoff.telemetry.json_log.JsonLineFormatter"},
    },
    # The request and conversation a line was logged for (handoff.telemetry.log_context).
    "filters": {"log_context": {"()": "handoff.telemetry.log_context.LogContextFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": HANDOFF_LOG_FORMAT,
            "filters": ["log_context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # The access log in JSON mode (handoff.web.access_log), kept whatever LOG_LEVEL
        # says, as daphne's own access log is in text mode.
        "handoff.access": {"level": "INFO"},
        "django.channels.server": {"level": "WARNING"},
        # django-axes: each failed sign-in and each lockout (WARNING), without its
        # start-up banner and step-by-step notes (INFO) on every command.
        "axes": {"level": "WARNING"},
    },
}
