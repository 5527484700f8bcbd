"""The plant's calendar: "today" for autonumbers and, later, defaults and schedules.

Dates are the plant's local dates (``LOOM_TIMEZONE``, e.g. ``Asia/Shanghai``; the
server's own zone when unset), not UTC: a receipt entered at 07:00 in Shanghai belongs
to that day, not to yesterday.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def plant_zone():
    name = os.environ.get("LOOM_TIMEZONE")
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"LOOM_TIMEZONE={name!r} is not a time zone; use a name such as "
                         "Asia/Shanghai") from None


def now() -> dt.datetime:
    """The plant's wall-clock time (naive, in the plant's zone)."""
    return dt.datetime.now(plant_zone()).replace(tzinfo=None, microsecond=0)


def today() -> dt.date:
    return now().date()
