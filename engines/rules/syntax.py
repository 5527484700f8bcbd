"""Reading a rule file: text -> tree of ``engines.rules.model``, or problems that say
in plain words what is wrong and where.

The grammar is ``rules.lark`` (the specification); ``RuleBuilder`` has one method per
alias in it. Expressions arrive as runs of tokens: ``RuleBuilder.expr`` keeps their
text and position, for engines.expr to parse. Syntax errors are described by
``engines.rules.syntax_errors``.
"""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Transformer, UnexpectedInput

from engines.rules.errors import SourceText
from engines.rules.lexicon import (
    EXPRESSION_OPENERS,
    KEYWORD_TYPES,
    KEYWORDS,
    OPERAND_TOKENS,
)
from engines.rules.model import (
    Assignment,
    BalanceChanged,
    CallWebhook,
    CreateRecord,
    Expr,
    FieldChanged,
    FlowEvent,
    Interval,
    Notify,
    Position,
    PostMovement,
    Recipient,
    RecordEvent,
    ReverseMovements,
    Rule,
    Schedule,
    SendReport,
    SetFields,
    StartFlow,
    Template,
    UpdateRecords,
    WebhookReceived,
)
from engines.rules.syntax_errors import describe_syntax_error
from engines.rules.templates import split_template, unquote
from engines.rules.vocabulary import UNITS


class KeywordsAfterOperands:
    """Lark's contextual lexer reads a keyword as a keyword only where the grammar
    accepts it, and as a name elsewhere — so after `notify role "x"` the misplaced
    `body` would be swallowed into the recipient expression and the error reported
    far away. No expression has two operands in a row, so a rule keyword right after
    an operand of an expression (outside parentheses) is made a keyword here: the
    parser then reports it where it stands. Valid rules are read exactly as before.

    A recipient's kind (`user` in `notify user payload.submitter`) is a name before an
    expression, not an operand of it, and is not counted as one."""

    always_accept = ()

    def process(self, stream):
        previous, previous_is_kind = None, False
        depth, in_expression, in_recipients, last_keyword = 0, False, False, None
        for token in stream:
            kind, is_kind = token.type, False
            if kind == "LPAR":
                depth += 1
            elif kind == "RPAR":
                depth = max(depth - 1, 0)
            elif kind == "NAME" and depth == 0 and previous is not None:
                if in_recipients and previous.type in ("NOTIFY", "TO", "COMMA"):
                    is_kind = True
                elif (in_expression and previous.type in OPERAND_TOKENS
                      and not previous_is_kind):
                    keyword = KEYWORDS.get(token.value.lower())
                    if keyword:
                        token = Token.new_borrow_pos(keyword, token.value, token)
                        kind = keyword
            if kind in EXPRESSION_OPENERS:
                in_expression = True
            elif kind in KEYWORD_TYPES or kind in ("LBRACE", "RBRACE"):
                in_expression = False
            if kind == "NOTIFY" or (kind == "TO" and last_keyword == "REPORT"):
                in_recipients = True
            elif kind in KEYWORD_TYPES:
                in_recipients = False
            if kind in KEYWORD_TYPES:
                last_keyword = kind
            previous, previous_is_kind = token, is_kind
            yield token


@functools.cache
def parser() -> Lark:
    return Lark.open("rules.lark", rel_to=__file__, parser="lalr", maybe_placeholders=True,
                     postlex=KeywordsAfterOperands())


def read_rules(source: SourceText) -> tuple[list[Rule], list[tuple[str, Position]]]:
    """The rules of ``source`` and the problems found while reading them (message,
    position); raises ``SyntaxProblem`` when the text does not follow the grammar."""
    try:
        tree = parser().parse(source.text)
    except UnexpectedInput as error:
        message, line, column = describe_syntax_error(source, error)
        raise SyntaxProblem(message, Position(line, column)) from None
    builder = RuleBuilder(source)
    rules = builder.transform(tree)
    return rules, builder.problems


class SyntaxProblem(Exception):
    def __init__(self, message: str, at: Position):
        super().__init__(message)
        self.message = message
        self.at = at


def _at(token: Token) -> Position:
    return Position(token.line, token.column)


STRING_TOKEN = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
COMMENT_OR_STRING = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|[ \t]*#[^\n]*')


class _Clause:
    """A then / else clause on its way into its rule."""

    def __init__(self, word: str, actions: tuple):
        self.word = word
        self.actions = actions


