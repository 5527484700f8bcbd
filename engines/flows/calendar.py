"""Due times of tasks: plain hours, or working hours of the plant's calendar."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MAX_DAYS = 3660  # a time limit never runs longer than ten years of calendar


@dataclass(frozen=True)
class WorkCalendar:
    """When people work: ``periods`` are (start, end) minutes after midnight on a
    working day (default 09:00-12:00 and 13:00-18:00), ``weekdays`` the working days
    (Monday = 0), ``holidays`` dates off and ``workdays`` extra working dates (a
    Saturday made a working day in exchange for a holiday)."""

    periods: tuple[tuple[int, int], ...] = ((9 * 60, 12 * 60), (13 * 60, 18 * 60))
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    def working(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment ``hours`` working hours after ``start``."""
        left = dt.timedelta(hours=hours)
        day = start.date()
        for _ in range(MAX_DAYS):
            if self.working(day):
                midnight = dt.datetime.combine(day, dt.time(), tzinfo=start.tzinfo)
                for begin, end in self.periods:
                    begin_at = max(midnight + dt.timedelta(minutes=begin), start)
                    end_at = midnight + dt.timedelta(minutes=end)
                    if begin_at >= end_at:
                        continue
                    if begin_at + left <= end_at:
                        return begin_at + left
                    left -= end_at - begin_at
            day += dt.timedelta(days=1)
        raise ValueError("the work calendar has no working hours in the next ten years; "
                         "give it working weekdays and periods")


def due_at(start: dt.datetime, time_limit: dict | None, calendar: WorkCalendar) -> str | None:
    """The ISO due time of a task created at ``start`` under a node's ``time_limit``."""
    if not time_limit:
        return None
    hours = time_limit["hours"]
    if time_limit.get("working_hours"):
        return calendar.add_hours(start, hours).isoformat()
    return (start + dt.timedelta(hours=hours)).isoformat()
