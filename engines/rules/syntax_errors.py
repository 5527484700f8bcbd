"""Describing a syntax error of a rule file in words a business user can act on.

The message comes from what the parser would have accepted where it stopped
(``accepts()`` of Lark's interactive parser, exact even where LALR merges states),
read against a few tables: a missing ``then``, an unknown action or trigger word (with
the nearest known one), a missing ``)``, an expression cut short by an operator. A
table keyed by what the parser expects covers the dozens of parser states that share
one message — where Lark's ``match_examples`` would need examples for each state.
"""

from __future__ import annotations

import re

from lark import Token, UnexpectedCharacters, UnexpectedInput

from engines.expr.errors import suggestion
from engines.expr.grammar import CHARACTER_HINTS
from engines.rules.errors import SourceText, unknown
from engines.rules.lexicon import (
    ACTION_STARTS,
    EXPRESSION_TOKENS,
    EXPRESSION_WORDS,
    KEYWORDS,
    OPERAND_STARTS,
    TRIGGER_STARTS,
    WORD,
)
from engines.rules.vocabulary import ACTIONS

SHOWN = {
    "STRING": "text in quotes", "NAME": "a name", "INT": "a whole number",
    "SIGNED_INT": "a whole number", "LBRACE": "'{'", "RBRACE": "'}'", "COLON": "':'",
    "COMMA": "','", "EQUAL": "'='", "DOT": "'.'", "LPAR": "'('", "RPAR": "')'",
    "$END": "the end of the file", "START": "start flow", "CALL": "call webhook",
}
TRIGGERS_TEXT = ('when <form> created|updated|deleted|submitted, when <form>.<field> changed, '
                 'when <form> flow approved, when <ledger>.balance changed, '
                 'when webhook "<name>", every "<cron>" or every 15 minutes')
ACTIONS_TEXT = ", ".join(ACTIONS)


def _shown(terminal: str) -> str:
    return SHOWN.get(terminal, f"'{terminal.lower()}'")


