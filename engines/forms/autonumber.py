"""Autonumber patterns: ``RK-{yyyyMMdd}-{seq:4}`` -> ``RK-20261121-0001``.

A pattern holds literal text, date parts and exactly one ``{seq}`` (``{seq:N}`` pads to N
digits). The finest date part in the pattern is the sequence's period: a pattern with
``{dd}`` restarts at 1 every day, with ``{MM}`` every month, with ``{yy}`` or ``{yyyy}``
every year, and never without date parts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\{([^{}]*)\}")
_DATE_PARTS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d"}
_DATE_TOKEN = re.compile(r"^(yyyy|yy|MM|dd)+$")
_PERIODS = (("dd", "%Y%m%d"), ("MM", "%Y%m"), ("yy", "%Y"))


class PatternError(ValueError):
    pass


@dataclass(frozen=True)
class Pattern:
    source: str
    period_format: str | None  # strftime of the period key, None: one sequence forever

    def period(self, day: dt.date) -> str:
        return day.strftime(self.period_format) if self.period_format else ""

    def format(self, day: dt.date, seq: int) -> str:
        def token(match: re.Match) -> str:
            name = match.group(1)
            if name == "seq" or name.startswith("seq:"):
                width = int(name[4:]) if ":" in name else 0
                return str(seq).zfill(width)
            for part, code in sorted(_DATE_PARTS.items(), key=lambda kv: -len(kv[0])):
                name = name.replace(part, day.strftime(code))
            return name

        return _TOKEN.sub(token, self.source)


def parse_pattern(source: str) -> Pattern:
    """Check a pattern; ``PatternError`` says what is wrong with it."""
    tokens = _TOKEN.findall(source)
    seqs = [t for t in tokens if t == "seq" or t.startswith("seq:")]
    if len(seqs) != 1:
        raise PatternError("an autonumber pattern needs exactly one {seq} (or {seq:4} for "
                           "four digits), e.g. RK-{yyyyMMdd}-{seq:4}")
    width = seqs[0][4:]
    if seqs[0] != "seq" and (not width.isdigit() or not 1 <= int(width) <= 12):
        raise PatternError(f"{{{seqs[0]}}}: the digits after 'seq:' must be 1 to 12")
    dates = [t for t in tokens if t not in seqs]
    for token in dates:
        if not _DATE_TOKEN.match(token):
            raise PatternError(f"unknown part {{{token}}}; use {{yyyy}}, {{yy}}, {{MM}}, "
                               "{dd} (also combined, e.g. {yyyyMMdd}) and {seq:N}")
    if "{" in _TOKEN.sub("", source) or "}" in _TOKEN.sub("", source):
        raise PatternError("unbalanced { or } in the pattern")
    joined = "".join(dates)
    period = next((fmt for part, fmt in _PERIODS if part in joined), None)
    return Pattern(source, period)
