"""The app's settings with the bench URLconf: what `make bench` serves, and nothing else does."""

from handoff.settings import *  # noqa: F403

ROOT_URLCONF = "tests.devtools.bench_urls"
