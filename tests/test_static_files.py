"""The app serves its own static files in production mode (DEBUG=false, no proxy)."""

from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.server

INBOX = Path(__file__).resolve().parents[1] / "static" / "inbox"


def test_the_inbox_script_is_served_with_caching_headers_and_revalidates(live):
    first = requests.get(live.url + "/static/inbox/inbox.js", timeout=10)

    assert first.status_code == 200
    assert "javascript" in first.headers["Content-Type"]
    assert first.headers["Cache-Control"] == "max-age=3600, public"
    again = requests.get(
        live.url + "/static/inbox/inbox.js",
        headers={"If-None-Match": first.headers["ETag"]},
        timeout=10,
    )
    assert again.status_code == 304


def test_every_module_the_inbox_script_imports_is_served_as_javascript(live):
    # The browser fetches each ES module inbox.js imports from /static/inbox/ itself
    # (no build step): one that is not served breaks the page.
    names = sorted(path.name for path in INBOX.glob("*.js"))
    answers = {name: requests.get(f"{live.url}/static/inbox/{name}", timeout=10) for name in names}

    assert len(names) > 10
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(names, 200)
    assert all("javascript" in a.headers["Content-Type"] for a in answers.values())


def test_the_admin_s_own_static_files_are_served_too(live):
    response = requests.get(live.url + "/static/admin/css/base.css", timeout=10)
    assert response.status_code == 200
    assert "text/css" in response.headers["Content-Type"]


def test_a_missing_static_file_is_a_404_not_a_page(live):
    response = requests.get(live.url + "/static/inbox/nothing-here.js", timeout=10)
    assert response.status_code == 404
