"""The middleware that run on the event loop (handoff.web.loop_middleware): under the
async handler, as daphne runs the app, only the middleware that read or write the
session or the body (or that `check --deploy` finds by name) hop to a worker thread, and
those on the loop still do their jobs for each request on its own."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import deprecation

from tests.support.agents import login, make_agent

# What stays threaded, and why, is written beside each in settings.MIDDLEWARE.
THREADED = {
    "SecurityMiddleware",
    "SessionMiddleware",
    "CsrfViewMiddleware",
    "MessageMiddleware",
    "XFrameOptionsMiddleware",
}


@pytest.mark.django_db
def test_on_the_async_path_only_the_middleware_that_need_a_thread_hop_to_one(monkeypatch):
    """`MiddlewareMixin` hands each hook of a sync-only middleware to a worker thread
    on every request; the no-I/O ones (CSP, locale, common, authentication) run on
    the loop."""
    hopped = []
    real = deprecation.sync_to_async

    def recording(hook, *, thread_sensitive=True):
        hopped.append(f"{type(hook.__self__).__name__}.{hook.__name__}")
        return real(hook, thread_sensitive=thread_sensitive)

    monkeypatch.setattr(deprecation, "sync_to_async", recording)

    answer = async_to_sync(AsyncClient().get)("/accounts/login/")

    assert answer.status_code == 200
    assert {hook.split(".")[0] for hook in hopped} == THREADED


@pytest.mark.server
def test_under_daphne_each_request_gets_its_own_language_even_when_they_overlap(live):
    """The language is activated on the loop, in each request's own context: requests
    in flight at once never see each other's."""

    def sign_in_page(language: str) -> requests.Response:
        return requests.get(
            live.url + "/accounts/login/", headers={"Accept-Language": language}, timeout=10
        )

    languages = ["ja", "en"] * 12
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(sign_in_page, languages))

    for language, answer in zip(languages, answers, strict=True):
        assert answer.status_code == 200
        assert answer.headers["Content-Language"] == language
        assert "Accept-Language" in answer.headers["Vary"]
        title = "受信箱にサインイン" if language == "ja" else "Sign in to the inbox"
        assert title in answer.text


@pytest.mark.server
def test_under_daphne_a_missing_slash_is_redirected_and_the_length_is_set(live):
    missing = requests.get(live.url + "/accounts/login", allow_redirects=False, timeout=10)
    page = requests.get(live.url + "/accounts/login/", timeout=10)

    assert missing.status_code == 301 and missing.headers["Location"] == "/accounts/login/"
    assert int(page.headers["Content-Length"]) == len(page.content)


@pytest.mark.server
def test_under_daphne_the_user_is_still_read_for_the_request_that_asks(live, agents_group):
    """Authentication puts a lazy user on the request on the loop; the inbox page and
    the API still read it (an anonymous visitor is sent to sign in)."""
    make_agent("aiko")
    anonymous = requests.get(live.url + "/", allow_redirects=False, timeout=10)
    me = login(live.url, "aiko").get(live.url + "/api/me/", timeout=10)

    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    assert me.status_code == 200 and me.json()["username"] == "aiko"
