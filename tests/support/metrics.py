"""Scraping GET /metrics in tests: every sample by name and labels, read with
prometheus_client's own parser, and how far one moved between two scrapes."""

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_until
from tests.support.servers import METRICS_TOKEN

Samples = dict[tuple[str, tuple], float]


def scrape(base_url: str, token: str = METRICS_TOKEN) -> Samples:
    """Every sample of the scrape by (name, labels), read by prometheus_client's parser."""
    response = requests.get(
        base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response.headers["Cache-Control"] == "no-store"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def scrape_until(base_url: str, before: Samples, name: str, by: float, **labels: str) -> Samples:
    """Scrape until `name` has moved by `by` since `before` (work finishes in the
    background, and some numbers are recorded just after a commit); that scrape."""
    found: list[Samples] = []

    def reached() -> bool:
        found.append(scrape(base_url))
        return moved(before, found[-1], name, **labels) == by

    wait_until(reached, message=f"{name} {labels} did not move by {by}")
    return found[-1]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)
