"""The words and token kinds of ``rules.lark`` that the Python side needs to know: the
keywords, which tokens make up an expression, which end an operand."""

from __future__ import annotations

import re

# Every keyword terminal of the grammar (the tests check they agree), by its word.
KEYWORDS = {name.lower(): name for name in (
    "RULE", "ORDER", "DISABLED", "WHEN", "EVERY", "CHANGED", "TO", "BALANCE", "FLOW", "NODE",
    "REACHED", "WEBHOOK", "IF", "THEN", "ELSE", "SET", "CREATE", "UPDATE", "WHERE", "POST",
    "REVERSE", "START", "NOTIFY", "BY", "TITLE", "BODY", "REPORT", "CALL", "PAYLOAD")}
# After these an expression follows (for NOTIFY: a recipient kind, then one).
EXPRESSION_OPENERS = {"IF", "TO", "WHERE", "EQUAL", "COLON", "NOTIFY"}
OPERAND_TOKENS = {"NAME", "NUMBER", "STRING", "RPAR", "PERCENT", "STRAY"}
KEYWORD_TYPES = set(KEYWORDS.values())
# The first keyword of each action and of each trigger.
ACTION_STARTS = {"SET", "CREATE", "UPDATE", "POST", "REVERSE", "START", "NOTIFY", "REPORT",
                 "CALL"}
TRIGGER_STARTS = {"WHEN", "EVERY"}
# Tokens an expression is made of (see `expr` in rules.lark).
EXPRESSION_TOKENS = {"NAME", "NUMBER", "STRING", "OPERATOR", "EQUAL", "DOT", "AND", "OR",
                     "NOT", "IN", "PERCENT", "STRAY", "LPAR", "RPAR", "COMMA"}
# Words of the expression language itself (never rule keywords, never misspelt ones).
EXPRESSION_WORDS = {"and", "or", "not", "in", "true", "false", "blank"}
OPERAND_STARTS = {"NAME", "NUMBER", "STRING", "LPAR"}
WORD = re.compile(r"[^\W\d]\w*")
