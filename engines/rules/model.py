"""The tree of a rule file: small dataclasses the parser builds, the checker fills with
compiled expressions and the runtime reads.

Equality ignores where things were written (``at`` positions) and compiled code: two
rules are equal when they say the same thing. ``engines.rules.data`` turns them into
plain JSON-able data and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from engines.expr import Compiled, ErrorValue
from engines.expr.errors import Failure
from engines.expr.values import text as as_text


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the rule file (0, 0: not from a file)."""

    line: int = 0
    column: int = 0

    def __str__(self):
        return f"{self.line}:{self.column}"


NOWHERE = Position()


def _at():
    return field(default=NOWHERE, compare=False, repr=False)


@dataclass
class Expr:
    """An expression of engines.expr as written in the rule file.

    ``source`` is its text; ``compiled`` is set by ``parse_rules`` / ``compile_rules``
    (compiled once, evaluated per record). ``start`` is the offset of its first
    character in the file; ``offsets`` is set for an expression inside quoted text (a
    template placeholder), where each character's offset in the file is listed."""

    source: str
    at: Position = _at()
    start: int = field(default=0, compare=False, repr=False)
    offsets: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    compiled: Compiled | None = field(default=None, compare=False, repr=False)

    def evaluate(self, record: Mapping | None, env: Mapping | None = None):
        """The value for ``record`` (see ``engines.expr.Compiled.evaluate``)."""
        if self.compiled is None:
            raise RuntimeError(f"the expression {self.source!r} has not been compiled")
        return self.compiled.evaluate(record or {}, env)


