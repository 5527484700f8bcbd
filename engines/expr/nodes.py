"""The tree of an expression: what the parser builds, the checker annotates with types
and the compiler turns into Python. Every node knows where it starts in the source
(1-based line and column, and character offsets for quoting it in messages)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(eq=False)
class Node:
    line: int
    column: int
    start: int
    end: int
    type: object = field(default="any", init=False)


@dataclass(eq=False)
class Literal(Node):
    """A number (Decimal), text (str), TRUE/FALSE (bool) or blank (None)."""

    value: object = None


@dataclass(eq=False)
class Field(Node):
    """A field path such as ``qty``, ``material.name`` or ``lines.amount``.

    ``positions`` holds (line, column) of each name. The checker fills ``steps``:
    for each name after the first, how to take it from the value before — "member"
    of a linked record, "column" of a subtable's lines, or "dynamic" when the fields
    are not described and the value decides at run time."""

    path: tuple[str, ...] = ()
    positions: tuple[tuple[int, int], ...] = ()
    steps: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(eq=False)
class Call(Node):
    name: str = ""  # upper case
    args: list[Node] = field(default_factory=list)
    spelled: str = ""  # as written, for messages


@dataclass(eq=False)
class Unary(Node):
    """``neg``, ``pos``, ``percent`` or ``not``."""

    op: str = ""
    operand: Node | None = None


@dataclass(eq=False)
class Binary(Node):
    """Arithmetic (add sub mul div pow), ``concat``, comparisons (eq ne lt le gt ge)
    and the keywords ``and`` / ``or``. ``op_line`` / ``op_column`` locate the operator."""

    op: str = ""
    left: Node | None = None
    right: Node | None = None
    op_line: int = 0
    op_column: int = 0


@dataclass(eq=False)
class In(Node):
    """``value IN (option, option, ...)``."""

    value: Node | None = None
    options: list[Node] = field(default_factory=list)


def children(node: Node) -> list[Node]:
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, In):
        return [node.value, *node.options]
    return []


def walk(node: Node):
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))
