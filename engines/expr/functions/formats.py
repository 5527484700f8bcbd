"""Number and date format codes for TEXT(value, format), as LibreOffice reads the
common ones (English month and day names):

numbers  ``0`` a digit always shown, ``#`` a digit shown when needed, ``.`` the
         decimal point, ``,`` between digits groups thousands, ``%`` multiplies by
         100; text in quotes and other characters are copied (``"$"#,##0.00``,
         ``0.0 "kg"``). Up to three sections: ``positive;negative;zero``.
dates    ``yyyy yy m mm mmm mmmm d dd ddd dddd h hh m mm (minutes, after h or before
         s) ss AM/PM``; other characters are copied (``yyyy年m月d日``).
``General`` (or an empty format) shows the value as it would be shown as text;
``@`` shows text as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

from engines.expr.values import WIDE, exact, from_serial, number, parse_number, text

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_TOKEN = re.compile(r'"[^"]*"|\\.|yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|a/p|.',
                    re.IGNORECASE | re.DOTALL)
_DATE_CODE = re.compile(r"[ymdhs]", re.IGNORECASE)
_DATE_FORMAT = re.compile(r"[ymdh]", re.IGNORECASE)  # a lone s is a letter, not seconds


def _sections(fmt: str) -> list[str]:
    sections, current, quoted = [], [], False
    for char in fmt:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            sections.append("".join(current))
            current = []
        else:
            current.append(char)
    sections.append("".join(current))
    return sections


def _unquoted(section: str) -> str:
    return re.sub(r'"[^"]*"|\\.', "", section)


def format_value(value, fmt: str) -> str:
    sections = _sections(fmt)
    if value is None:  # blank formats as 0, as in a spreadsheet
        value = Decimal(0)
    if value.__class__ is str:
        parsed = parse_number(value)
        if parsed is None:
            return sections[3].replace("@", value) if len(sections) > 3 else value
        value = parsed
    if fmt.strip().lower() in ("", "general", "@"):
        return text(value)
    if _DATE_FORMAT.search(_unquoted(sections[0])):
        moment = value if isinstance(value, dt.date) else from_serial(exact(number(value)))
        return format_date(moment, sections[0])
    amount = exact(number(value))
    if amount < 0 and len(sections) > 1:
        return format_number(-amount, sections[1])
    if not amount and len(sections) > 2:
        return format_number(amount, sections[2])
    return format_number(amount, sections[0])


def format_number(amount: Decimal, section: str) -> str:
    tokens = _TOKEN.findall(section)
    placeholders = [i for i, t in enumerate(tokens) if t in ("0", "#", "?")]
    if not placeholders:
        return _literal("".join(tokens))
    first, last = placeholders[0], placeholders[-1]
    body = tokens[first: last + 1]
    prefix, suffix = "".join(tokens[:first]), "".join(tokens[last + 1:])
    scale = (prefix + suffix).count("%") * 2
    if "." in body:
        point = body.index(".")
        whole, decimals = body[:point], body[point + 1:]
    else:
        whole, decimals = body, []
    grouping = "," in whole
    whole = [t for t in whole if t in ("0", "#", "?")]
    decimals = [t for t in decimals if t in ("0", "#", "?")]
    scaled = amount.scaleb(scale)
    rounded = abs(scaled).quantize(Decimal(1).scaleb(-len(decimals)), rounding=ROUND_HALF_UP,
                                   context=WIDE)
    digits = format(rounded, "f")
    integer_part, _, fraction = digits.partition(".")
    integer_part = integer_part.lstrip("0")
    integer_part = integer_part.rjust(whole.count("0"), "0")
    if grouping:
        integer_part = f"{int(integer_part or 0):,}" if integer_part else ""
        if not integer_part and whole.count("0"):
            integer_part = "0"
    required = decimals.count("0")
    fraction = fraction[:len(decimals)]
    while len(fraction) > required and fraction.endswith("0"):
        fraction = fraction[:-1]
    number_text = integer_part + ("." + fraction if fraction else "")
    sign = "-" if scaled < 0 and rounded else ""
    return sign + _literal(prefix) + number_text + _literal(suffix)


def _literal(part: str) -> str:
    return re.sub(r'"([^"]*)"|\\(.)', lambda m: m.group(1) or m.group(2) or "", part)


def format_date(moment: dt.date, section: str) -> str:
    tokens = _TOKEN.findall(section)
    codes = [t.lower() for t in tokens]
    twelve_hour = any(c in ("am/pm", "a/p") for c in codes)
    hour = moment.hour if isinstance(moment, dt.datetime) else 0
    minute = moment.minute if isinstance(moment, dt.datetime) else 0
    second = moment.second if isinstance(moment, dt.datetime) else 0
    shown = []
    for index, (token, code) in enumerate(zip(tokens, codes, strict=True)):
        if code in ("m", "mm") and _is_minute(codes, index):
            shown.append(f"{minute:02d}" if code == "mm" else str(minute))
        elif code == "yyyy":
            shown.append(f"{moment.year:04d}")
        elif code == "yy":
            shown.append(f"{moment.year % 100:02d}")
        elif code == "mmmm":
            shown.append(MONTHS[moment.month - 1])
        elif code == "mmm":
            shown.append(MONTHS[moment.month - 1][:3])
        elif code == "mm":
            shown.append(f"{moment.month:02d}")
        elif code == "m":
            shown.append(str(moment.month))
        elif code == "dddd":
            shown.append(DAYS[moment.weekday()])
        elif code == "ddd":
            shown.append(DAYS[moment.weekday()][:3])
        elif code == "dd":
            shown.append(f"{moment.day:02d}")
        elif code == "d":
            shown.append(str(moment.day))
        elif code in ("hh", "h"):
            value = (hour % 12 or 12) if twelve_hour else hour
            shown.append(f"{value:02d}" if code == "hh" else str(value))
        elif code in ("ss", "s"):
            shown.append(f"{second:02d}" if code == "ss" else str(second))
        elif code in ("am/pm", "a/p"):
            marker = "AM" if hour < 12 else "PM"
            shown.append(marker if code == "am/pm" else marker[0])
        else:
            shown.append(_literal(token))
    return "".join(shown)


def _is_minute(codes: list[str], index: int) -> bool:
    # m means minutes right after an hour or right before seconds.
    for code in reversed(codes[:index]):
        if _DATE_CODE.fullmatch(code[0]) and code not in ("am/pm", "a/p"):
            if code[0] == "h":
                return True
            break
    for code in codes[index + 1:]:
        if _DATE_CODE.fullmatch(code[0]) and code not in ("am/pm", "a/p"):
            return code[0] == "s"
    return False