@dataclass
class Template:
    """Text with ``{expression}`` placeholders, e.g. ``"低库存: {material.name}"``.

    ``text`` is the text as written (between the quotes, quotes undoubled); ``parts``
    alternates literal text (str) and placeholders (``Expr``). ``{{`` and ``}}`` are
    literal braces."""

    text: str
    parts: tuple[str | Expr, ...] = field(default=(), compare=False, repr=False)
    at: Position = _at()

    @property
    def placeholders(self) -> tuple[Expr, ...]:
        return tuple(p for p in self.parts if isinstance(p, Expr))

    def render(self, record: Mapping | None, env: Mapping | None = None) -> str:
        """The text with each placeholder's value shown as text (blank as nothing, an
        error value as its code, e.g. ``#N/A``)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.evaluate(record, env)
            if isinstance(value, ErrorValue):
                out.append(value.code)
                continue
            try:
                out.append(as_text(value))
            except Failure as failure:
                out.append(failure.error.code)
        return "".join(out)


# ---- triggers ---------------------------------------------------------------------

@dataclass
class RecordEvent:
    """``when <form> created|updated|deleted|submitted``."""

    kind: ClassVar[str] = "record"
    form: str
    event: str
    at: Position = _at()  # of the form's name
    event_at: Position = _at()


@dataclass
class FieldChanged:
    """``when <form>.<field> changed [to <expr>]``."""

    kind: ClassVar[str] = "field_changed"
    form: str
    field: str
    to: Expr | None = None
    at: Position = _at()
    field_at: Position = _at()


@dataclass
class FlowEvent:
    """``when <form> flow approved|rejected|returned|withdrawn|completed`` or
    ``when <form> flow node "<id>" reached`` (event ``"reached"``, ``node`` set)."""

    kind: ClassVar[str] = "flow"
    form: str
    event: str
    node: str | None = None
    at: Position = _at()
    event_at: Position = _at()


@dataclass
class BalanceChanged:
    """``when <ledger>.balance changed``: a balance row of the ledger changed."""

    kind: ClassVar[str] = "balance"
    ledger: str
    at: Position = _at()


@dataclass
class Schedule:
    """``every "<cron>"``: five fields, minute hour day-of-month month day-of-week."""

    kind: ClassVar[str] = "cron"
    cron: str
    at: Position = _at()


@dataclass
class Interval:
    """``every 15 minutes|hours|days`` (``every 1 hour`` is read as 1 hours)."""

    kind: ClassVar[str] = "interval"
    every: int
    unit: str  # "minutes", "hours" or "days"
    at: Position = _at()
    unit_at: Position = _at()

    @property
    def seconds(self) -> int:
        return self.every * {"minutes": 60, "hours": 3600, "days": 86400}[self.unit]


@dataclass
class WebhookReceived:
    """``when webhook "<name>"``: an inbound webhook of that name was called."""

    kind: ClassVar[str] = "webhook"
    name: str
    at: Position = _at()


Trigger = RecordEvent | FieldChanged | FlowEvent | BalanceChanged | Schedule | Interval \
    | WebhookReceived
RECORD_TRIGGERS = (RecordEvent, FieldChanged, FlowEvent)


def trigger_form(trigger: Trigger) -> str | None:
    """The form whose record fires ``trigger``, if a record does."""
    return trigger.form if isinstance(trigger, RECORD_TRIGGERS) else None


# ---- actions ----------------------------------------------------------------------

@dataclass
class Assignment:
    """``field = value`` in ``set``, or ``field: value`` inside braces."""

    field: str
    value: Expr
    at: Position = _at()  # of the field's name


@dataclass
class Recipient:
    """``user|role|department "<name>"`` (``name``) or ``... <expr>`` (``expr``,
    e.g. ``user applicant``: the value of a field names the recipient)."""

    kind: str
    name: str | None = None
    expr: Expr | None = None
    at: Position = _at()
    name_at: Position = _at()


@dataclass
class SetFields:
    word: ClassVar[str] = "set"
    assignments: tuple[Assignment, ...]
    at: Position = _at()


@dataclass
class CreateRecord:
    word: ClassVar[str] = "create"
    form: str
    values: tuple[Assignment, ...]
    at: Position = _at()
    form_at: Position = _at()


@dataclass
class UpdateRecords:
    word: ClassVar[str] = "update"
    form: str
    where: Expr
    values: tuple[Assignment, ...]
    at: Position = _at()
    form_at: Position = _at()


@dataclass
class PostMovement:
    word: ClassVar[str] = "post"
    ledger: str
    values: tuple[Assignment, ...]
    at: Position = _at()
    ledger_at: Position = _at()


@dataclass
class ReverseMovements:
    word: ClassVar[str] = "reverse"
    ledger: str
    at: Position = _at()
    ledger_at: Position = _at()


@dataclass
class StartFlow:
    word: ClassVar[str] = "start flow"
    flow: str
    at: Position = _at()
    flow_at: Position = _at()


@dataclass
class Notify:
    word: ClassVar[str] = "notify"
    recipients: tuple[Recipient, ...]
    title: Template
    body: Template | None = None
    channels: tuple[str, ...] = ("inapp",)
    at: Position = _at()
    channels_at: tuple[Position, ...] = field(default=(), compare=False, repr=False)


@dataclass
class SendReport:
    word: ClassVar[str] = "report"
    report: str
    recipients: tuple[Recipient, ...]
    channels: tuple[str, ...] = ("email",)
    at: Position = _at()
    report_at: Position = _at()
    channels_at: tuple[Position, ...] = field(default=(), compare=False, repr=False)


@dataclass
class CallWebhook:
    word: ClassVar[str] = "call webhook"
    url: str
    payload: tuple[Assignment, ...] | None = None
    at: Position = _at()
    url_at: Position = _at()


Action = SetFields | CreateRecord | UpdateRecords | PostMovement | ReverseMovements \
    | StartFlow | Notify | SendReport | CallWebhook


# ---- rules ------------------------------------------------------------------------

# Triggers that watch the lasting state of one record or balance row (rather than a
# one-off event): a condition on them is edge-triggered. A field change is an edge
# already, so its condition is a plain filter.
EDGE_TRIGGERED = {"updated", "balance"}


@dataclass
class Rule:
    """One rule. ``order``: rules fired by the same event run in ascending order,
    then in the order they are written. ``actions`` run when the condition holds
    (or there is none), ``else_actions`` when it does not."""

    name: str
    trigger: Trigger
    actions: tuple[Action, ...]
    else_actions: tuple[Action, ...] = ()
    condition: Expr | None = None
    order: int = 0
    enabled: bool = True
    at: Position = _at()  # of the word 'rule'
    name_at: Position = _at()
    filename: str = field(default="", compare=False, repr=False)

    @property
    def subject(self) -> str | None:
        """What the rule watches the state of: "record", "balance", or None."""
        if isinstance(self.trigger, RECORD_TRIGGERS):
            return "record"
        return "balance" if isinstance(self.trigger, BalanceChanged) else None

    @property
    def edge_triggered(self) -> bool:
        """True when the rule fires as its condition *becomes* true for one record or
        balance row, not at every event while it stays true (see docs/rules.md)."""
        if self.condition is None:
            return False
        trigger = self.trigger
        key = trigger.event if isinstance(trigger, RecordEvent) else trigger.kind
        return key in EDGE_TRIGGERED

    def expressions(self):
        """Every ``Expr`` of the rule, template placeholders included."""
        yield from _expressions(self)


def _expressions(node):
    if isinstance(node, Expr):
        yield node
    elif isinstance(node, Template):
        yield from node.placeholders
    elif isinstance(node, tuple):
        for item in node:
            yield from _expressions(item)
    elif hasattr(node, "__dataclass_fields__") and not isinstance(node, Position):
        for name in node.__dataclass_fields__:
            yield from _expressions(getattr(node, name))
