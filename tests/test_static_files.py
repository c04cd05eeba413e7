"""The app serves its own static files in production mode (DEBUG=false, no proxy)."""

import pytest
import requests

pytestmark = pytest.mark.server


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


def test_the_admin_s_own_static_files_are_served_too(live):
    response = requests.get(live.url + "/static/admin/css/base.css", timeout=10)
    assert response.status_code == 200
    assert "text/css" in response.headers["Content-Type"]


def test_a_missing_static_file_is_a_404_not_a_page(live):
    response = requests.get(live.url + "/static/inbox/nothing-here.js", timeout=10)
    assert response.status_code == 404
