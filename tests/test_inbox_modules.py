"""The inbox's front end stays one small ES module per concern (docs/style.md, Front end).

static/inbox/ has no build step: the template loads inbox.js as a module, and the
browser follows its imports. These checks keep the split that replaced the 1,300-line
inbox.js from growing back: every module is reached from the page, none is large,
the imports point one way, and the shared state lives in state.js alone.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INBOX = ROOT / "static" / "inbox"
TEMPLATES = ROOT / "templates"
MAX_LINES = 400
# `import { a, b } from "./x.js";`, over one line or several.
IMPORT = re.compile(r'^import\s[^;]*?\sfrom\s+"\./([^"]+)";', re.MULTILINE | re.DOTALL)
TEMPLATE_SCRIPT = re.compile(r"""\{%\s*static\s+['"]inbox/([^'"]+\.js)['"]\s*%\}""")


def modules() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(INBOX.glob("*.js"))}


def imports() -> dict[str, list[str]]:
    return {name: IMPORT.findall(text) for name, text in modules().items()}


def loaded_by_templates() -> set[str]:
    found = set()
    for template in TEMPLATES.rglob("*.html"):
        found.update(TEMPLATE_SCRIPT.findall(template.read_text()))
    return found


def test_every_inbox_module_is_loaded_by_the_page_or_imported_by_another():
    entry_points = loaded_by_templates()
    imported = {target for targets in imports().values() for target in targets}

    assert entry_points == {"inbox.js"}
    dead = sorted(set(modules()) - imported - entry_points)
    assert not dead, f"modules nothing loads: {dead}"


def test_every_import_names_a_module_that_exists():
    missing = [
        f"{name} imports {target}"
        for name, targets in imports().items()
        for target in targets
        if not (INBOX / target).is_file()
    ]
    assert not missing, "; ".join(missing)


def test_no_inbox_module_grows_past_400_lines():
    long = {
        name: text.count("\n") for name, text in modules().items() if text.count("\n") > MAX_LINES
    }
    assert not long, f"split these by concern: {long}"


def test_the_inbox_modules_import_each_other_one_way_only():
    graph = imports()
    done: set[str] = set()

    def circle_from(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for target in graph.get(name, []):
            found = circle_from(target, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    circles = [c for c in (circle_from(name, []) for name in graph) if c]
    assert not circles, f"import circle: {' -> '.join(circles[0])}"


def test_the_shared_state_is_declared_in_state_js_alone():
    declares_state = [
        name
        for name, text in modules().items()
        if re.search(r"^(export\s+)?(const|let|var)\s+state\s*=", text, re.MULTILINE)
    ]
    assert declares_state == ["state.js"]
    assert not imports()["state.js"], "state.js imports nothing, so anything may import it"


def test_every_inbox_module_opens_with_a_comment_saying_what_it_is_for():
    bare = [name for name, text in modules().items() if not text.startswith("//")]
    assert not bare, f"modules without a header comment: {bare}"


def test_the_entry_point_only_wires_the_modules():
    # The monolith declared every function itself; the entry point wires the modules
    # together, ticks and starts, and each concern lives in a module it imports.
    text = (INBOX / "inbox.js").read_text()
    functions = re.findall(r"^(?:async\s+)?function\s+\w+", text, re.MULTILINE)

    assert len(functions) <= 4, f"inbox.js declares {len(functions)} functions: move them"
    assert text.count("\n") <= 200
    assert len(imports()["inbox.js"]) >= 10
