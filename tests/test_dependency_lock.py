"""requirements.lock must pin every dependency pyproject.toml names, inside its range.

`make` installs from the lock alone (hashes checked), so a dependency added to
pyproject.toml without `make lock` would be missing on a fresh machine; this says
which one and how to fix it, instead of an ImportError somewhere in the suite.
"""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def locked_versions() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        names.extend(extra)
    return [Requirement(name) for name in names]


def test_the_lock_pins_every_declared_dependency_within_its_range():
    locked = locked_versions()
    problems = []
    for requirement in declared_requirements():
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements.lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name}=={version} is outside {requirement.specifier}")
    assert not problems, "; ".join(problems) + ": run `make lock`"


def test_every_pin_in_the_lock_carries_a_hash():
    text = (ROOT / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes: {unhashed}"
