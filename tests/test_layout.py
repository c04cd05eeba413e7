"""The package's layout holds: imports point one way (the contracts in pyproject.toml),
nothing but Django's own names sits at the top of `handoff/`, and the installed package
carries no development tool.

These run `lint-imports` and `pip wheel` as a user or CI would, on the real tree and on
a copy with one wrong-way import, so a contract that checks nothing would fail here.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# Django's own module names; every other module lives in a folder that names its layer
# (docs/architecture.md).
DJANGO_NAMES = {"__init__", "admin", "apps", "asgi", "models", "settings", "urls"}
LAYER_FOLDERS = {
    "bots",
    "braze",
    "db",
    "jobs",
    "live",
    "management",
    "migrations",
    "rules",
    "selectors",
    "services",
    "telemetry",
    "web",
    "workers",
}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path):
    """The package, the development tools and the contracts, copied to change freely."""
    ignore = shutil.ignore_patterns("__pycache__", "test-artifacts")
    shutil.copytree(ROOT / "handoff", tmp_path / "handoff", ignore=ignore)
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("handoff/services/inbound.py", "from handoff.web import webhook", "Layers"),
        ("handoff/rules/text.py", "from handoff.models import Contact", "Rules are pure"),
        ("handoff/braze/client.py", "from handoff import models", "The Braze client"),
        ("handoff/bots/faq.py", "from handoff.services import delivery", "Bots import no"),
        ("handoff/web/health.py", "from tests.devtools import bench", "development tools"),
        ("handoff/web/api/messages.py", "from handoff.models import Message", "imports no models"),
    ],
)
def test_a_wrong_way_import_breaks_its_contract(tree_copy, module, wrong_import, contract):
    path = tree_copy / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken


def test_an_import_circle_breaks_the_contracts(tree_copy):
    path = tree_copy / "handoff/jobs/wakeups.py"
    path.write_text(path.read_text() + "\nfrom handoff.jobs import claims  # noqa\n")
    claims = tree_copy / "handoff/jobs/claims.py"
    claims.write_text(claims.read_text() + "\nfrom handoff.jobs import wakeups  # noqa\n")
    result = lint_imports(tree_copy)
    assert result.returncode != 0, result.stdout
    assert "No cycles are allowed in handoff.jobs" in result.stdout


def test_only_django_names_and_layer_folders_sit_at_the_top_of_the_package():
    top = ROOT / "handoff"
    modules = {p.stem for p in top.glob("*.py")}
    folders = {p.name for p in top.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert modules <= DJANGO_NAMES, f"move {sorted(modules - DJANGO_NAMES)} into a layer folder"
    assert folders == LAYER_FOLDERS, "a new layer needs its contract and docs/architecture.md"


def test_the_wheel_holds_the_service_and_no_development_tool(tmp_path):
    # Built from a copy of the tracked files: setuptools leaves build/ beside the source.
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), "."],
        cwd=source,
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("handoff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    python_files = [n for n in names if n.endswith(".py")]
    assert "handoff/web/server.py" in python_files
    assert "handoff/services/inbound.py" in python_files
    for word in ("devtools", "standin", "bench", "throwaway", "loadgen", "tests/"):
        assert not [n for n in names if word in n], word


def test_the_architecture_page_names_every_module_of_the_package_and_the_inbox():
    page = (ROOT / "docs/architecture.md").read_text()
    layout = page.split("## Layout", 1)[1].split("\n## ", 1)[0]
    modules = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "handoff").rglob("*.py")
        if "migrations" not in p.parts
        and "commands" not in p.parts
        and (p.name != "__init__.py" or p.parent.name == "bots")
        and p.parent.name not in ("management",)
    ]
    commands = [p.stem for p in (ROOT / "handoff/management/commands").glob("[!_]*.py")]
    scripts = [p.name for p in (ROOT / "static/inbox").glob("*.js")]
    missing = [m for m in modules if f"`{m}`" not in layout]
    missing += [c for c in commands if f"`{c}`" not in layout]
    missing += [s for s in scripts if f"`{s}`" not in layout]
    assert not missing, f"docs/architecture.md's Layout does not name {missing}"