class RuleBuilder(Transformer):
    """One method per alias of ``rules.lark``."""

    def __init__(self, source: SourceText):
        super().__init__()
        self.source = source
        self.problems: list[tuple[str, Position]] = []

    # ---- shared pieces ------------------------------------------------------------

    def text_of(self, token: Token) -> str:
        return unquote(str(token), token.start_pos)[0]

    def template(self, token: Token) -> Template:
        text, offsets = unquote(str(token), token.start_pos)
        parts, problems = split_template(text, offsets, self.source.position)
        for message, offset in problems:
            self.problems.append((message, Position(*self.source.position(offset))))
        return Template(text, parts, _at(token))

    def expr(self, tokens):
        start, end = tokens[0].start_pos, tokens[-1].end_pos
        # A comment inside a multi-line expression is dropped (with the spaces before
        # it): it runs to the end of its line, so no position after it moves.
        text = COMMENT_OR_STRING.sub(lambda m: "" if m.group().lstrip(" \t")[:1] == "#"
                                     else m.group(), self.source.text[start:end])
        return Expr(text, _at(tokens[0]), start=start)

    # ---- rules --------------------------------------------------------------------

    def start(self, rules):
        return list(rules)

    def rule(self, children):
        word, name, *rest = children
        options = {}
        trigger = condition = None
        actions, else_actions = (), ()
        for child in rest:
            if isinstance(child, tuple) and child and child[0] in ("order", "disabled"):
                if child[0] in options:
                    self.problems.append((f"'{child[0]}' is given twice for this rule",
                                          child[2]))
                options[child[0]] = child[1]
            elif isinstance(child, _Clause):
                if child.word == "then":
                    actions = child.actions
                else:
                    else_actions = child.actions
            elif isinstance(child, Expr):
                condition = child
            elif child is not None:
                trigger = child
        return Rule(name=self.text_of(name), trigger=trigger, actions=actions,
                    else_actions=else_actions, condition=condition,
                    order=options.get("order", 0), enabled="disabled" not in options,
                    at=_at(word), name_at=_at(name), filename=self.source.filename)

    def order(self, children):
        word, number = children
        return ("order", int(number), _at(word))

    def disabled(self, children):
        (word,) = children
        return ("disabled", True, _at(word))

    def condition(self, children):
        _if, expr = children
        return expr

    def then_clause(self, children):
        return _Clause("then", tuple(children[1:]))

    def else_clause(self, children):
        return _Clause("else", tuple(children[1:]))

    # ---- triggers -----------------------------------------------------------------

    def record_trigger(self, children):
        _when, form, event = children
        return RecordEvent(str(form), str(event).lower(), _at(form), _at(event))

    def field_trigger(self, children):
        _when, form, _dot, name, _changed, _to, value = children
        return FieldChanged(str(form), str(name), value, _at(form), _at(name))

    def balance_trigger(self, children):
        _when, ledger, _dot, _balance, _changed = children
        return BalanceChanged(str(ledger), _at(ledger))

    def flow_trigger(self, children):
        _when, form, _flow, event = children
        return FlowEvent(str(form), str(event).lower(), None, _at(form), _at(event))

    def node_trigger(self, children):
        _when, form, _flow, _node, node, _reached = children
        return FlowEvent(str(form), "reached", self.text_of(node), _at(form), _at(node))

    def webhook_trigger(self, children):
        _when, _webhook, name = children
        return WebhookReceived(self.text_of(name), _at(name))

    def cron_trigger(self, children):
        _every, cron = children
        return Schedule(self.text_of(cron), _at(cron))

    def interval_trigger(self, children):
        _every, number, unit = children
        word = str(unit).lower()
        return Interval(int(number), UNITS.get(word, word), _at(number), _at(unit))

    # ---- actions ------------------------------------------------------------------

    def assignment(self, children):
        name, _equal, value = children
        return Assignment(str(name), value, _at(name))

    def entry(self, children):
        name, value = children
        return Assignment(str(name), value, _at(name))

    def values(self, children):
        return tuple(child for child in children if child is not None)

    def recipients(self, children):
        return tuple(children)

    def recipient(self, children):
        kind, value = children
        if STRING_TOKEN.fullmatch(value.source):
            name = unquote(value.source, value.start)[0]
            return Recipient(str(kind).lower(), name, None, _at(kind), value.at)
        return Recipient(str(kind).lower(), None, value, _at(kind), value.at)

    def channels(self, children):
        return tuple((str(name).lower(), _at(name)) for name in children)

    def set_action(self, children):
        word, *assignments = children
        return SetFields(tuple(assignments), _at(word))

    def create_action(self, children):
        word, form, values = children
        return CreateRecord(str(form), values, _at(word), _at(form))

    def update_action(self, children):
        word, form, _where, where, _set, values = children
        return UpdateRecords(str(form), where, values, _at(word), _at(form))

    def post_action(self, children):
        word, ledger, values = children
        return PostMovement(str(ledger), values, _at(word), _at(ledger))

    def reverse_action(self, children):
        word, ledger = children
        return ReverseMovements(str(ledger), _at(word), _at(ledger))

    def start_flow_action(self, children):
        word, _flow, flow = children
        return StartFlow(self.text_of(flow), _at(word), _at(flow))

    def notify_action(self, children):
        word, recipients, _by, channels, _title, title, _body, body = children
        channels = channels or (("inapp", _at(word)),)
        return Notify(recipients, self.template(title),
                      self.template(body) if body is not None else None,
                      tuple(c for c, _ in channels), _at(word), tuple(p for _, p in channels))

    def report_action(self, children):
        word, report, _to, recipients, _by, channels = children
        channels = channels or (("email", _at(word)),)
        return SendReport(str(report), recipients, tuple(c for c, _ in channels), _at(word),
                          _at(report), tuple(p for _, p in channels))

    def call_action(self, children):
        word, _webhook, url, _payload, payload = children
        return CallWebhook(self.text_of(url), payload, _at(word), _at(url))
