"""Read definition text (JSON) keeping the position of every value.

Python's ``json`` module forgets where values came from; ``loom check`` must say
``file:line:col``, so definitions are parsed with a small Lark JSON grammar that
records positions by JSON pointer. Duplicate object keys, which ``json`` silently
collapses, are reported too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lark import Lark, Token, Tree, UnexpectedInput

_parser = Lark.open("json.lark", rel_to=__file__, start="value", parser="lalr",
                    propagate_positions=True, maybe_placeholders=False)


@dataclass
class Problem:
    """One thing wrong in a definition, located in its source."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass
class Source:
    """A parsed JSON document with the position of every value by JSON pointer."""

    file: str
    value: object = None
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def where(self, pointer: str) -> tuple[int, int]:
        """Position of the value at ``pointer``, or of its nearest parent."""
        while pointer not in self.positions and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.positions.get(pointer, (1, 1))

    def problem(self, pointer: str, message: str) -> Problem:
        line, column = self.where(pointer)
        return Problem(self.file, line, column, message)


def pointer_join(base: str, part: str | int) -> str:
    text = str(part).replace("~", "~0").replace("/", "~1")
    return f"{base}/{text}"


def parse_json(text: str, file: str = "<text>", positions_base: str = "") -> Source:
    """Parse JSON ``text``; syntax errors become problems rather than exceptions."""
    source = Source(file)
    try:
        tree = _parser.parse(text)
    except UnexpectedInput as error:
        token = getattr(error, "token", None)
        found = f" near {str(token)!r}" if token is not None and str(token) else ""
        source.problems.append(Problem(file, error.line, error.column,
                                       f"invalid JSON{found}: check for a missing comma, "
                                       "quote or bracket just before this point"))
        return source
    source.value = _build(tree, positions_base, source)
    return source


def _build(node: Tree | Token, pointer: str, source: Source):
    if isinstance(node, Token):  # bare value (top level scalar)
        return json.loads(node)
    meta = node.meta
    if not meta.empty:
        source.positions[pointer] = (meta.line, meta.column)
    kind = node.data
    if kind == "object":
        result: dict = {}
        for pair in node.children:
            key_token, value_node = pair.children
            key = json.loads(key_token)
            child = pointer_join(pointer, key)
            if key in result:
                source.problems.append(Problem(
                    source.file, key_token.line, key_token.column,
                    f"duplicate key {key!r}: this object already has one; keep only one of them"))
            result[key] = _value(value_node, child, source)
            # A message about a value points at the value, not at its key.
            meta = getattr(value_node, "meta", None)
            if meta is not None and not meta.empty:
                source.positions[child] = (meta.line, meta.column)
            else:
                source.positions[child] = (key_token.line, key_token.column)
        return result
    if kind == "array":
        return [_value(item, pointer_join(pointer, i), source)
                for i, item in enumerate(node.children)]
    return _scalar(node)


def _value(node, pointer: str, source: Source):
    if isinstance(node, Tree) and node.data in ("object", "array"):
        value = _build(node, pointer, source)
        return value
    if isinstance(node, Tree) and not node.meta.empty and pointer not in source.positions:
        source.positions[pointer] = (node.meta.line, node.meta.column)
    return _scalar(node)


def _scalar(node: Tree):
    kind = node.data
    if kind == "string":
        return json.loads(node.children[0])
    if kind == "number":
        text = str(node.children[0])
        return json.loads(text)
    return {"true": True, "false": False, "null": None}[kind]
