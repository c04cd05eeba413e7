"""The frames docs/websocket.md documents, read from the document itself, and a check
of a frame the server sent against its documented shape.

Each frame type has one fenced block tagged `event=<type>` (a numbered, stored change)
or `frame=<type>` (a notice or control frame) holding a JSON example whose values give
the types, with `//` comments that may start with markers: `or null`, `optional`,
`one of: a | b`, `any keys` (docs/websocket.md, "Shapes"). The document is the only
source of the shapes: nothing here says what the server should send.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "websocket.md"

BLOCK = re.compile(
    r"^```json (?P<tag>event|frame)=(?P<type>\S+)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL
)
KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')
ENUM_VALUE = r'"[^"]*"|[\w.-]+'
MARKER = re.compile(
    rf"(or null|optional|any keys|one of: ((?:{ENUM_VALUE})(?:\s*\|\s*(?:{ENUM_VALUE}))*))"
    r"\s*[,;:]?\s*"
)


class DocumentError(ValueError):
    """A shape block the checker cannot read: the document, not the server, is wrong."""


@dataclass(frozen=True)
class Shape:
    type: str  # a JSON type: object, array, string, integer, number, boolean
    nullable: bool = False
    optional: bool = False  # may be absent from the object that holds it
    one_of: tuple[str, ...] | None = None
    keys: dict[str, "Shape"] | None = None  # an object's keys; None: any keys
    items: "Shape | None" = None  # an array's items


@dataclass(frozen=True)
class Documented:
    type: str
    numbered: bool  # an event (`event=`): numbered, stored, replayed
    shape: Shape


def documented_frames(text: str | None = None) -> dict[str, Documented]:
    """Every frame type the document shows, by type."""
    frames: dict[str, Documented] = {}
    for block in BLOCK.finditer(DOC.read_text() if text is None else text):
        kind = block["type"]
        if kind in frames:
            raise DocumentError(f"{kind}: shown twice")
        shape = parse_example(block["body"], where=kind)
        if shape.keys is None or "type" not in shape.keys:
            raise DocumentError(f"{kind}: the example is not an object with a 'type'")
        frames[kind] = Documented(kind, block["tag"] == "event", shape)
    return frames


def parse_example(body: str, *, where: str = "example") -> Shape:
    """The shape of one commented JSON example."""
    notes: dict[str, tuple[str, dict]] = {}
    lines = []
    for number, line in enumerate(body.splitlines(), 1):
        code, comment = _split_comment(line)
        marks = _markers(comment)
        if marks:
            key = KEY.search(code)
            if key is None:
                raise DocumentError(f"{where}, line {number}: a marker with no key to describe")
            placeholder = f"@{len(notes)}"
            notes[placeholder] = (json.loads(f'"{key[1]}"'), marks)
            code = code[: key.start()] + f'"{placeholder}":' + code[key.end() :]
        lines.append(code)
    try:
        example = json.loads("\n".join(lines))
    except ValueError as error:
        raise DocumentError(f"{where}: not JSON once comments are removed: {error}") from None
    return _shape_of(example, notes, {}, where)


def _split_comment(line: str) -> tuple[str, str]:
    """The line's code and the text of its `//` comment (slashes in strings are code)."""
    in_string = escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif line.startswith("//", index):
            return line[:index], line[index + 2 :].strip()
    return line, ""


def _markers(comment: str) -> dict:
    """The markers a comment starts with: {"or null": True, "one of": (...), ...}."""
    marks: dict = {}
    position = 0
    while match := MARKER.match(comment, position):
        if match[2]:
            values = re.findall(ENUM_VALUE, match[2])
            marks["one of"] = tuple(json.loads(v) if v.startswith('"') else v for v in values)
        else:
            marks[match[1]] = True
        position = match.end()
    return marks


def _shape_of(value, notes: dict, marks: dict, where: str) -> Shape:
    flags = {
        "nullable": "or null" in marks,
        "optional": "optional" in marks,
        "one_of": marks.get("one of"),
    }
    kind = json_type(value)
    if kind == "null":
        raise DocumentError(f"{where}: a null example says no type; show a value and 'or null'")
    if kind == "object":
        if "any keys" in marks:
            return Shape("object", **flags)
        keys = {}
        for key, item in value.items():
            name, item_marks = notes.get(key, (key, {}))
            keys[name] = _shape_of(item, notes, item_marks, f"{where}.{name}")
        return Shape("object", keys=keys, **flags)
    if kind == "array":
        if not value:
            raise DocumentError(f"{where}: an empty list says nothing of its items")
        return Shape("array", items=_shape_of(value[0], notes, {}, f"{where}[0]"), **flags)
    return Shape(kind, **flags)


def json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def mismatches(value, shape: Shape, path: str = "") -> list[str]:
    """How `value` differs from `shape`, one line per difference (none: it matches)."""
    kind = json_type(value)
    if kind == "null":
        return [] if shape.nullable else [f"{path or 'frame'}: null, documented as {shape.type}"]
    if kind != shape.type and not (shape.type == "number" and kind == "integer"):
        return [f"{path or 'frame'}: {kind} {value!r:.60}, documented as {shape.type}"]
    if shape.one_of is not None and value not in shape.one_of:
        return [f"{path}: {value!r} is not one of {' | '.join(map(repr, shape.one_of))}"]
    if kind == "array":
        return [
            problem
            for index, item in enumerate(value)
            for problem in mismatches(item, shape.items, f"{path}[{index}]")
        ]
    if kind != "object" or shape.keys is None:
        return []
    problems = [f"{path}.{key}: not documented" for key in value if key not in shape.keys]
    problems += [
        f"{path}.{key}: documented, but missing"
        for key, inner in shape.keys.items()
        if key not in value and not inner.optional
    ]
    for key, inner in shape.keys.items():
        if key in value:
            problems += mismatches(value[key], inner, f"{path}.{key}")
    return problems


def frame_mismatches(frame: dict, documented: dict[str, Documented]) -> list[str]:
    """How a frame the server sent differs from the document's shape for its type."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    if kind not in documented:
        return [f"{kind!r}: no documented frame has this type"]
    return [f"{kind}: {problem}" for problem in mismatches(frame, documented[kind].shape)]
