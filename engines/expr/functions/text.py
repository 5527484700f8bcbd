"""Text functions. Positions count from 1, as in a spreadsheet; counts and positions
with decimals are cut to whole numbers."""

from __future__ import annotations

import re
from decimal import Decimal

from engines.expr.errors import VALUE, fail
from engines.expr.functions import builtin
from engines.expr.functions.formats import format_value
from engines.expr.types import NUMBER, TEXT
from engines.expr.values import ONE, ZERO, integer, number, parse_number, text

LONGEST_TEXT = 1_000_000  # REPT and friends stop here rather than fill the memory


def _text(*args, **kwargs):
    return builtin("text", *args, **kwargs)


def _count(value, name: str) -> int:
    count = integer(value)
    if count < 0:
        fail(VALUE, f"{name} needs a count of 0 or more, got {count}")
    return count


def _position(value, name: str) -> int:
    position = integer(value)
    if position < 1:
        fail(VALUE, f"{name} counts positions from 1, got {position}")
    return position


@_text("CONCATENATE(text, ...)", ("text",), TEXT, "the texts joined together",
       'CONCATENATE("A-", 12) → "A-12"')
def concatenate(*values):
    return "".join(text(value) for value in values)


@_text("CONCAT(value, ...)", ("values",), TEXT,
       "the values joined together; CONCAT(lines.code) joins a subtable column",
       'CONCAT("a", "b", 1) → "ab1"')
def concat(*values):
    parts = []
    for value in values:
        if isinstance(value, list):
            parts += [text(item) for item in value]
        else:
            parts.append(text(value))
    return "".join(parts)


@_text("LEFT(text, [count])", ("text", "number"), TEXT,
       "the first count characters (1 when left out)", 'LEFT("RK-2026", 2) → "RK"')
def left(value, count=ONE):
    return text(value)[: _count(count, "LEFT")]


@_text("RIGHT(text, [count])", ("text", "number"), TEXT,
       "the last count characters (1 when left out)", 'RIGHT("RK-2026", 4) → "2026"')
def right(value, count=ONE):
    count = _count(count, "RIGHT")
    return text(value)[-count:] if count else ""


@_text("MID(text, start, count)", ("text", "number", "number"), TEXT,
       "count characters from position start", 'MID("RK-2026-001", 4, 4) → "2026"')
def mid(value, start, count):
    start = _position(start, "MID") - 1
    return text(value)[start: start + _count(count, "MID")]


@_text("LEN(text)", ("text",), NUMBER, "the number of characters", 'LEN("steel") → 5')
def len_(value):
    return Decimal(len(text(value)))


def _find(name, needle, haystack, start, search):
    needle, haystack = text(needle), text(haystack)
    start = _position(start, name)
    if not needle:
        fail(VALUE, f"{name} needs something to look for")
    if start > len(haystack):
        fail(VALUE, f"{name} starts after the end of the text")
    found = search(needle, haystack, start - 1)
    if found < 0:
        fail(VALUE, f"{name} did not find '{needle}'")
    return Decimal(found + 1)


@_text("FIND(find_text, text, [start])", ("text", "text", "number"), NUMBER,
       "the position of find_text in text, matching case; #VALUE! when absent",
       'FIND("b", "abcb", 3) → 4')
def find(needle, haystack, start=ONE):
    return _find("FIND", needle, haystack, start, lambda n, h, s: h.find(n, s))


def _wildcards(pattern: str) -> str:
    # * any characters, ? one character, ~ takes the next character literally.
    parts, escape = [], False
    for char in pattern:
        if escape:
            parts.append(re.escape(char))
            escape = False
        elif char == "~":
            escape = True
        elif char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escape:
        parts.append(re.escape("~"))
    return "".join(parts)


def _search(needle: str, haystack: str, start: int) -> int:
    match = re.compile(_wildcards(needle), re.IGNORECASE | re.DOTALL).search(haystack, start)
    return match.start() if match else -1


