"""The accessibility check of the browser tests: axe-core, the engine the issue names, run
inside a Playwright page as the page ships.

axe comes from npm, pinned in tests/a11y/package-lock.json and installed by `make test`
(`npm ci`); it is a test tool, never served. Its source is run with `page.evaluate`, not
`add_script_tag`: our Content-Security-Policy (`script-src 'self'`, no inline script)
refuses an inline script tag, and lifting the policy (`bypass_csp`) would check a page
that is not the one agents get. A test fails on serious and critical findings, the
impacts that stop people from using a page; `also` names rules to fail on whatever axe
rates them (a missing level-one heading is "moderate").
"""

import json
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "a11y"
AXE_SOURCE = PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")
# How many of a rule's elements a failure message names; the rest are counted.
TARGETS_SHOWN = 5


def pinned_version() -> str:
    """axe-core's version as tests/a11y/package.json pins it."""
    return json.loads((PACKAGE / "package.json").read_text())["devDependencies"]["axe-core"]


def axe_source() -> str:
    if not AXE_SOURCE.exists():
        pytest.fail(
            f"{AXE_SOURCE} is missing: run `make test`, which installs axe-core with "
            "`npm ci` in tests/a11y"
        )
    return AXE_SOURCE.read_text(encoding="utf-8")


def inject(page) -> str:
    """Load axe into the page (once per document) and return the version it reports."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate("() => window.axe.version")


def violations(page) -> list[dict]:
    """Every violation axe finds in the page's current state, with all rules on."""
    inject(page)
    results = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return results["violations"]


def blocking(found: list[dict], *, also: tuple[str, ...] = ()) -> list[dict]:
    """The violations a test fails on: serious or critical, or a rule named in `also`."""
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS or v["id"] in also]


def describe(found: list[dict]) -> str:
    """One paragraph per rule: its id, impact and help, then the elements it flagged."""
    lines = []
    for violation in found:
        targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]]
        shown = ", ".join(targets[:TARGETS_SHOWN])
        more = f" and {len(targets) - TARGETS_SHOWN} more" if len(targets) > TARGETS_SHOWN else ""
        lines.append(
            f"{violation['id']} ({violation['impact']}, {len(targets)} elements): "
            f"{violation['help']}\n    {shown}{more}\n    {violation['helpUrl']}"
        )
    return "\n".join(lines)


def assert_accessible(page, *, also: tuple[str, ...] = ()) -> None:
    """Fail with a readable list unless axe finds nothing serious or critical (nor any
    rule in `also`) on the page as it is now."""
    found = blocking(violations(page), also=also)
    assert not found, f"axe found {len(found)} blocking violations:\n{describe(found)}"