def _one_of(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def describe_syntax_error(source: SourceText, error: UnexpectedInput) -> tuple[str, int, int]:
    """A message a business user can act on, and its line and column."""
    if isinstance(error, UnexpectedCharacters):
        char = source.text[error.pos_in_stream]
        if char in "\"'":
            message = f"this text has no closing {char}: end it with {char}"
        elif char in CHARACTER_HINTS and char not in "{[":
            message = CHARACTER_HINTS[char]
        else:
            message = f"'{char}' cannot be used here"
        return message, error.line, error.column
    token = error.token
    at_end = token.type == "$END"
    line, column = source.end() if at_end else (token.line, token.column)
    accepts = set(error.interactive_parser.accepts()) if getattr(
        error, "interactive_parser", None) else set(error.expected)
    offset = len(source.text) if at_end else token.start_pos
    swallowed = _swallowed_keyword(source, error)
    if swallowed is not None:
        if "RPAR" in accepts:
            return (f"a ')' is missing before '{swallowed}': every '(' needs a matching ')'",
                    swallowed.line, swallowed.column)
        return (f"the expression before '{swallowed}' is not finished: it ends with an "
                f"operator", swallowed.line, swallowed.column)
    stray = _word_starting_line(source, offset)
    if (ACTION_STARTS <= accepts or "THEN" in accepts) and stray is not None:
        # `set a = 1` then a misspelt action (or 'then') on the next line: the misspelt
        # word was read as one more value, and the parser only stumbled later.
        word, word_offset = stray
        line, column = source.position(word_offset)
        return _expectation(word, "NAME", False, accepts), line, column
    return _expectation(str(token), token.type, at_end, accepts), line, column


def _swallowed_keyword(source: SourceText, error) -> Token | None:
    """A rule keyword read as a field name because an operator came before it (`if qty >
    then ...`), found among what the parser has read; only 'then' or a keyword that
    starts its line counts — a field may well be named 'title'."""
    interactive = getattr(error, "interactive_parser", None)
    state = getattr(interactive, "parser_state", None)
    if state is None:
        return None
    tokens = []
    for value in state.value_stack:
        if isinstance(value, Token):
            tokens.append(value)
        elif hasattr(value, "scan_values"):
            tokens.extend(value.scan_values(lambda v: isinstance(v, Token)))
    for token in reversed(tokens):
        word = token.value.lower()
        if token.type != "NAME" or word not in KEYWORDS:
            continue
        line_start = source.text.rfind("\n", 0, token.start_pos) + 1
        if word == "then" or not source.text[line_start:token.start_pos].strip():
            return token
    return None


def _word_starting_line(source: SourceText, offset: int) -> tuple[str, int] | None:
    """The unknown word starting the line of ``offset`` (before it) that follows a
    value on the line above and is followed by no operator — a misspelt keyword read
    as one more value — if there is one."""
    text = source.text
    start = text.rfind("\n", 0, offset) + 1
    before = text[start:offset]
    match = WORD.match(text, start + len(before) - len(before.lstrip()))
    if match is None or match.end() > offset or start == 0:
        return None
    word = match.group()
    if word.lower() in KEYWORDS or word.lower() in EXPRESSION_WORDS:
        return None
    above = text[:start].rstrip()
    last_word = re.search(r"\w+$", above)
    after = text[match.end():offset].lstrip()
    if not above or not (above[-1].isalnum() or above[-1] in "\"')%_") or (
            last_word and last_word.group().lower() in ("and", "or", "not", "in")) or (
            after and after[0] in "=<>!&+-*/^%(.,"):
        return None
    return word, match.start()


def _join(lead: str, hint: str, instruction: str) -> str:
    if hint:
        return f"{lead}{hint} {instruction[0].upper()}{instruction[1:]}"
    return f"{lead}; {instruction}"


def _expectation(text: str, kind: str, at_end: bool, accepts: set[str]) -> str:
    lead = "the file ends too early" if at_end else f"'{text}' is not expected here"
    # A misspelt keyword is a name; a keyword out of place needs no "did you mean".
    is_word = kind == "NAME"
    keywords = [t.lower() for t in accepts if t.isupper() and t not in SHOWN
                and t not in EXPRESSION_TOKENS]
    if ACTION_STARTS <= accepts:
        if kind == "THEN":
            return "'then' is given twice: this rule's actions have already begun"
        if is_word:
            known = [*ACTIONS, *(w for w in ("else", "rule") if w in keywords)]
            return unknown("action", text, known, f"an action is one of: {ACTIONS_TEXT}")
        return f"{lead}; an action should come here ({ACTIONS_TEXT})"
    if "THEN" in accepts:
        if kind in ACTION_STARTS:
            return (f"'then' is missing before '{text}': write then before the first "
                    f"action")
        hint = suggestion(text, ["then", "if"] if "IF" in accepts else ["then"]) \
            if is_word else ""
        wanted = "'if' and a condition, or 'then' and the actions" if "IF" in accepts \
            else "'then' and the actions"
        return _join(lead, hint, f"write {wanted}")
    if TRIGGER_STARTS <= accepts:
        hint = suggestion(text, ["when", "every", *keywords]) if is_word else ""
        return _join(lead, hint, f"a rule needs a trigger here: {TRIGGERS_TEXT}")
    if accepts == {"CHANGED"}:
        hint = suggestion(text, ["changed"]) if is_word else ""
        return _join(lead, hint, "write 'changed' after the field, e.g. when orders.status "
                                 "changed")
    if accepts <= {"RULE", "$END"}:
        hint = suggestion(text, ["rule"]) if is_word else ""
        return _join(lead, hint, 'each rule starts with rule "<name>"')
    if "RPAR" in accepts and kind not in EXPRESSION_TOKENS:
        return "a ')' is missing: every '(' needs a matching ')'"
    if accepts == {"STRING"}:
        return f"{lead}; write text in quotes here, e.g. \"low stock\""
    structural = accepts - EXPRESSION_TOKENS
    if "COMMA" in accepts and "RPAR" not in accepts:
        structural.add("COMMA")  # a separator of values, not inside a function call
    if OPERAND_STARTS <= accepts and not structural:
        if at_end:
            return f"{lead}; an expression should come here, e.g. qty * 2"
        return f"a value is missing before '{text}': write an expression, e.g. qty * 2"
    wanted = sorted(_shown(t) for t in structural or accepts)
    hint = suggestion(text, keywords) if is_word and keywords else ""
    return _join(lead, hint, f"expected {_one_of(wanted)}")
