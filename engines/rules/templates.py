"""Quoted text in a rule file: undoing the doubled quotes, and splitting a message
template into literal text and ``{expression}`` placeholders — keeping, for every
character, its offset in the file, so a problem inside a placeholder is reported at
its own line and column."""

from __future__ import annotations

from engines.rules.model import Expr, Position


def unquote(raw: str, start: int) -> tuple[str, tuple[int, ...]]:
    """The text of the quoted ``raw`` (a STRING token at offset ``start``) and the
    file offset of each of its characters."""
    quote = raw[0]
    chars, offsets = [], []
    i, end = 1, len(raw) - 1
    while i < end:
        chars.append(raw[i])
        offsets.append(start + i)
        i += 2 if raw[i] == quote and raw[i + 1:i + 2] == quote else 1
    return "".join(chars), tuple(offsets)


def quote(text: str) -> str:
    """``text`` as a quoted string of the DSL: double quotes, unless the text has
    double quotes and no single ones."""
    if '"' in text and "'" not in text:
        return "'" + text + "'"
    return '"' + text.replace('"', '""') + '"'


def _closing_brace(text: str, i: int) -> int | None:
    """The index of the '}' closing a placeholder whose text starts at ``i``, skipping
    quoted text inside it (an expression has no braces of its own)."""
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            i += 1
            while i < n:
                if text[i] == ch:
                    if text[i + 1:i + 2] == ch:
                        i += 2
                        continue
                    break
                i += 1
        elif ch == "}":
            return i
        i += 1
    return None


def split_template(text: str, offsets: tuple[int, ...], position) -> tuple[
        tuple[str | Expr, ...], list[tuple[str, int]]]:
    """``text`` as literal parts and placeholders, and its problems as (message,
    file offset). ``position(offset)`` gives (line, column) for an offset."""
    parts: list[str | Expr] = []
    problems: list[tuple[str, int]] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "{}" and text[i + 1:i + 2] == ch:
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            problems.append(("a '}' without a '{' before it: write }} for a '}' in the text",
                             offsets[i]))
            i += 1
            continue
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        close = _closing_brace(text, i + 1)
        if close is None:
            problems.append(("this '{' has no closing '}': end the placeholder with '}', "
                             "or write {{ for a '{' in the text", offsets[i]))
            break
        inner = text[i + 1:close]
        if not inner.strip():
            problems.append(("an empty placeholder: write an expression between the braces, "
                             "e.g. {qty}", offsets[i]))
        else:
            if literal:
                parts.append("".join(literal))
                literal = []
            inner_offsets = offsets[i + 1:close]
            parts.append(Expr(inner, Position(*position(inner_offsets[0])),
                              start=inner_offsets[0], offsets=inner_offsets))
        i = close + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts), problems
