"""Five-field cron schedules (``"0 8 1 * *"``: minute, hour, day of month, month, day
of week), checked when the rule is read, and turned into the fields of
APScheduler's ``CronTrigger`` for the runtime's scheduler.

Day of week follows crontab: 0 and 7 are Sunday. A schedule names a day of month or
a day of week, not both: crontab would fire when *either* matches, which surprises
people and which APScheduler does not do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # spelled values, the first meaning `low`


FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, tuple(MONTHS)),
    CronField("day of week", 0, 7, tuple(DAYS)),
)
EXAMPLE = '"0 8 1 * *" (08:00 on the 1st of every month)'
ITEM = re.compile(r"^(?:(\*)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/([0-9]+))?$")


def _value(text: str, spec: CronField) -> int | str:
    """The number ``text`` names in ``spec``, or a message."""
    if text.isdigit():
        value = int(text)
        if spec.low <= value <= spec.high:
            return value
        return (f"the {spec.name} goes from {spec.low} to {spec.high}, "
                f"so {value} is out of range")
    lowered = text.lower()
    if lowered in spec.names:
        return spec.low + spec.names.index(lowered)
    names = f" or a name ({', '.join(n.upper() for n in spec.names)})" if spec.names else ""
    return f"'{text}' is not a valid {spec.name}: use a number from {spec.low} to " \
           f"{spec.high}{names}"


def _values(field: str, spec: CronField) -> set[int] | tuple[str, int]:
    """The values ``field`` selects, or (message, index in the field) for a problem."""
    selected: set[int] = set()
    index = 0
    for item in field.split(","):
        match = ITEM.match(item)
        if not match:
            return (f"'{item}' is not a valid {spec.name}: write *, a number, a range "
                    f"like 1-5, a list like 1,15 or a step like */10"), index
        star, first, last, step = match.groups()
        if star:
            low, high = spec.low, spec.high
        else:
            low = _value(first, spec)
            if isinstance(low, str):
                return low, index
            high = low
            if last is not None:
                high = _value(last, spec)
                if isinstance(high, str):
                    return high, index + len(first) + 1
                if high < low:
                    return f"the range {item} runs backwards: write the smaller value first", \
                        index
            elif step is not None:
                high = spec.high
        if step is not None and int(step) == 0:
            return f"a step of 0 in '{item}' never moves on: use /1 or more", index
        selected.update(range(low, high + 1, int(step or 1)))
        index += len(item) + 1
    return selected


def cron_problems(cron: str) -> list[tuple[str, int]]:
    """The problems of a schedule as (message, index in ``cron``); empty when it is valid."""
    fields = [(m.group(), m.start()) for m in re.finditer(r"\S+", cron)]
    if len(fields) != len(FIELDS):
        return [(f"a schedule has 5 fields — minute hour day-of-month month day-of-week — "
                 f"but this one has {len(fields)}; e.g. {EXAMPLE}", 0)]
    problems = []
    for (field, index), spec in zip(fields, FIELDS, strict=True):
        result = _values(field, spec)
        if isinstance(result, tuple):
            problems.append((result[0], index + result[1]))
    if not problems and fields[2][0] != "*" and fields[4][0] != "*":
        problems.append(("give a day of month or a day of week, not both (write * for one "
                         "of them); use two rules to run on both", fields[4][1]))
    return problems


def cron_fields(cron: str) -> dict[str, str]:
    """Keyword arguments for ``apscheduler.triggers.cron.CronTrigger`` that mean the
    same as ``cron`` (a valid schedule): each field is ``*`` or the explicit list of
    values it selects, and days of week are spelled (mon, tue ...) because
    APScheduler counts them from Monday where crontab counts from Sunday."""
    names = ("minute", "hour", "day", "month", "day_of_week")
    fields = {}
    for name, text, spec in zip(names, cron.split(), FIELDS, strict=True):
        if text == "*":
            fields[name] = "*"
        elif name == "day_of_week":
            days = sorted({d % 7 for d in _values(text, spec)}, key=lambda d: (d + 6) % 7)
            fields[name] = ",".join(DAYS[d] for d in days)
        else:
            fields[name] = ",".join(str(v) for v in sorted(_values(text, spec)))
    return fields