@_text("SEARCH(find_text, text, [start])", ("text", "text", "number"), NUMBER,
       "like FIND, ignoring case; * and ? are wildcards (~ before them finds them)",
       'SEARCH("B", "abcb") → 2')
def search(needle, haystack, start=ONE):
    return _find("SEARCH", needle, haystack, start, _search)


@_text("SUBSTITUTE(text, old_text, new_text, [instance])", ("text", "text", "text", "number"),
       TEXT, "text with old_text replaced by new_text (only the instance-th one when given)",
       'SUBSTITUTE("a-b-c", "-", "/") → "a/b/c"')
def substitute(value, old, new, instance=None):
    value, old, new = text(value), text(old), text(new)
    if instance is not None:
        nth = _position(instance, "SUBSTITUTE")
        if not old:
            return value
        at = -1
        for _ in range(nth):
            at = value.find(old, at + 1)
            if at < 0:
                return value
        return value[:at] + new + value[at + len(old):]
    return value.replace(old, new) if old else value


@_text("REPLACE(text, start, count, new_text)", ("text", "number", "number", "text"), TEXT,
       "text with count characters from position start replaced by new_text",
       'REPLACE("abcdef", 2, 3, "X") → "aXef"')
def replace(value, start, count, new):
    value = text(value)
    start = _position(start, "REPLACE") - 1
    return value[:start] + text(new) + value[start + _count(count, "REPLACE"):]


@_text("UPPER(text)", ("text",), TEXT, "the text in capitals", 'UPPER("m6 bolt") → "M6 BOLT"')
def upper(value):
    return text(value).upper()


@_text("LOWER(text)", ("text",), TEXT, "the text in small letters",
       'LOWER("M6 Bolt") → "m6 bolt"')
def lower(value):
    return text(value).lower()


@_text("PROPER(text)", ("text",), TEXT,
       "each word with a capital first letter and small letters after it",
       'PROPER("steel PIPE") → "Steel Pipe"')
def proper(value):
    out, after_letter = [], False
    for char in text(value):
        out.append(char.lower() if after_letter else char.upper())
        after_letter = char.isalpha()
    return "".join(out)


@_text("TRIM(text)", ("text",), TEXT,
       "the text without leading and trailing spaces, with single spaces between words",
       'TRIM("  M6   bolt ") → "M6 bolt"')
def trim(value):
    return " ".join(part for part in text(value).split(" ") if part)


@_text("TEXT(value, format)", ("scalar", "text"), TEXT,
       'the value shown with a format such as "0.00", "#,##0", "0%" or "yyyy-mm-dd"',
       'TEXT(1234.5, "#,##0.00") → "1,234.50"')
def text_(value, fmt):
    return format_value(value, text(fmt))


@_text("VALUE(text)", ("scalar",), NUMBER,
       'the number written in a text ("1,234.5", "12%", "(12)"); #VALUE! when it is none',
       'VALUE("1,234.5") → 1234.5')
def value_(value):
    if value.__class__ is str:
        word = value.strip().upper()
        if word in ("TRUE", "FALSE"):
            return ONE if word == "TRUE" else ZERO
        parsed = parse_number(value)
        if parsed is None:
            fail(VALUE, f"'{value}' is not a number")
        return parsed
    return number(value)


@_text("REPT(text, count)", ("text", "number"), TEXT, "the text repeated count times",
       'REPT("*", 3) → "***"')
def rept(value, count):
    value, count = text(value), _count(count, "REPT")
    if len(value) * count > LONGEST_TEXT:
        fail(VALUE, f"REPT would make a text longer than {LONGEST_TEXT:,} characters")
    return value * count


@_text("EXACT(text1, text2)", ("text", "text"), "boolean",
       "TRUE when the texts are the same, matching case (= ignores case)",
       'EXACT("abc", "ABC") → FALSE')
def exact(first, second):
    return text(first) == text(second)
