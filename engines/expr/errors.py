"""Two kinds of error: problems in an expression's text (found before it runs) and
formula error values (the result of running it, as in a spreadsheet).

``ExpressionError`` is raised by ``compile_expression``; it names the line and column
and shows the source line with a caret, so a business user can fix the formula.
``ErrorValue`` is what a formula *evaluates to* when it cannot give a value (#DIV/0!,
#VALUE!, #N/A ...): it is returned, never raised, and it propagates through operators
and functions the way it does in LibreOffice Calc. Inside compiled code an error
travels as the ``Failure`` exception, which the compiled function turns back into a
value at its boundary (and ``IFERROR`` / ``ISERROR`` catch).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

DIV0 = "#DIV/0!"
VALUE = "#VALUE!"
NA = "#N/A"
NUM = "#NUM!"
REF = "#REF!"
NAME = "#NAME?"

ERROR_CODES = {
    DIV0: "a number is divided by zero",
    VALUE: "a value has the wrong type, or an argument is out of range",
    NA: "no value is available (a lookup found nothing, or NA() was used)",
    NUM: "a number is too large, too small or not defined",
    REF: "a linked record or line is missing",
    NAME: "an unknown name",
}


class ErrorValue:
    """A formula error value such as ``#DIV/0!``; equal to another of the same code."""

    __slots__ = ("code", "message", "line", "column")

    def __init__(self, code: str, message: str = "", line: int | None = None,
                 column: int | None = None):
        self.code = code
        self.message = message or ERROR_CODES.get(code, "")
        self.line = line
        self.column = column

    def __eq__(self, other):
        return isinstance(other, ErrorValue) and other.code == self.code

    def __hash__(self):
        return hash(self.code)

    def __str__(self):
        return self.code

    def __repr__(self):
        return f"ErrorValue({self.code!r})"

    def describe(self) -> str:
        """The code, what went wrong and where: ``#DIV/0! division by zero (line 1, column 5)``."""
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.code} {self.message}{where}"

    def located(self, line: int, column: int) -> ErrorValue:
        if self.line is not None:
            return self
        return ErrorValue(self.code, self.message, line, column)


class Failure(Exception):
    """An error value on its way out of compiled code (internal to engines.expr)."""

    __slots__ = ("error",)

    def __init__(self, error: ErrorValue):
        self.error = error


def fail(code: str, message: str = ""):
    raise Failure(ErrorValue(code, message))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an expression's text, with a 1-based line and column."""

    message: str
    line: int
    column: int
    context: str = ""

    def __str__(self):
        return f"line {self.line}, column {self.column}: {self.message}"


@dataclass(eq=False)
class ExpressionError(ValueError):
    """An expression cannot be compiled. ``problems`` holds every problem found; the
    attributes describe the first. ``context`` is the source line with a caret under
    the column."""

    message: str
    line: int
    column: int
    context: str = ""
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(self.message)
        if not self.problems:
            self.problems = [Problem(self.message, self.line, self.column, self.context)]

    def __str__(self):
        return f"line {self.line}, column {self.column}: {self.message}"

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> ExpressionError:
        first = problems[0]
        return cls(first.message, first.line, first.column, first.context, list(problems))


def context_of(source: str, line: int, column: int) -> str:
    """The source line at ``line`` with a caret under ``column``."""
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"{text}\n{' ' * (max(column, 1) - 1)}^"


def problem_at(source: str, message: str, line: int, column: int) -> Problem:
    return Problem(message, line, column, context_of(source, line, column))


def suggestion(name: str, known) -> str:
    """`` — did you mean 'qty'?`` when a known name is close to ``name``, else ``""``."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" — did you mean '{by_lower[close[0]]}'?" if close else ""
