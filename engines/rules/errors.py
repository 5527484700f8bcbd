"""Problems in a rule file, each with the file name, line, column and the source
line with a caret — printed ``rules.rule:3:6: unknown form 'purchse_requests' —
did you mean 'purchase_requests'?``."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from engines.expr.errors import context_of, suggestion


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a rule file. ``severity`` is "error" (the file cannot be
    used) or "warning" (it can, but probably does not do what was meant)."""

    message: str
    line: int
    column: int
    context: str = ""
    filename: str = ""
    severity: str = "error"

    def as_dict(self) -> dict:
        """The problem as JSON for the API (``POST /apps/{app}/rules/check``)."""
        return {"line": self.line, "column": self.column, "message": self.message,
                "severity": self.severity, "context": self.context}

    def __str__(self):
        where = f"{self.filename}:" if self.filename else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}{self.line}:{self.column}: {kind}{self.message}"


@dataclass(eq=False)
class RuleError(ValueError):
    """A rule file that cannot be used; ``problems`` lists every problem found (the
    attributes describe the first)."""

    problems: list[RuleProblem] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(str(self))

    @property
    def message(self) -> str:
        return self.problems[0].message

    @property
    def line(self) -> int:
        return self.problems[0].line

    @property
    def column(self) -> int:
        return self.problems[0].column

    def __str__(self):
        return "\n".join(str(p) for p in self.problems)


class SourceText:
    """A rule file's text: offsets to (line, column), and problems with context."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self._starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1

    def end(self) -> tuple[int, int]:
        """Just after the last non-blank character."""
        return self.position(len(self.text.rstrip()))

    def problem(self, message: str, line: int, column: int,
                severity: str = "error") -> RuleProblem:
        return RuleProblem(message, line, column, context_of(self.text, line, column),
                           self.filename, severity)


def unknown(what: str, name: str, known, tail: str) -> str:
    """``unknown <what> '<name>'``, the nearest known name if one is close, then
    ``tail`` (what is known)."""
    hint = suggestion(name, known)
    if hint:
        return f"unknown {what} '{name}'{hint} {tail[0].upper()}{tail[1:]}"
    return f"unknown {what} '{name}' — {tail}"
